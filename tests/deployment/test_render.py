"""render: the deployment manifest has the structure IoT Edge expects, and bad templates are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployment.__main__ import main
from deployment.errors import EXIT_USAGE
from deployment.manifest_check import ROUTE, SINK, SOURCE
from tests.deployment.conftest import write_bundle

TEMPLATE = Path(__file__).resolve().parents[2] / "deployment" / "deployment.template.json"


def _render(tmp_path, *extra) -> dict:
    out = tmp_path / "deployment.json"
    assert main(["render", "--out", str(out), *extra]) == 0
    return json.loads(out.read_text())


def _variant(tmp_path, change) -> Path:
    doc = json.loads(TEMPLATE.read_text())
    change(doc["modulesContent"])
    path = tmp_path / "template.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_manifest_has_the_structure_iot_edge_expects(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CONTAINER_REGISTRY_USERNAME", raising=False)
    bundle = write_bundle(tmp_path / "b", "2", b"model " * 50)
    doc = _render(tmp_path, "--registry", "myacr.azurecr.io", "--tag", "7-arm32v7",
                  "--desired", str(bundle / "desired.json"))
    assert set(doc) == {"modulesContent"}  # $schema-template is the tooling's, not the hub's
    content = doc["modulesContent"]
    agent, hub = content["$edgeAgent"]["properties.desired"], content["$edgeHub"]["properties.desired"]
    assert agent["schemaVersion"] == "1.1" and agent["runtime"]["type"] == "docker"
    assert set(agent["systemModules"]) == {"edgeAgent", "edgeHub"}
    module = agent["modules"]["edgemodelagent"]
    assert module["settings"]["image"] == "myacr.azurecr.io/edgemodelagent:7-arm32v7"
    assert module["status"] == "running" and module["restartPolicy"] == "always"
    for spec in [*agent["systemModules"].values(), *agent["modules"].values()]:
        options = spec["settings"]["createOptions"]
        assert isinstance(options, str) and len(options) <= 512 and isinstance(json.loads(options), dict)
    options = json.loads(module["settings"]["createOptions"])
    assert options["HostConfig"]["Binds"] and "8080/tcp" in options["ExposedPorts"]
    assert hub["schemaVersion"] == "1.1" and hub["storeAndForwardConfiguration"]["timeToLiveSecs"] > 0
    for route in hub["routes"].values():
        match = ROUTE.match(route)
        assert match and SOURCE.match(match["source"]) and SINK.match(match["sink"])
    desired = content["edgemodelagent"]["properties.desired"]
    assert desired["model"]["version"] == "2" and desired["model"]["inline"]["chunks"]["0"]
    assert "url" not in desired["model"]  # the bundler's nulls are not deployment content
    assert set(desired) >= {"scoring", "upstream", "model"}
    assert agent["runtime"]["settings"]["registryCredentials"] == {}
    assert "$CONTAINER_REGISTRY" not in json.dumps(doc) and "${MODULES" not in json.dumps(doc)
    out = capsys.readouterr().out
    assert "registry credentials 'myregistry' left out" in out and "az iot edge set-modules" in out


def test_registry_credentials_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTAINER_REGISTRY_USERNAME", "puller")
    monkeypatch.setenv("CONTAINER_REGISTRY_PASSWORD", "s3cret")
    monkeypatch.setenv("CONTAINER_REGISTRY_ADDRESS", "myacr.azurecr.io")
    doc = _render(tmp_path)
    creds = doc["modulesContent"]["$edgeAgent"]["properties.desired"]["runtime"]["settings"]["registryCredentials"]
    assert creds == {"myregistry": {"username": "puller", "password": "s3cret", "address": "myacr.azurecr.io"}}
    image = doc["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["edgemodelagent"]["settings"]["image"]
    assert image == "localhost:5000/edgemodelagent:0.1.0-amd64"  # module.json's repository and version


def test_long_create_options_are_split_into_512_character_parts(tmp_path):
    def long_options(content):
        spec = content["$edgeAgent"]["properties.desired"]["modules"]["edgemodelagent"]["settings"]
        spec["createOptions"] = {"HostConfig": {"Binds": [f"/var/lib/m{i}:/data{i}" for i in range(40)]}}
    doc = _render(tmp_path, "--template", str(_variant(tmp_path, long_options)))
    settings = doc["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["edgemodelagent"]["settings"]
    parts = [settings[k] for k in ("createOptions", "createOptions01", "createOptions02") if k in settings]
    assert len(parts) >= 2 and all(len(p) <= 512 for p in parts[:-1]) and len(parts[0]) == 512
    assert len(json.loads("".join(parts))["HostConfig"]["Binds"]) == 40


def _bad_route(content):
    content["$edgeHub"]["properties.desired"]["routes"]["broken"] = "FROM /messages/modules/x/outputs/y TO $upstream"


def _unknown_sink(content):
    content["$edgeHub"]["properties.desired"]["routes"]["r"] = \
        'FROM /messages/* INTO BrokeredEndpoint("/modules/nosuch/inputs/in")'


def _bad_options(content):
    content["$edgeAgent"]["properties.desired"]["modules"]["edgemodelagent"]["settings"]["createOptions"] = "{not json"


def _big_desired(content):
    content["edgemodelagent"]["properties.desired"]["filler"] = {str(i): "z" * 4000 for i in range(9)}


def _array_desired(content):
    content["edgemodelagent"]["properties.desired"]["scoring"]["features"] = ["machine.temperature"]


def _no_edge_hub(content):
    del content["$edgeHub"]


@pytest.mark.parametrize("change, words", [
    (_bad_route, "routes.broken: not FROM <source> [WHERE <condition>] INTO <sink>"),
    (_unknown_sink, "sink module 'nosuch' is not in the deployment"),
    (_bad_options, "createOptions is not a JSON object"),
    (_big_desired, "over 32,768"),
    (_array_desired, "twins allow no arrays"),
    (_no_edge_hub, "needs $edgeAgent and $edgeHub"),
])
def test_a_bad_template_is_refused_with_the_reason(tmp_path, capsys, change, words):
    out = tmp_path / "deployment.json"
    assert main(["render", "--template", str(_variant(tmp_path, change)), "--out", str(out)]) == EXIT_USAGE
    assert words in capsys.readouterr().err and not out.exists()


def test_a_public_key_that_is_not_ed25519_is_refused(tmp_path, capsys):
    (tmp_path / "k.pem").write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    assert main(["render", "--public-key", str(tmp_path / "k.pem"), "--out", str(tmp_path / "d.json")]) == EXIT_USAGE
    assert "not a readable PEM public key" in capsys.readouterr().err

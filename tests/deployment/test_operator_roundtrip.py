"""The operator's path end to end, checked by the agent's own code: keygen, bundle --sign-key, render
--public-key (the key as the device gets it), then the agent's section parser, inline fetch, verify,
restricted load and canary. Corrupted payloads and signatures are caught; the inline budget is exact."""

from __future__ import annotations

import base64
import json
import pickle

import pytest
import zstandard
from sklearn.ensemble import IsolationForest

from deployment import bundling
from deployment.__main__ import main
from module import settings as agent_settings
from module.errors import UpdateError
from module.models import nab
from module.updates import candidate, section as agent_section
from module.updates.fetch import fetch_inline
from module.updates.section import INLINE_BUDGET


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    _, values = nab.load_series()
    estimator = IsolationForest(n_estimators=5, max_samples=64, random_state=0).fit(nab.to_features(values)[:400])
    path = tmp_path_factory.mktemp("model") / "model.pkl"
    path.write_bytes(pickle.dumps(estimator))
    return path


@pytest.fixture
def signed(tmp_path, model_file, capsys):
    """(bundle dir, the public key value the rendered manifest gives the module)."""
    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    assert main(["bundle", str(model_file), "--version", "5", "--sign-key", str(tmp_path / "keys/private.pem"),
                 "--out", str(tmp_path / "bundle")]) == 0
    out = tmp_path / "deployment.json"
    assert main(["render", "--public-key", str(tmp_path / "keys/public.pem"), "--out", str(out)]) == 0
    capsys.readouterr()
    env = json.loads(out.read_text())["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"][
        "edgemodelagent"]["env"]
    return tmp_path / "bundle", env["AGENT_UPDATES_PUBLIC_KEY"]["value"]


def _agent_takes(section: dict, public_key: str, work) -> object:
    """What the agent does with a desired model section, with the key from its environment."""
    config = agent_settings.load(environ={"AGENT_UPDATES_PUBLIC_KEY": public_key})
    parsed = agent_section.parse(section, config.updates.max_model_bytes)
    path = work / "model.pkl"
    fetch_inline(parsed, path)
    return candidate.load(path, parsed.manifest(), config, "twin")


def _section(bundle) -> dict:
    return json.loads((bundle / "desired.json").read_text())["model"]


def test_bundle_sign_render_and_the_agent_verifies_and_loads_it(signed, tmp_path):
    bundle, public_key = signed
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["signature"] and len(manifest["canary"]["inputs"]) == bundling.CANARY_ROWS
    model = _agent_takes(_section(bundle), public_key, tmp_path)
    assert model.version == "5" and model.sha256 == manifest["sha256"]


def test_a_corrupted_payload_is_caught_by_the_agent(signed, tmp_path):
    bundle, public_key = signed
    section = _section(bundle)
    original = (bundle / "model.pkl").read_bytes()
    tampered = original[:-1] + bytes([original[-1] ^ 1])  # same size, one bit off
    text = base64.b64encode(zstandard.ZstdCompressor().compress(tampered)).decode()
    section["inline"]["chunks"] = {str(i): text[o:o + 4096] for i, o in enumerate(range(0, len(text), 4096))}
    with pytest.raises(UpdateError, match="sha256 mismatch"):
        _agent_takes(section, public_key, tmp_path)


def _wrong_signature(section):
    section["signature"] = "A" * 86 + "=="


def _grown(section):
    section["size"] += 1  # the signed (version, format, sha256, size) no longer matches


def _unsigned(section):
    section["signature"] = None


@pytest.mark.parametrize("tamper, words", [
    (_wrong_signature, "signature does not match"),
    (_grown, "signature does not match"),
    (_unsigned, "a signature is required"),
])
def test_a_bad_or_missing_signature_is_refused_before_loading(signed, tmp_path, tamper, words):
    bundle, public_key = signed
    section = _section(bundle)
    tamper(section)
    with pytest.raises(UpdateError, match=words):
        _agent_takes(section, public_key, tmp_path)


def test_another_key_pair_does_not_verify(signed, tmp_path, capsys):
    bundle, _ = signed
    assert main(["keygen", "--out", str(tmp_path / "other")]) == 0
    assert main(["render", "--public-key", str(tmp_path / "other/public.pem"), "--out", str(tmp_path / "d.json")]) == 0
    doc = json.loads((tmp_path / "d.json").read_text())
    other = doc["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["edgemodelagent"]["env"]
    with pytest.raises(UpdateError, match="signature does not match"):
        _agent_takes(_section(bundle), other["AGENT_UPDATES_PUBLIC_KEY"]["value"], tmp_path)


def _manifest_for(payload: bytes) -> dict:
    return {"version": "9", "format": "pickle", "sha256": "0" * 64, "size": len(payload), "file": "model.pkl"}


def test_the_inline_budget_at_exactly_the_limit_and_one_byte_over():
    at_limit = b"\x00" * (INLINE_BUDGET // 4 * 3)  # base64: exactly INLINE_BUDGET characters
    over = at_limit + b"\x00"  # one payload byte more
    assert INLINE_BUDGET == 24576 and len(base64.b64encode(at_limit)) == INLINE_BUDGET
    assert bundling.fits_inline(at_limit) and not bundling.fits_inline(over)
    section, inline = bundling.desired_section(_manifest_for(at_limit), at_limit)
    assert inline and section["url"] is None and len(section["inline"]["chunks"]) == 6
    section, inline = bundling.desired_section(_manifest_for(over), over)
    assert not inline and section["inline"] is None and section["url"] == bundling.URL_PLACEHOLDER.format(version="9")


def test_a_model_at_the_budget_publishes_with_the_other_sections_under_32kb(iothub, tmp_path, capsys):
    payload = bytes(range(256)) * (INLINE_BUDGET // 4 * 3 // 256)
    assert len(base64.b64encode(payload)) == INLINE_BUDGET
    manifest = _manifest_for(payload)
    section, inline = bundling.desired_section(manifest, payload)
    assert inline
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "desired.json").write_text(json.dumps({"model": section}))
    (tmp_path / "scoring.json").write_text(json.dumps({"threshold": -0.6, "features": {str(i): f
                                                        for i, f in enumerate(agent_settings.DEFAULT_FEATURES)}}))
    (tmp_path / "upstream.json").write_text(json.dumps({"mode": "anomalies", "summary_every_s": 300}))
    iothub.state.add_device("d1", {}, ("edgemodelagent",))
    assert main(["publish", "--device", "d1", "--bundle", str(bundle), "--scoring", str(tmp_path / "scoring.json"),
                 "--upstream", str(tmp_path / "upstream.json")]) == 0
    desired = iothub.state.modules[("d1", "edgemodelagent")]["properties"]["desired"]
    size = len(json.dumps({k: v for k, v in desired.items() if k != "$version"}, separators=(",", ":")))
    assert 24576 < size <= 32768 and desired["model"]["inline"]["chunks"]["5"]
    assert f"desired now {size:,} of 32,768 B" in capsys.readouterr().out

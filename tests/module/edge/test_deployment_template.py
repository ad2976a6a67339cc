"""deployment/deployment.template.json: the shape IoT Edge tooling and edgeAgent expect, and settings that load."""

from __future__ import annotations

import json
from pathlib import Path

from module.settings import Settings

TEMPLATE = Path(__file__).resolve().parents[3] / "deployment" / "deployment.template.json"


def content() -> dict:
    return json.loads(TEMPLATE.read_text())["modulesContent"]


def test_system_modules_are_1_4():
    system = content()["$edgeAgent"]["properties.desired"]["systemModules"]
    assert system["edgeAgent"]["settings"]["image"] == "mcr.microsoft.com/azureiotedge-agent:1.4"
    assert system["edgeHub"]["settings"]["image"] == "mcr.microsoft.com/azureiotedge-hub:1.4"


def test_agent_module_binds_the_data_dir_and_exposes_http():
    module = content()["$edgeAgent"]["properties.desired"]["modules"]["edgemodelagent"]
    assert module["settings"]["image"] == "${MODULES.edgemodelagent}"
    options = json.loads(module["settings"]["createOptions"])  # a JSON string, as edgeAgent wants it
    [bind] = options["HostConfig"]["Binds"]
    assert bind.split(":")[1] == "/app/data"
    assert "8080/tcp" in options["ExposedPorts"]
    assert "PortBindings" not in options["HostConfig"]  # other modules reach it on the module network
    env = {k: v["value"] for k, v in module["env"].items()}
    assert env["AGENT_AGENT_DATA_DIR"] == "/app/data"


def test_routes_feed_the_agent_and_send_upstream():
    routes = content()["$edgeHub"]["properties.desired"]["routes"].values()
    assert any(
        "/modules/SimulatedTemperatureSensor/outputs/temperatureOutput" in r
        and '"/modules/edgemodelagent/inputs/telemetry"' in r
        for r in routes
    )
    assert any("/modules/edgemodelagent/outputs/upstream" in r and r.endswith("INTO $upstream") for r in routes)


def test_sensor_is_deployed():
    modules = content()["$edgeAgent"]["properties.desired"]["modules"]
    image = modules["SimulatedTemperatureSensor"]["settings"]["image"]
    assert image == "mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.4"


def test_initial_desired_properties_are_valid_live_sections():
    desired = content()["edgemodelagent"]["properties.desired"]
    assert set(desired) == {"scoring", "upstream"}
    settings = Settings().with_sections(desired)
    assert settings.upstream.mode == "anomalies"
    assert len(settings.scoring.features) == 4

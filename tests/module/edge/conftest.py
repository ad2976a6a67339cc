"""Fixtures: a broker of the test's own (own loopback address, port 8883), the edgeHub stand-in, the agent."""

from __future__ import annotations

import pytest

from tests.helpers.edgehub_standin import EdgeHubStandin
from tests.helpers.mosquitto import Mosquitto

from .harness import AgentProcess

#: Desired properties a freshly deployed module gets (as in deployment/deployment.template.json).
INITIAL_DESIRED = {"upstream": {"mode": "anomalies", "summary_every_s": 300}}
#: These tests send single readings and expect point-wise answers (21 degrees is an anomaly to the NAB
#: forest); the windowed default's own edge path is tested in test_default_model.py.
POINT_WISE = {"AGENT_AGENT_DEFAULT_MODEL": "nab-forest"}


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def hub(broker):
    with EdgeHubStandin(broker, desired=INITIAL_DESIRED) as h:
        yield h


@pytest.fixture
def start_agent(hub, tmp_path):
    """start_agent(env=...) -> a running AgentProcess, connected; stopped at the end of the test."""
    started: list[AgentProcess] = []

    def start(env: dict[str, str] | None = None, connected: bool = True) -> AgentProcess:
        agent = AgentProcess(hub, tmp_path / f"data{len(started)}", {**POINT_WISE, **(env or {})}).start()
        started.append(agent)
        if connected:
            agent.wait_connected()
        return agent

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def agent(start_agent):
    return start_agent()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """(hub, agent) shared by a module's tests that only add inputs and read their own outputs back
    by correlation id: one agent start (~5 s) instead of one per test."""
    folder = tmp_path_factory.mktemp("shared-edge")
    with Mosquitto(folder / "broker") as broker, EdgeHubStandin(broker, desired=INITIAL_DESIRED) as hub:
        with AgentProcess(hub, folder / "data", POINT_WISE) as agent:
            agent.wait_connected()
            yield hub, agent

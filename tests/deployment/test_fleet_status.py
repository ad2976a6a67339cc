"""module_states against the IoT Hub stand-in: the rows it builds, and the plan it picks so that a large
wave costs a few pages of one query instead of one `IN [...]` query per 100 devices (IoT Hub throttles
queries per call)."""

from __future__ import annotations

import os

import pytest

from deployment.fleet_status import ACTIVE, PENDING, module_states
from deployment.hub import Hub, parse_connection_string
from tests.deployment.conftest import MODULE

FLEET = 2_500


@pytest.fixture
def hub(iothub):
    for n in range(FLEET):
        iothub.state.add_device(f"truck-{n:04}", {"fleet": "trucks"}, (MODULE,))
    iothub.state.add_device("car-0", {"fleet": "cars"}, (MODULE,))
    iothub.state.add_device("truck-bare", {"fleet": "trucks"}, ())  # no module twin yet
    for n in range(0, FLEET, 2):
        iothub.state.set_reported(f"truck-{n:04}", MODULE, {"model": {"version": "2", "status": "active"}})
    return iothub


def _queries(iothub) -> list[str]:
    return [r.json()["query"] for r in iothub.requests_to("POST", "/devices/query")]


def _wave(first: int, last: int) -> dict[str, int]:
    return {f"truck-{n:04}": 3 for n in range(first, last)} | {"truck-bare": 3}


def test_a_large_wave_is_read_in_pages_of_one_query_over_the_module(hub):
    client = Hub(parse_connection_string(os.environ["IOTHUB_CONNECTION_STRING"]))
    members = _wave(100, FLEET)
    states = module_states(client, MODULE, members, "2", population=FLEET + 1)
    queries = _queries(hub)
    assert len(queries) == 3  # 2,501 module twins in pages of 1,000, not 25 IN [...] queries
    assert all("IN [" not in q for q in queries)
    assert [s.device for s in states] == sorted(members)  # only the wave's devices, car-0 left out
    by = {s.device: s for s in states}
    assert by["truck-0100"].outcome == ACTIVE and by["truck-0101"].outcome == PENDING
    assert by["truck-bare"].status == "no module twin"


def test_a_small_wave_in_a_large_fleet_names_its_devices(hub):
    client = Hub(parse_connection_string(os.environ["IOTHUB_CONNECTION_STRING"]))
    states = module_states(client, MODULE, _wave(0, 150), "2", population=FLEET + 1)
    queries = _queries(hub)
    assert len(queries) == 2 and all("deviceId IN [" in q for q in queries)
    assert sum(s.outcome == ACTIVE for s in states) == 75

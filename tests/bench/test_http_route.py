"""`python -m bench.http_route`: the agent's POST /score and the web stack ceiling's, as WSGI calls."""

from __future__ import annotations

import pytest

from bench import http_route


@pytest.mark.parametrize("model", ["nab-forest", "simulated-sensor"])
def test_every_subject_is_measured_and_printed(model, capsys):
    assert http_route.main(["--requests", "50", "--rounds", "1", "--model", model]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == f"model {model}, in-process WSGI calls, medians"
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1] for line in table[3:]}
    assert set(rows) == {"ceiling", "agent", "agent, constant scorer", "scorer in the route",
                         "the same scorer in a loop"}
    assert all(float(v) > 0 for v in rows.values())


def test_a_route_that_does_not_answer_200_stops_the_measurement():
    agent, app = http_route.agent_app("nab-forest")
    with pytest.raises(RuntimeError, match="answered 400"):
        http_route.caller(app, b"{not json")

"""publish --fleet: layered deployments (configuration PUT bodies as the real SDK sends them) and gated waves."""

from __future__ import annotations

import json

import pytest

from deployment.__main__ import main
from deployment.errors import EXIT_DEVICES_FAILED, EXIT_HUB, EXIT_TIMEOUT, EXIT_USAGE
from tests.deployment.conftest import MODULE, active_simulator, published, write_bundle

FLEET = "tags.fleet='trucks'"


@pytest.fixture
def hub(iothub):
    for n in range(20):
        iothub.state.add_device(f"truck-{n:02}", {"fleet": "trucks"}, (MODULE,))
    for n in range(3):
        iothub.state.add_device(f"car-{n}", {"fleet": "cars"}, (MODULE,))
    return iothub


def _fleet(bundle, *extra):
    return main(["publish", "--fleet", FLEET, "--name", "model-2", "--priority", "20", "--bundle", str(bundle),
                 "--poll", "0.05", *extra])


def _waves(hub):
    return {d: ((t.get("tags") or {}).get("rollout") or {}).get("model_2", {}).get("wave")
            for d, t in hub.state.devices.items()}


def test_one_layered_deployment_for_the_whole_fleet(hub, bundle):
    assert _fleet(bundle) == 0
    [put] = hub.requests_to("PUT", "/configurations/")
    body = put.json()
    section = published(bundle)
    assert put.path == "/configurations/model-2" and "if-match" not in put.headers
    padded = json.loads((bundle / "desired.json").read_text())["model"]  # nulls kept: merge-safe content
    assert body["content"] == {"modulesContent": {MODULE: {"properties.desired.model": padded}}}
    assert body["targetCondition"] == FLEET and body["priority"] == 20
    assert body["labels"] == {"rollout": "model-2", "model-version": "2", "wave": "0"}
    assert "properties.reported.model.status = 'active'" in body["metrics"]["queries"]["active"]
    # the stand-in applies it as the hub does: trucks get the model, cars do not
    assert hub.state.modules[("truck-07", MODULE)]["properties"]["desired"]["model"] == section
    assert "model" not in hub.state.modules[("car-0", MODULE)]["properties"]["desired"]


def test_a_configuration_create_whose_answer_is_lost_is_adopted_when_its_labels_are_ours(hub, bundle, capsys):
    hub.lose_answer("PUT", "/configurations/")  # created, answer lost, urllib3 re-sends: the hub says 409
    assert _fleet(bundle) == 0
    assert [r.status for r in hub.requests_to("PUT", "/configurations/")] == [-1, 409]
    assert "created deployment model-2" in capsys.readouterr().out
    assert hub.state.configurations["model-2"]["labels"]["model-version"] == "2"


def test_a_conflict_with_someone_elses_configuration_of_that_name_is_an_error(hub, bundle, capsys):
    hub.on_request = lambda method, path: method == "PUT" and hub.state.configurations.setdefault(
        "model-2", {"id": "model-2", "labels": {"rollout": "other"}, "etag": "x"})
    assert _fleet(bundle) == EXIT_HUB
    assert "configuration model-2: configuration model-2 already exists (409 Conflict)" in capsys.readouterr().err


def test_a_fleet_deployment_clears_a_url_left_by_a_direct_publish(hub, bundle, tmp_path):
    big = write_bundle(tmp_path / "b1", "1", b"one" * 100, inline=False)
    assert main(["publish", "--device", "truck-03", "--bundle", str(big), "--url", "https://h/m.zst"]) == 0
    assert _fleet(bundle) == 0
    model = hub.state.modules[("truck-03", MODULE)]["properties"]["desired"]["model"]
    assert model["version"] == "2" and model["inline"] and "url" not in model


def test_waves_tag_a_growing_share_and_create_one_deployment_each(hub, bundle, capsys):
    hub.state.on_desired = active_simulator()
    assert _fleet(bundle, "--waves", "1,10,100", "--wait", "--timeout", "30") == 0
    waves = _waves(hub)
    assert [waves[f"car-{n}"] for n in range(3)] == [None] * 3
    trucks = [waves[f"truck-{n:02}"] for n in range(20)]
    assert (trucks.count(1), trucks.count(2), trucks.count(3)) == (1, 1, 18)  # ceil(1%), ceil(10%) of 20, rest
    puts = hub.requests_to("PUT", "/configurations/")
    assert [p.path for p in puts] == [f"/configurations/model-2-w{k}" for k in (1, 2, 3)]
    assert [p.json()["targetCondition"] for p in puts] == [
        f"({FLEET}) AND tags.rollout.model_2.wave = {k}" for k in (1, 2, 3)]
    tag_patches = [r.json() for r in hub.requests_to("PATCH", "/twins/") if "/modules/" not in r.path]
    assert len(tag_patches) == 20 and tag_patches[0] == {"tags": {"rollout": {"model_2": {"wave": 1}}}}
    out = capsys.readouterr().out
    assert "wave 1: 1/1 active (100%), 0 failed; gate 95%" in out
    assert "wave 2: 1/1 active (100%)" in out


def test_the_gate_refuses_the_next_wave_when_the_success_rate_is_too_low(hub, bundle, capsys):
    hub.state.on_desired = active_simulator(fail={f"truck-{n:02}" for n in range(20)})
    assert _fleet(bundle, "--waves", "1,10,100", "--wait", "--timeout", "30") == EXIT_DEVICES_FAILED
    assert [p.path for p in hub.requests_to("PUT", "/configurations/")] == ["/configurations/model-2-w1"]
    assert sorted(w for w in _waves(hub).values() if w) == [1]  # nobody else was tagged
    out = capsys.readouterr().out
    assert "gate refused: wave 1 cannot reach 95%; wave 2 was NOT started" in out
    assert "canary outside tolerance" in out


def test_without_wait_a_pending_wave_holds_the_next_and_a_rerun_resumes(hub, bundle, capsys):
    assert _fleet(bundle, "--waves", "5,100") == 0  # nobody reports: wave 2 must wait
    assert [p.path for p in hub.requests_to("PUT", "/configurations/")] == ["/configurations/model-2-w1"]
    assert "wave 2 waits for wave 1 to reach the gate" in capsys.readouterr().out
    [first] = [d for d, w in _waves(hub).items() if w == 1]
    hub.state.set_reported(first, MODULE, {"model": {"version": "2", "status": "active"}})
    assert _fleet(bundle, "--waves", "5,100") == 0
    assert [p.path for p in hub.requests_to("PUT", "/configurations/")][-1] == "/configurations/model-2-w2"
    assert sum(1 for w in _waves(hub).values() if w == 2) == 19
    assert "wave 1: model-2-w1 exists" in capsys.readouterr().out


def test_wait_times_out_with_exit_4_when_a_wave_never_reports(hub, bundle):
    assert _fleet(bundle, "--waves", "5,100", "--wait", "--timeout", "0.3") == EXIT_TIMEOUT
    assert len(hub.requests_to("PUT", "/configurations/")) == 1


def test_a_new_version_under_an_existing_name_is_refused(hub, bundle, tmp_path, capsys):
    assert _fleet(bundle) == 0
    newer = write_bundle(tmp_path / "b3", "3", b"three" * 10)
    assert _fleet(newer) == EXIT_USAGE
    assert "already exists for model version 2" in capsys.readouterr().err
    assert len(hub.requests_to("PUT")) == 1


@pytest.mark.parametrize("extra, words", [
    (["--waves", "10,50"], "ending at 100"),
    (["--gate", "1.5"], "between 0 and 1"),
    (["--name", "Model_2"], "lowercase"),
])
def test_bad_rollout_arguments(hub, bundle, capsys, extra, words):
    assert _fleet(bundle, *extra) == EXIT_USAGE
    assert words in capsys.readouterr().err and hub.requests == []


def test_a_fleet_that_matches_no_device(hub, bundle, capsys):
    assert main(["publish", "--fleet", "tags.fleet='boats'", "--name", "x", "--waves", "50,100",
                 "--bundle", str(bundle)]) == EXIT_USAGE
    assert "no device matches" in capsys.readouterr().err


def test_a_rerun_tags_devices_that_joined_the_fleet_to_keep_each_wave_at_its_share(hub, bundle, capsys):
    hub.state.on_desired = active_simulator()
    assert _fleet(bundle, "--waves", "50,100", "--wait", "--timeout", "30") == 0
    hub.state.add_device("truck-new", {"fleet": "trucks"}, (MODULE,))
    assert _fleet(bundle, "--waves", "50,100") == 0
    assert _waves(hub)["truck-new"] == 1  # 21 trucks: wave 1 is now ceil(50% x 21) = 11 devices
    assert hub.state.modules[("truck-new", MODULE)]["properties"]["desired"]["model"]["version"] == "2"
    assert len(hub.requests_to("PUT", "/configurations/")) == 2  # nothing created twice
    assert "wave 1: model-2-w1 exists; 1 new devices tagged" in capsys.readouterr().out

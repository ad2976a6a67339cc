"""publish --fleet with waves tagged by IoT Hub jobs (scheduleUpdateTwin) against the stand-in's job
engine: the job requests as the real SDK sends them, a throttled hub (429 + Retry-After), re-runs that
create no duplicate work, and failed jobs that stop the rollout with a clear error."""

from __future__ import annotations

import pytest

from deployment.__main__ import main
from deployment.errors import EXIT_HUB, EXIT_TIMEOUT
from tests.deployment.conftest import MODULE, active_simulator

FLEET = "tags.fleet='trucks'"
TRUCKS = 300


@pytest.fixture
def hub(iothub):
    for n in range(TRUCKS):
        iothub.state.add_device(f"truck-{n:03}", {"fleet": "trucks"}, (MODULE,))
    for n in range(3):
        iothub.state.add_device(f"car-{n}", {"fleet": "cars"}, (MODULE,))
    iothub.state.on_desired = active_simulator()
    return iothub


def _fleet(bundle, *extra):
    return main(["publish", "--fleet", FLEET, "--name", "model-2", "--bundle", str(bundle), "--poll", "0.05",
                 "--timeout", "60", *extra])


def _waves(hub):
    return {d: ((t.get("tags") or {}).get("rollout") or {}).get("model_2", {}).get("wave")
            for d, t in hub.state.devices.items()}


def _tag_patches(hub):
    return [r for r in hub.requests_to("PATCH", "/twins/") if "/modules/" not in r.path]


def _job_puts(hub):
    return [r for r in hub.requests_to("PUT", "/jobs/v2/") if r.status == 200]


def test_waves_are_tagged_by_jobs_with_no_twin_update_per_device(hub, bundle, capsys):
    assert _fleet(bundle, "--waves", "1,10,100", "--tag-with", "jobs", "--wait") == 0
    waves = _waves(hub)
    trucks = [waves[f"truck-{n:03}"] for n in range(TRUCKS)]
    assert (trucks.count(1), trucks.count(2), trucks.count(3)) == (3, 27, 270)
    assert [waves[f"car-{n}"] for n in range(3)] == [None] * 3
    assert _tag_patches(hub) == []
    puts = _job_puts(hub)
    assert len(puts) == 3
    first, last = puts[0].json(), puts[-1].json()
    assert first["type"] == "scheduleUpdateTwin" and first["jobId"] == puts[0].path.rsplit("/", 1)[1]
    assert first["updateTwin"] == {"tags": {"rollout": {"model_2": {"wave": 1}}}, "etag": "*"}
    assert first["queryCondition"].startswith("deviceId IN ['truck-")
    assert first["queryCondition"].endswith("AND NOT is_defined(tags.rollout.model_2.wave)")
    # the last wave takes the rest: one condition over the fleet, not a list of 270 ids
    assert last["queryCondition"] == f"({FLEET}) AND NOT is_defined(tags.rollout.model_2.wave)"
    assert all(job["status"] == "completed" for job in hub.state.jobs.jobs.values())
    assert hub.state.modules[("truck-299", MODULE)]["properties"]["reported"]["model"]["version"] == "2"
    assert "job model-2-w3-" in capsys.readouterr().err  # progress on stderr


def test_auto_uses_twin_updates_for_small_waves_and_a_job_for_the_big_one(hub, bundle):
    assert _fleet(bundle, "--waves", "1,10,100", "--wait") == 0
    assert len(_tag_patches(hub)) == 3 + 27  # up to 50 devices a wave: one update each
    [job] = _job_puts(hub)
    assert "/model-2-w3-" in job.path
    assert sorted(w for w in _waves(hub).values() if w) == [1] * 3 + [2] * 27 + [3] * 270


def test_a_long_first_wave_is_split_into_jobs_whose_conditions_stay_short(hub, bundle):
    assert _fleet(bundle, "--waves", "90,100", "--tag-with", "jobs") == 0
    conditions = [p.json()["queryCondition"] for p in _job_puts(hub)]
    assert len(conditions) >= 2 and all(len(c) <= 4000 for c in conditions)
    assert sum(1 for w in _waves(hub).values() if w == 1) == 270


@pytest.mark.parametrize("tag_with, rate", [("jobs", 5), ("twins", 40)])
def test_a_throttled_hub_still_completes_and_every_retry_waits_its_retry_after(hub, bundle, tag_with, rate, capsys):
    # Every operation class: `rate` a second; the bucket holds one second's worth (the 1 s Retry-After
    # refills it), so the twin loop runs at about the rate instead of a burst a second.
    hub.throttle.limit("*", rate=rate, burst=rate)
    assert _fleet(bundle, "--waves", "10,100", "--tag-with", tag_with, "--wait") == 0
    assert sorted(w for w in _waves(hub).values() if w) == [1] * 30 + [2] * 270
    assert hub.state.modules[("truck-123", MODULE)]["properties"]["reported"]["model"]["status"] == "active"
    throttled = [n for n, r in enumerate(hub.requests) if r.status == 429]
    assert throttled, "the throttle never engaged: the test proves nothing"
    for n in throttled:  # calls are sequential: the next request is the retry
        wait = int(hub.requests[n].response_headers["Retry-After"])
        assert hub.requests[n + 1].at - hub.requests[n].at >= wait
    assert "hub throttling (429)" in capsys.readouterr().err


def test_a_rerun_of_the_same_waves_creates_no_job_and_tags_nothing(hub, bundle, capsys):
    assert _fleet(bundle, "--waves", "10,100", "--tag-with", "jobs", "--wait") == 0
    jobs, requests = len(_job_puts(hub)), len(hub.requests)
    assert _fleet(bundle, "--waves", "10,100", "--tag-with", "jobs", "--wait") == 0
    again = hub.requests[requests:]
    assert [r for r in again if r.method in ("PUT", "PATCH")] == []
    assert len(_job_puts(hub)) == jobs == 2
    assert "wave 2: model-2-w2 exists" in capsys.readouterr().out


def test_a_rerun_waits_for_the_job_an_interrupted_run_left_running_instead_of_starting_another(hub, bundle, capsys):
    hub.state.jobs.device_rate = 150  # 300 devices: about 2 s
    assert _fleet(bundle, "--waves", "100", "--tag-with", "jobs", "--timeout", "0.3") == EXIT_TIMEOUT
    assert "still running" in capsys.readouterr().err and hub.requests_to("PUT", "/configurations/") == []
    assert _fleet(bundle, "--waves", "100", "--tag-with", "jobs") == 0
    assert len(_job_puts(hub)) == 1  # the earlier job finished the work; none created again
    assert "from an earlier run is running: waiting for it" in capsys.readouterr().out
    assert sorted(w for w in _waves(hub).values() if w) == [1] * TRUCKS
    assert [p.path for p in hub.requests_to("PUT", "/configurations/")] == ["/configurations/model-2-w1"]


def test_a_failed_job_stops_the_rollout_with_a_clear_error_and_a_rerun_resumes(hub, bundle, capsys):
    hub.state.jobs.fail_job("model-2-w2-", 40, "simulated: registry partition unavailable")
    assert _fleet(bundle, "--waves", "10,100", "--tag-with", "jobs", "--wait") == EXIT_HUB
    err = capsys.readouterr().err
    assert "error: wave 2: tagging job model-2-w2-" in err and "failed: simulated: registry partition unavailable" in err
    assert "40 of 270 devices tagged" in err and "deployment was NOT created" in err
    assert [p.path for p in hub.requests_to("PUT", "/configurations/")] == ["/configurations/model-2-w1"]
    assert _fleet(bundle, "--waves", "10,100", "--tag-with", "jobs", "--wait") == 0
    assert sorted(w for w in _waves(hub).values() if w) == [1] * 30 + [2] * 270
    assert hub.requests_to("PUT", "/configurations/")[-1].path == "/configurations/model-2-w2"


def test_devices_a_job_could_not_update_fail_the_wave(hub, bundle, capsys):
    hub.state.jobs.failing_devices = {"truck-007", "truck-008"}
    assert _fleet(bundle, "--waves", "100", "--tag-with", "jobs") == EXIT_HUB
    err = capsys.readouterr().err
    assert "completed: no reason given; 298 of 300 devices tagged, 2 failed" in err
    assert hub.requests_to("PUT", "/configurations/") == []


def test_a_job_create_whose_answer_is_lost_is_adopted_not_refused_as_a_conflict(hub, bundle, capsys):
    # The hub creates the job, the answer never arrives, urllib3 re-sends the PUT and the hub says 409:
    # the job id comes from the job's content, so the existing job is this very work (CI saw this).
    hub.lose_answer("PUT", "/jobs/v2/")
    assert _fleet(bundle, "--waves", "10,100", "--tag-with", "jobs", "--wait") == 0
    puts = hub.requests_to("PUT", "/jobs/v2/")
    assert [r.status for r in puts] == [-1, 409, 200], "the lost answer, its re-send, the next wave"
    assert "already exists: waiting for it" in capsys.readouterr().out
    assert sorted(w for w in _waves(hub).values() if w) == [1] * 30 + [2] * 270
    assert len(hub.state.jobs.jobs) == 2


def test_a_conflict_on_a_job_the_hub_cannot_show_is_still_an_error(hub, bundle, capsys):
    hub.fail(409, "PUT", "/jobs/v2/", message="a job with that id exists")
    assert _fleet(bundle, "--waves", "100", "--tag-with", "jobs") == EXIT_HUB
    assert "already exists (409 Conflict)" in capsys.readouterr().err
    assert hub.requests_to("PUT", "/configurations/") == []

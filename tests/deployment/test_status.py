"""status reads what modules report back through the real SDK: tables, exit codes, --wait."""

from __future__ import annotations

import pytest

from deployment.__main__ import main
from deployment.errors import EXIT_DEVICES_FAILED, EXIT_HUB, EXIT_TIMEOUT, EXIT_USAGE
from tests.deployment.conftest import MODULE, active_simulator


@pytest.fixture
def hub(iothub):
    for n in (1, 2):
        iothub.state.add_device(f"truck-{n}", {"fleet": "trucks"}, (MODULE, "sensor"))
    return iothub


def _desire(hub, device, version):
    hub.state.patch_twin(hub.state.modules[(device, MODULE)], {"properties": {"desired": {"model": {"version": version}}}})


def test_status_reads_the_reported_model_back(hub, capsys):
    _desire(hub, "truck-1", "2")
    hub.state.set_reported("truck-1", MODULE, {"model": {"version": "2", "status": "active", "bytes_fetched": 611}})
    assert main(["status", "--device", "truck-1", "--module", MODULE]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["DEVICE", "MODULE", "DESIRED", "REPORTED", "STATUS", "BYTES", "RESULT", "ERROR"]
    assert out[2].split() == ["truck-1", MODULE, "2", "2", "active", "611", "active", "-"]
    assert "1/1 active, 0 failed, 0 pending" in out[3]
    assert [r.path for r in hub.requests] == [f"/twins/truck-1/modules/{MODULE}"]


def test_a_failed_device_shows_its_error_and_exits_1(hub, capsys):
    _desire(hub, "truck-1", "3")
    hub.state.set_reported("truck-1", MODULE, {"model": {"version": "2", "status": "failed",
                                                         "error": "sha256 mismatch"}})
    assert main(["status", "--device", "truck-1"]) == EXIT_DEVICES_FAILED
    out = capsys.readouterr().out
    assert "sha256 mismatch" in out and "failed" in out
    assert hub.requests_to("POST", "/devices/query")[0].json()["query"].startswith(
        "SELECT * FROM devices.modules WHERE deviceId = 'truck-1'")
    assert "sensor" not in out  # only modules with a model section


def test_wait_polls_until_the_device_reports_the_desired_version(hub, capsys):
    _desire(hub, "truck-1", "2")
    polls = []

    def report_on_third_poll(method, path):
        polls.append(path)
        if len(polls) == 3:
            hub.state.set_reported("truck-1", MODULE, {"model": {"version": "2", "status": "active"}})
    hub.on_request = report_on_third_poll
    assert main(["status", "--device", "truck-1", "--module", MODULE, "--wait", "--poll", "0.05"]) == 0
    assert len(polls) >= 3
    captured = capsys.readouterr()
    assert "0/1 active, 0 failed, 1 pending" in captured.err  # the progress line while waiting
    assert "1/1 active" in captured.out


def test_wait_gives_up_at_the_timeout_with_exit_4(hub, capsys):
    _desire(hub, "truck-1", "2")
    assert main(["status", "--device", "truck-1", "--module", MODULE, "--wait",
                 "--timeout", "0.2", "--poll", "0.05"]) == EXIT_TIMEOUT
    assert "0/1 active, 0 failed, 1 pending" in capsys.readouterr().out


def test_deployment_status_lists_every_targeted_device(hub, bundle, capsys):
    hub.state.on_desired = active_simulator(fail={"truck-2"})
    assert main(["publish", "--fleet", "tags.fleet='trucks'", "--name", "m2", "--bundle", str(bundle)]) == 0
    capsys.readouterr()
    assert main(["status", "--deployment", "m2"]) == EXIT_DEVICES_FAILED
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[:7] == ["truck-1", MODULE, "2", "2", "active", "600", "active"]
    assert lines[3].split()[:5] == ["truck-2", MODULE, "2", "1", "failed"]
    assert "canary outside tolerance" in lines[3]


def test_unknown_deployment_and_hub_errors(hub, capsys):
    assert main(["status", "--deployment", "nope"]) == EXIT_USAGE
    assert "no deployment named nope" in capsys.readouterr().err
    hub.fail(429, "GET", times=2, retry_after="1")
    assert main(["status", "--device", "truck-1", "--module", MODULE, "--throttle-wait", "1.5"]) == EXIT_HUB
    assert "429 Too Many Requests" in capsys.readouterr().err

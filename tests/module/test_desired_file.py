"""--desired FILE: its `scoring` section applies live and is reported; a bad section or file changes nothing."""

from __future__ import annotations

import json
import time

import pytest
import requests

from module.desired_file import DesiredFile
from module.settings import DEFAULT_FEATURES
from tests.helpers.local_agent import in_process
from tests.helpers.waiting import wait_for

MSG = {"machine": {"temperature": 88.1, "pressure": 9.1}, "ambient": {"temperature": 20.9, "humidity": 25}}
RENAMED = {"m": {"t": 88.1, "p": 9.1}, "a": {"t": 20.9, "h": 25}}


def score(agent, body):
    return requests.post(agent.url + "/score", json=body, timeout=10)


@pytest.fixture
def desired(tmp_path):
    return tmp_path / "desired.yaml"


@pytest.fixture
def agent(tmp_path, desired):
    desired.write_text("{}\n")
    # scoring.features serves point-wise models: the NAB forest, not the windowed default (its own spec).
    with in_process(tmp_path, agent={"desired_file": desired, "desired_poll_s": 0.05, "default_model": "nab-forest"}) as agent:
        yield agent


def test_scoring_section_applies_live_and_is_reported(agent, desired):
    default_threshold = score(agent, MSG).json()["threshold"]
    desired.write_text(
        "scoring:\n  threshold: -0.3\n  features:\n    '0': m.t\n    '1': m.p\n    '2': a.t\n    '3': a.h\n"
    )
    wait_for(lambda: agent.reported.snapshot("scoring").get("threshold") == -0.3, "the file to be applied")
    reported = agent.reported.snapshot("scoring")
    assert reported["status"] == "applied" and "error" not in reported  # error: null deletes it
    assert reported["features"] == {"0": "m.t", "1": "m.p", "2": "a.t", "3": "a.h"}
    assert isinstance(reported["desired_version"], int)
    result = score(agent, RENAMED).json()
    assert result["threshold"] == -0.3 and result["anomaly"] == (result["score"] < -0.3)
    assert score(agent, MSG).json()["field"] == "m.t"  # the old paths no longer apply

    # Deleting the key (a twin sends null) returns to the model's own cut-off; the section to defaults.
    desired.write_text("scoring:\n  threshold: null\n  features: null\n")
    wait_for(lambda: "threshold" not in agent.reported.snapshot("scoring"), "threshold to be cleared")
    assert score(agent, MSG).json()["threshold"] == default_threshold
    assert agent.service.settings.features == DEFAULT_FEATURES


@pytest.mark.parametrize(
    "section, words",
    [
        ("scoring:\n  threshold: high\n", ["scoring.threshold", "high"]),
        ("scoring:\n  features: {'0': a, '1': b}\n", ["2 features", "expects 4"]),  # the model's width
        ("scoring:\n  features: {'0': a, '5': b}\n", ["scoring.features", "0..n-1"]),
        ("scoring:\n  max_batch: 0\n", ["scoring.max_batch"]),
        ("scoring:\n  tresh: 1\n", ["scoring.tresh", "unknown setting"]),
        ("scoring: 12\n", ["scoring", "expected an object"]),
    ],
)
def test_a_bad_section_is_refused_reported_and_changes_nothing(agent, desired, section, words):
    desired.write_text("scoring:\n  threshold: -0.45\n")
    wait_for(lambda: agent.reported.snapshot("scoring").get("threshold") == -0.45, "the good section")
    desired.write_text(section)
    wait_for(lambda: agent.reported.snapshot("scoring").get("status") == "refused", "the refusal")
    reported = agent.reported.snapshot("scoring")
    for word in words:
        assert word in reported["error"]
    assert agent.service.settings.threshold == -0.45 and agent.settings.scoring.threshold == -0.45
    result = score(agent, MSG).json()
    assert result["threshold"] == -0.45 and "score" in result  # the old settings keep serving


@pytest.mark.parametrize(
    "text, words",
    [
        ("scoring: [\n", ["not valid YAML/JSON"]),
        ('{"scoring": {"threshold": 1,}', ["not valid YAML/JSON"]),
        ("- scoring\n", ["expected an object"]),
    ],
)
def test_an_unparsable_file_is_reported_and_changes_nothing(agent, desired, text, words):
    desired.write_text('{"scoring": {"threshold": -0.5}}')  # JSON works as well as YAML
    wait_for(lambda: agent.reported.snapshot("scoring").get("threshold") == -0.5, "the good file")
    desired.write_text(text)
    wait_for(lambda: "error" in agent.reported.snapshot("desired"), "the error report")
    for word in words:
        assert word in agent.reported.snapshot("desired")["error"]
    assert score(agent, MSG).json()["threshold"] == -0.5
    desired.write_text("scoring:\n  threshold: -0.55\n")  # a good file again clears the report
    wait_for(lambda: agent.reported.snapshot("scoring").get("threshold") == -0.55, "the fixed file")
    assert "error" not in agent.reported.snapshot("desired")


class Recorder:
    def __init__(self, fail=False):
        self.docs, self.errors, self.fail = [], [], fail

    def desired(self, doc, whole):
        assert whole, "each version of the file is a whole document"
        self.docs.append(doc)
        if self.fail:
            raise RuntimeError("handler bug")

    def error(self, message):
        self.errors.append(message)


def test_watcher_hands_over_changes_once_with_a_growing_version(tmp_path):
    path, rec = tmp_path / "d.json", Recorder()
    watcher = DesiredFile(path, rec.desired, rec.error, poll_s=60)
    watcher.check()  # no file yet: nothing to do, nothing to report
    assert rec.docs == [] and rec.errors == []
    path.write_text(json.dumps({"scoring": {"threshold": 1}}))
    watcher.check()
    watcher.check()  # unchanged bytes are not handed over again
    path.write_text(json.dumps({"scoring": {"threshold": 2}, "$version": 40}))
    watcher.check()
    assert [d["$version"] for d in rec.docs] == [1, 40]
    assert rec.docs[0]["scoring"] == {"threshold": 1}
    path.write_text("{")
    watcher.check()
    watcher.check()
    assert len(rec.errors) == 1  # reported once, not every poll


def test_watcher_survives_a_failing_handler(tmp_path):
    path, rec = tmp_path / "d.yaml", Recorder(fail=True)
    path.write_text("scoring: {}\n")
    watcher = DesiredFile(path, rec.desired, rec.error, poll_s=0.02)
    watcher.start()
    try:
        wait_for(lambda: rec.errors, "the handler's failure to be reported")
        assert "handler bug" in rec.errors[0]
        rec.fail = False
        path.write_text("scoring: {threshold: 1}\n")
        wait_for(lambda: len(rec.docs) == 2, "the next change")
        assert rec.errors[-1] is None  # the good read cleared the error
    finally:
        watcher.stop()


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def test_a_5000_deep_document_is_reported_and_the_watcher_keeps_watching(tmp_path):
    path, rec = tmp_path / "d.yaml", Recorder()
    path.write_text("scoring:\n  threshold: 1\n")
    watcher = DesiredFile(path, rec.desired, rec.error, poll_s=0.02)
    watcher.start()
    try:
        wait_for(lambda: len(rec.docs) == 1, "the first document")
        path.write_text("[" * 5000 + "]" * 5000)  # once a RecursionError that killed the watcher thread
        wait_for(lambda: rec.errors, "the deep document to be reported")
        assert "nested deeper than 32 levels" in rec.errors[0]
        path.write_text("scoring:\n  threshold: 2\n")
        wait_for(lambda: len(rec.docs) == 2, "the next good change")
        assert rec.docs[1]["scoring"] == {"threshold": 2} and rec.errors[-1] is None
    finally:
        watcher.stop()


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    assert len(ALIAS_BOMB) < 700  # 9**9 (387 million) list items once expanded
    path, rec = tmp_path / "d.yaml", Recorder()
    path.write_text(ALIAS_BOMB)
    started = time.monotonic()
    DesiredFile(path, rec.desired, rec.error).check()
    assert time.monotonic() - started < 1.0
    assert rec.docs == [] and "anchors (&a) are not allowed" in rec.errors[0]


def test_an_alias_bomb_in_the_agents_file_changes_nothing(agent, desired):
    desired.write_text("scoring:\n  threshold: -0.45\n")
    wait_for(lambda: agent.reported.snapshot("scoring").get("threshold") == -0.45, "the good file")
    desired.write_text(ALIAS_BOMB)
    wait_for(lambda: "error" in agent.reported.snapshot("desired"), "the refusal")
    assert "not allowed" in agent.reported.snapshot("desired")["error"]
    assert score(agent, MSG).json()["threshold"] == -0.45


@pytest.mark.parametrize("text, words", [
    ("x: *nothing\n", ["aliases (*nothing) are not allowed"]),
    ("x: &a 1\n", ["anchors (&a) are not allowed"]),
    ("x: " + "{y: " * 40 + "1" + "}" * 40 + "\n", ["nested deeper than 32"]),
    ("x: !!python/object:os.system {}\n", ["not valid YAML/JSON"]),
])
def test_what_the_desired_file_may_not_hold(tmp_path, text, words):
    path, rec = tmp_path / "d.yaml", Recorder()
    path.write_text(text)
    DesiredFile(path, rec.desired, rec.error).check()
    assert rec.docs == []
    for word in words:
        assert word in rec.errors[0]


def test_a_desired_file_over_a_mebibyte_is_refused_unread(tmp_path):
    path, rec = tmp_path / "d.json", Recorder()
    path.write_text(json.dumps({"scoring": {"threshold": 1}, "pad": "x" * (1 << 20)}))
    DesiredFile(path, rec.desired, rec.error).check()
    assert rec.docs == [] and "over 1048576" in rec.errors[0]


def test_a_file_caught_while_being_written_is_applied_only_once_whole(tmp_path, monkeypatch):
    """The watcher reads the file twice; when the bytes moved in between (a writer mid-way), nothing
    is applied until a later read sees them settled."""
    import module.desired_file as desired_file

    path, rec = tmp_path / "d.yaml", Recorder()
    path.write_text("")  # truncated by the writer, its new bytes not there yet
    watcher = DesiredFile(path, rec.desired, rec.error)
    real_sleep = desired_file.time.sleep
    monkeypatch.setattr(desired_file.time, "sleep", lambda s: (path.write_text("scoring:\n  threshold: -0.4\n"),
                                                               real_sleep(s)))
    watcher.check()
    assert rec.docs == []  # the empty read was not taken for a document that deletes every section
    monkeypatch.setattr(desired_file.time, "sleep", real_sleep)
    watcher.check()
    assert [d["scoring"] for d in rec.docs] == [{"threshold": -0.4}]

"""The update's canary inputs also feed the compiled scorer's bit-for-bit check (issue 9, item 2)."""

from __future__ import annotations

import re

from module.updates import candidate
from module.updates.canary import check_rows
from module.settings import load


def _checked_rows(reason: str) -> int:
    match = re.search(r"bit for bit on (\d+) check rows", reason)
    assert match, reason
    return int(match.group(1))


def test_canary_rows_are_added_to_the_exactness_check(bundle, tmp_path):
    b = bundle("2", trees=5)
    manifest = dict(b.manifest)
    settings = load(environ={})
    rows = check_rows(manifest["canary"], len(settings.scoring.features))
    assert rows is not None and len(rows) > 0

    with_canary = candidate.load(b.directory / manifest["file"], manifest, settings, source="update")
    without = candidate.load(b.directory / manifest["file"], {**manifest, "canary": None}, settings, source="update",
                             check_manifest=False)

    assert with_canary.scorer.name == "compiled-forest"
    assert _checked_rows(with_canary.scorer_reason) == _checked_rows(without.scorer_reason) + len(rows)


def test_unusable_canary_rows_are_left_to_the_canary_to_refuse():
    assert check_rows(None, 4) is None
    assert check_rows({"inputs": {"0": "not json"}, "expected": {"0": "1"}}, 4) is None
    assert check_rows({"inputs": {"0": "[1, 2]"}, "expected": {"0": "1"}}, 4) is None

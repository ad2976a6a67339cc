"""Spec validation: each bad spec fails with a message naming the column or key."""

import pytest

from module.features import SpecError, parse_spec
from module.features.spec import MAX_WINDOW_MESSAGES, MAX_WINDOW_SECONDS

GOOD = {"columns": ["machine.temperature", "diff(machine.temperature)", "mean(machine.temperature, 12)",
                    "std(machine.temperature, 12)", "max(machine.pressure, 300s)", "ewma(ambient.temperature, 0.2)",
                    "lag(machine.temperature, 3)", "min(machine.pressure, 5)"],
        "time": "timeCreated"}


def test_a_good_spec_parses_into_columns_in_order():
    spec = parse_spec(GOOD)
    assert spec.names == tuple(GOOD["columns"])
    assert spec.paths == ("machine.temperature", "machine.pressure", "ambient.temperature")
    assert spec.needs_values == 21 and spec.needs_seconds == 300.0
    assert spec.document["partition"] == "sender"
    assert spec.document["time"] == {"field": "timeCreated", "fallback": "arrival"}
    assert parse_spec(spec.document).digest == spec.digest


def test_numbered_columns_as_twins_carry_lists():
    spec = parse_spec({"columns": {"1": "diff(a)", "0": "a"}})
    assert spec.names == ("a", "diff(a)")


@pytest.mark.parametrize("column, words", [
    ("median(a, 3)", "unknown function 'median'"),
    (f"mean(a, {MAX_WINDOW_MESSAGES + 1})", "over the cap"),
    (f"max(a, {int(MAX_WINDOW_SECONDS) + 1}s)", "over the cap"),
    (f"lag(a, {MAX_WINDOW_MESSAGES + 1})", "over the cap"),
    ("lag(a, 10s)", "counts messages"),
    ("mean(a)", "takes 2 arguments"),
    ("diff(a, 2)", "takes 1 argument"),
    ("mean(a, 0)", "whole number >= 1"),
    ("mean(a, x)", "whole number >= 1"),
    ("ewma(a, 1.5)", "alpha must be in (0, 1]"),
    ("ewma(a, 0.00001)", "to warm up"),
    ("mean(1a, 3)", "must be a field path"),
    ("a b", "neither a field path"),
])
def test_a_bad_column_is_named_in_the_error(column, words):
    with pytest.raises(SpecError) as caught:
        parse_spec({"columns": ["a", column]})
    assert words in str(caught.value)
    assert caught.value.column == column
    assert repr(column) in str(caught.value)


def test_a_field_the_spec_does_not_know():
    with pytest.raises(SpecError) as caught:
        parse_spec({"fields": {"temp": "machine.temperature"}, "columns": ["temp", "mean(pressure, 3)"]})
    assert caught.value.column == "mean(pressure, 3)"
    assert "'pressure' is not one of the spec's fields" in str(caught.value)
    named = parse_spec({"fields": {"temp": "machine.temperature"}, "columns": ["temp", "mean(temp, 3)"]})
    assert named.paths == ("machine.temperature",)


@pytest.mark.parametrize("partition", ["not a path", "a..b", 7, ["a"], "header:", "header:X Y"])
def test_a_partition_key_that_is_not_a_path(partition):
    with pytest.raises(SpecError, match="partition"):
        parse_spec({"columns": ["a"], "partition": partition})


@pytest.mark.parametrize("document, words", [
    ([], "must be a mapping"),
    ({"columns": []}, "non-empty list"),
    ({"columns": ["a"], "window": 3}, "unknown key(s) 'window'"),
    ({"columns": ["a"], "version": 2}, "version 2"),
    ({"columns": ["a", "a"]}, "appears twice"),
    ({"columns": ["a"] * 0 + [f"c{i}" for i in range(65)]}, "over the cap"),
    ({"columns": ["a"], "time": {"field": "t", "fallback": "guess"}}, "fallback"),
    ({"columns": ["a"], "time": "not a path"}, "time"),
    ({"columns": ["a"], "fields": {"a": "x y"}}, "not a field path"),
])
def test_a_bad_spec_document(document, words):
    with pytest.raises(SpecError) as caught:
        parse_spec(document)
    assert words in str(caught.value)


def test_partition_forms():
    assert parse_spec({"columns": ["a"], "partition": "sensor.id"}).partition.kind == "field"
    header = parse_spec({"columns": ["a"], "partition": "header:X-Sensor"}).partition
    assert (header.kind, header.name) == ("header", "X-Sensor")

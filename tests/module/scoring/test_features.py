"""Telemetry -> feature rows: every way a field can be bad is an error that names the field."""

import json

import numpy as np
import pytest

from module.errors import BadInput
from module.scoring.features import FeatureExtractor, FieldError, parse_body, to_matrix
from module.settings import DEFAULT_FEATURES

GOOD = {"machine": {"temperature": 21.5, "pressure": 1.1}, "ambient": {"temperature": 20.9, "humidity": 25}}


def message(**override):
    """GOOD with one dotted path replaced (or removed when the value is `...`)."""
    msg = json.loads(json.dumps(GOOD))
    for path, value in override.items():
        *parents, leaf = path.split("__")
        node = msg
        for part in parents:
            node = node[part]
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    return msg


@pytest.fixture
def extractor():
    return FeatureExtractor(DEFAULT_FEATURES)


def test_good_message_gives_its_row_in_setting_order(extractor):
    assert extractor.row(GOOD) == (21.5, 1.1, 20.9, 25.0)


def test_integer_reading_is_a_float(extractor):
    assert extractor.row(message(ambient__humidity=26))[3] == 26.0


@pytest.mark.parametrize(
    "override, field, reason",
    [
        ({"machine__pressure": ...}, "machine.pressure", "is missing"),
        ({"ambient": ...}, "ambient.temperature", "is missing"),  # nested parent missing
        ({"ambient": 5}, "ambient.temperature", "is missing"),  # parent not an object
        ({"machine__temperature": "21.5"}, "machine.temperature", "is not a number"),
        ({"machine__temperature": "hot"}, "machine.temperature", "is not a number"),
        ({"machine__temperature": True}, "machine.temperature", "is not a number"),
        ({"machine__temperature": None}, "machine.temperature", "is not a number"),
        ({"machine__temperature": [21.5]}, "machine.temperature", "is not a number"),
        ({"machine__temperature": {"value": 21.5}}, "machine.temperature", "is not a number"),
        ({"ambient__humidity": float("nan")}, "ambient.humidity", "is NaN"),
        ({"ambient__humidity": float("inf")}, "ambient.humidity", "is infinite"),
        ({"ambient__humidity": float("-inf")}, "ambient.humidity", "is infinite"),
        ({"ambient__humidity": 10**400}, "ambient.humidity", "is too large"),
    ],
)
def test_each_bad_field_names_the_field(extractor, override, field, reason):
    with pytest.raises(FieldError) as caught:
        extractor.row(message(**override))
    assert caught.value.field == field
    assert field in str(caught.value) and reason in str(caught.value)


@pytest.mark.parametrize(
    "text, field, reason",
    [
        # The wire forms, as json.loads reads them: NaN and Infinity literals, an exponent past float range.
        ('{"machine":{"temperature":NaN,"pressure":1},"ambient":{"temperature":1,"humidity":1}}', "machine.temperature", "NaN"),
        ('{"machine":{"temperature":Infinity,"pressure":1},"ambient":{"temperature":1,"humidity":1}}', "machine.temperature", "infinite"),
        ('{"machine":{"temperature":-Infinity,"pressure":1},"ambient":{"temperature":1,"humidity":1}}', "machine.temperature", "infinite"),
        ('{"machine":{"temperature":1e400,"pressure":1},"ambient":{"temperature":1,"humidity":1}}', "machine.temperature", "infinite"),
        ('{"machine":{"temperature":1,"pressure":1' + "0" * 400 + '},"ambient":{"temperature":1,"humidity":1}}', "machine.pressure", "too large"),
        ('{"machine":{"temperature":1,"pressure":null},"ambient":{"temperature":1,"humidity":1}}', "machine.pressure", "not a number (got null)"),
        ('{"machine":{"temperature":1,"pressure":false},"ambient":{"temperature":1,"humidity":1}}', "machine.pressure", "not a number (got false)"),
    ],
)
def test_wire_forms_of_bad_numbers(extractor, text, field, reason):
    messages, was_list = parse_body(text.encode())
    [parsed] = extractor.parse(messages)
    assert not was_list and parsed.row is None
    assert parsed.error.field == field and reason in str(parsed.error)


@pytest.mark.parametrize("msg", [5, "text", None, [GOOD], True])
def test_message_that_is_not_an_object(extractor, msg):
    with pytest.raises(BadInput, match="must be a JSON object"):
        extractor.row(msg)


def test_list_with_bad_items_scores_the_rest_in_order(extractor):
    messages = [
        {**GOOD, "id": "a"},
        {**message(machine__pressure="x"), "id": "b"},
        7,
        {**message(ambient__humidity=30), "id": "d"},
        message(machine=...),
        {**message(machine__temperature=99.5), "messageId": "f"},
    ]
    parsed = extractor.parse(messages)
    assert [p.message_id for p in parsed] == ["a", "b", None, "d", None, "f"]
    assert [p.error is None for p in parsed] == [True, False, False, True, False, True]
    assert [p.row for p in parsed if p.row] == [(21.5, 1.1, 20.9, 25.0), (21.5, 1.1, 20.9, 30.0), (99.5, 1.1, 20.9, 25.0)]
    assert parsed[1].error.field == "machine.pressure"
    assert parsed[4].error.field == "machine.temperature"
    assert "int" in str(parsed[2].error)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[]", "empty list"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_unreadable_bodies(body, reason):
    with pytest.raises(BadInput, match=reason):
        parse_body(body)


def test_body_shapes():
    assert parse_body(b'{"a": 1}') == ([{"a": 1}], False)
    assert parse_body(b'[{"a": 1}, 2]') == ([{"a": 1}, 2], True)


def test_custom_paths_and_matrix():
    extractor = FeatureExtractor(["a.b.c", "d"])
    rows = [extractor.row({"a": {"b": {"c": 1}}, "d": 2.5}), extractor.row({"a": {"b": {"c": -3}}, "d": 0})]
    X = to_matrix(rows, extractor.width)
    assert X.dtype == np.float64 and X.tolist() == [[1.0, 2.5], [-3.0, 0.0]]


def test_a_non_finite_id_comes_back_as_text(extractor):
    messages, _ = parse_body(b'[{"id": NaN, "machine": {}}, {"id": Infinity}, {"id": 3}]')
    assert [p.message_id for p in extractor.parse(messages)] == ["nan", "inf", 3]

"""JSON numbers kept as their literal text, read and written back."""

from __future__ import annotations

from pathlib import Path

import pytest

from bcx_tracker.exchange import MalformedMessage
from bcx_tracker.literal_json import JsonNumber, dumps, loads, loads_literal, plain_decimal

KRAKEN_EXAMPLES = (Path(__file__).parent.parent / "fixtures" / "kraken-examples.jsonl").read_text().splitlines()


@pytest.mark.parametrize("frame", [line for line in KRAKEN_EXAMPLES if ": " not in line and ", " not in line])
def test_compact_frames_are_written_back_byte_for_byte(frame):
    assert dumps(loads_literal(frame)) == frame


def test_numbers_are_their_literal_text():
    data = loads('{"a":105944.20,"b":0.1234567890123456789012345678,"c":13834774380200032777,"d":1e-5}')
    assert data == {"a": "105944.20", "b": "0.1234567890123456789012345678", "c": 13834774380200032777, "d": "1e-5"}
    assert type(data["a"]) is str
    assert type(loads_literal("[1.50]")[0]) is JsonNumber


def test_strings_that_look_like_numbers_stay_strings_when_written_back():
    frame = '{"price":"1.50","qty":1.50,"s":"\\u00e9"}'
    assert dumps(loads_literal(frame)) == frame


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a":-Infinity}', "{", b"\xff", "1.5.5"])
def test_not_json_and_non_finite_numbers_are_malformed(text):
    with pytest.raises(MalformedMessage):
        loads(text)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ("105944.20", "105944.20"),
        ("0.1234567890123456789012345678", "0.1234567890123456789012345678"),
        (JsonNumber("1.10"), "1.10"),
        (0, "0"),
        (42, "42"),
        ("1e-5", "0.00001"),
        ("1.0E-5", "0.000010"),
        ("1.5e+3", "1500"),
        ("12E0", "12"),
        ("-1.5", None),
        (-1, None),
        ("1e100", None),  # 100 zeros of padding: not a price
        ("1.", None),
        (".5", None),
        (" 1", None),
        ("1_000", None),
        ("١٢", None),  # Arabic-Indic digits: str.isdigit() would say yes
        (True, None),
        (1.5, None),  # a float already lost the literal digits
        (None, None),
    ],
)
def test_plain_decimal(value, plain):
    assert plain_decimal(value) == plain
    assert plain is None or type(plain_decimal(value)) is str

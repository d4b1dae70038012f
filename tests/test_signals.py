import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashwatch import signals
from hashwatch.signals import InvalidSignal


def test_aliases_resolve_to_canonical_types():
    assert signals.get("video_md5") is signals.MD5
    assert signals.get("PDQ") is signals.PDQ
    assert signals.resolve("url") is None
    with pytest.raises(KeyError, match="unknown signal type 'url'"):
        signals.get("url")


@pytest.mark.parametrize(
    "st_name,value,reason",
    [
        ("md5", "a" * 31, "must be 32 hex digits, got 31"),
        ("sha1", "g" * 40, "non-hex character 'g'"),
        ("sha256", "", "must be 64 hex digits, got 0"),
        ("pdq", "0" * 63 + "x", "non-hex character 'x'"),
    ],
)
def test_invalid_values_say_why(st_name, value, reason):
    with pytest.raises(InvalidSignal, match=reason):
        signals.get(st_name).parse(value)


def test_parse_canonicalises_case_and_space():
    assert signals.SHA1.parse("  " + "AB" * 20 + "\n") == "ab" * 20


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_pdq_distance_is_popcount_of_xor(a, b):
    expect = sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))
    assert signals.pdq_distance(a.hex(), b.hex()) == expect
    assert signals.PDQ.distance(a.hex(), b.hex()) == expect


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=20))
def test_pdq_array_round_trip(rows):
    arr = signals.pdq_to_array([r.hex() for r in rows])
    assert arr.shape == (len(rows), 32)
    assert [bytes(r).hex() for r in arr] == [r.hex() for r in rows]


def test_vpdq_text_and_json_forms():
    h = "f" * 64
    text = f"0,100,{h},0.000\n1,90,{h},1.000"
    frames = signals.parse_vpdq(text)
    assert [f.frame for f in frames] == [0, 1] and frames[1].quality == 90
    js = f'[{{"pdq_hex": "{h}", "quality": 80, "frame_number": 3, "timestamp": 3.0}}]'
    assert signals.parse_vpdq(js)[0].frame == 3
    assert signals.VPDQ.parse(text) == signals.VPDQ.parse(signals.VPDQ.parse(text))


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("", "empty"),
        ("0,100,abc,0", "vpdq frame 0: pdq must be 64 hex digits"),
        ("0,101," + "0" * 64 + ",0", "quality 101"),
        ("[1,2]", "frame 0 is not an object"),
        ("[{", "malformed"),
        ("0,1,2", "got 3 fields"),
    ],
)
def test_vpdq_errors(bad, reason):
    with pytest.raises(InvalidSignal, match=reason):
        signals.parse_vpdq(bad)

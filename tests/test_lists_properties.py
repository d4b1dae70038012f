"""Properties of hash-list reading and writing (hypothesis, made-up hashes only)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwatch.lists import ListEntry, ListFormatError, detect_format, load_list, write_csv

_HEX_LEN = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}


def _hex(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=n, max_size=n)


_signal = st.sampled_from(sorted(_HEX_LEN)).flatmap(
    lambda t: st.tuples(st.just(t), _hex(_HEX_LEN[t]))
)
# Text a list id or category may hold: no control or line/paragraph separators, no
# surrounding white space (readers strip it), not empty.
_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20
).filter(lambda s: s == s.strip() and bool(s))
_tag = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters=",;"),
    min_size=1,
    max_size=12,
).filter(lambda s: not any(c.isspace() for c in s))


@st.composite
def _entry(draw: st.DrawFn) -> ListEntry:
    signal_type, signal = draw(_signal)
    return ListEntry(
        signal_type,
        signal,
        draw(_text),
        draw(st.none() | _text),
        tuple(draw(st.lists(_tag, max_size=4))),
        draw(st.none() | st.integers(min_value=0, max_value=2**53)),
    )


_entries = st.lists(
    _entry(), min_size=1, max_size=25, unique_by=lambda e: (e.signal_type, e.signal)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_entries, st.none() | _text)
def test_csv_round_trip(entries, name):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "list.csv"
        write_csv(entries, path, name=name)
        hl = load_list(path)
    assert hl.format == "csv"
    assert hl.entries == entries
    assert hl.name == (name or "list")
    assert hl.metadata["duplicates"] == "0"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash(data):
    # Any input either loads or fails with ListFormatError: never another exception.
    try:
        detect_format(data)
    except ListFormatError:
        pass
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz"
        path.write_bytes(data)
        try:
            load_list(path)
        except ListFormatError as e:
            assert e.path == str(path)


_LINE = st.one_of(
    _hex(32),
    _hex(40),
    st.builds(lambda h: f"md5 {h}", _hex(32)),
    st.builds(lambda h: f"{h}:12:Name", _hex(32)),
    st.just("signal_type,signal"),
    st.just('{"@odata.context": "x", "value": [{"MD5": 1}]}'),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=8))
def test_near_miss_text_never_crashes(lines):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "near"
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        try:
            hl = load_list(path)
        except ListFormatError:
            return
    assert len(hl) >= 1

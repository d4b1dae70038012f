"""URL intake: canonical forms, de-duplication keys and the reasons for refusals."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashwatch.takedown.urls import (
    MAX_URL_LENGTH,
    TRACKING_PARAMS,
    UrlError,
    dedupe,
    normalise_host,
    normalise_url,
)


def canon(text: str) -> str:
    return normalise_url(text).url


# --------------------------------------------------------------------------- canonical forms


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # the brief's example: scheme/host case, default port, dot segments, tracking, fragment
        ("HTTP://Example.COM:80/a/../b?utm_source=x#f", "http://example.com/b"),
        ("  http://example.com/b \n", "http://example.com/b"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:443/", "http://example.com:443/"),  # not http's default
        ("https://example.com:080/", "https://example.com:80/"),
        ("http://example.com:/", "http://example.com/"),
        # no scheme: http
        ("example.com/a", "http://example.com/a"),
        ("//example.com/a", "http://example.com/a"),
        ("localhost:8080", "http://localhost:8080/"),
        ("www.example.com:8080/x?y=1", "http://www.example.com:8080/x?y=1"),
        # browsers' leniency
        ("http:/example.com/a", "http://example.com/a"),
        ("http:\\\\example.com\\a\\b?q=\\", "http://example.com/a/b?q=%5C"),
        ("http://exa\nmple.com/a\tb", "http://example.com/ab"),
        ("http://example.com./", "http://example.com/"),
        # IPv4 shorthand -> dotted quad (what would really be contacted)
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://0x7F000001/", "http://127.0.0.1/"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://127.1/", "http://127.0.0.1/"),
        ("http://10.0.258/", "http://10.0.1.2/"),
        ("http://169.254.43518/", "http://169.254.169.254/"),
        ("http://0x/", "http://0.0.0.0/"),
        ("http://１２７.０.０.１/", "http://127.0.0.1/"),  # full-width digits (UTS 46)
        ("http://%31%32%37.0.0.1/", "http://127.0.0.1/"),
        # IPv6: compressed, lower case, hex only
        ("http://[2001:DB8:0:0:0:0:0:1]:8080/", "http://[2001:db8::1]:8080/"),
        ("http://[2001:db8:0:0:1:0:0:1]/", "http://[2001:db8::1:0:0:1]/"),
        ("http://[::FFFF:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
        ("http://[0:0:0:0:0:0:0:1]:80/", "http://[::1]/"),
        # IDN -> punycode
        ("http://Bücher.Example/", "http://xn--bcher-kva.example/"),
        ("http://ｅｘａｍｐｌｅ。ｃｏｍ/", "http://example.com/"),
        ("http://XN--BCHER-KVA.example/", "http://xn--bcher-kva.example/"),
        ("http://i❤.ws/", "http://xn--i-7iq.ws/"),
        ("http://my_site.example.com/", "http://my_site.example.com/"),
        ("http://%65xample.com/", "http://example.com/"),
        # path: dot segments, encoding, case kept
        ("http://example.com", "http://example.com/"),
        ("http://example.com/a/./b/../c/", "http://example.com/a/c/"),
        ("http://example.com/a/b/..", "http://example.com/a/"),
        ("http://example.com/../../a", "http://example.com/a"),
        ("http://example.com/a/%2e%2E/b", "http://example.com/b"),
        ("http://example.com/a//b", "http://example.com/a//b"),
        ("http://example.com/CaSe/Path", "http://example.com/CaSe/Path"),
        ("http://example.com/%7euser/%41%2f%2Fx", "http://example.com/~user/A%2F%2Fx"),
        ("http://example.com/a%3ab%3A", "http://example.com/a%3Ab%3A"),
        ("http://example.com/100%/x%zz", "http://example.com/100%25/x%25zz"),
        ("http://example.com/ä ö", "http://example.com/%C3%A4%20%C3%B6"),
        ("http://example.com/a:b@c;d=e,f!$'()*+&", "http://example.com/a:b@c;d=e,f!$'()*+&"),
        ('http://example.com/<a>"{b}"|^`', "http://example.com/%3Ca%3E%22%7Bb%7D%22%7C%5E%60"),
        # query: tracking dropped, order and case kept
        ("http://example.com/?b=2&a=1", "http://example.com/?b=2&a=1"),
        ("http://example.com/?id=5&utm_source=x&UTM_Medium=y&fbclid=z", "http://example.com/?id=5"),
        ("http://example.com/?gclid=1&Q=Ab&msclkid=2&_ga=3&igshid=4", "http://example.com/?Q=Ab"),
        ("http://example.com/?a=1&&b=2&", "http://example.com/?a=1&b=2"),
        ("http://example.com/?", "http://example.com/"),
        ("http://example.com/?utm_campaign=only", "http://example.com/"),
        ("http://example.com/?q=a+b%20c%3d&x=%C3%BC", "http://example.com/?q=a+b%20c%3D&x=%C3%BC"),
        ("http://example.com/?q=ü/?", "http://example.com/?q=%C3%BC/?"),
        ("http://example.com/?ref=kept", "http://example.com/?ref=kept"),
        # fragment removed, also when it holds a '?'
        ("http://example.com/a#x?y=1", "http://example.com/a"),
    ],
)
def test_canonical_form(given: str, expected: str):
    assert canon(given) == expected


def test_fields_of_a_normalised_url():
    u = normalise_url("HTTPS://Bücher.Example:8443/a/../Dir/f.jpg?utm_term=q&id=7#frag")
    assert u.url == "https://xn--bcher-kva.example:8443/Dir/f.jpg?id=7"
    assert (u.scheme, u.host, u.port) == ("https", "xn--bcher-kva.example", 8443)
    assert (u.path, u.query, u.target) == ("/Dir/f.jpg", "id=7", "/Dir/f.jpg?id=7")
    assert u.display_host == "bücher.example"
    assert u.authority == "xn--bcher-kva.example:8443"
    assert u.effective_port == 8443
    assert u.key == hashlib.sha256(u.url.encode()).hexdigest()
    assert str(u) == u.url


def test_ipv6_host_is_bare_and_url_bracketed():
    u = normalise_url("http://[2001:DB8::A]/")
    assert u.host == "2001:db8::a" and u.display_host == "2001:db8::a"
    assert u.url == "http://[2001:db8::a]/"
    assert (u.authority, u.effective_port, u.port) == ("[2001:db8::a]", 80, None)
    assert normalise_url("https://[::1]:8443/").authority == "[::1]:8443"


def test_display_host_of_a_punycode_host():
    assert normalise_url("http://xn--bcher-kva.example/").display_host == "bücher.example"
    assert normalise_url("http://example.com/").display_host == "example.com"


def test_every_spelling_of_one_url_has_one_key():
    spellings = [
        "HTTP://Example.COM:80/a/../b?utm_source=x#f",
        "http://example.com/b",
        "example.com/b",
        "http://EXAMPLE.com./b?fbclid=123",
        "http://example.com/./b#top",
        "http://%65xample.com/%62",
    ]
    assert len({normalise_url(s).key for s in spellings}) == 1
    # ...but different URLs stay apart
    others = ["https://example.com/b", "http://www.example.com/b", "http://example.com/B"]
    keys = {normalise_url(s).key for s in [spellings[0], *others]}
    assert len(keys) == 4


def test_tracking_list_is_documented_and_matched_in_any_case():
    for name in TRACKING_PARAMS:
        assert canon(f"http://example.com/?{name.upper()}=1&keep=1") == "http://example.com/?keep=1"


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "empty URL"),
        ("   ", "empty URL"),
        ("ftp://example.com/a", "unsupported scheme 'ftp' (http and https only)"),
        ("FILE:///etc/passwd", "unsupported scheme 'file'"),
        ("javascript:alert(1)", "unsupported scheme 'javascript'"),
        ("mailto:abuse@example.com", "unsupported scheme 'mailto'"),
        ("data:text/html,hi", "unsupported scheme 'data'"),
        ("gopher://127.0.0.1:70/", "unsupported scheme 'gopher'"),
        ("http://", "no host"),
        ("http:///", "no host"),
        ("http://./a", "no host"),
        ("/only/a/path", "no host (a path alone is not a URL)"),
        ("http://user:pw@example.com/", "userinfo not allowed"),
        ("http://example.com@evil.example/", "userinfo not allowed"),
        ("http://example.com:99999/", "invalid port 99999 (1 to 65535)"),
        ("http://example.com:0/", "invalid port 0"),
        ("http://example.com:8o/", "invalid port '8o'"),
        ("example.com:abc/x", "invalid port 'abc'"),
        ("http://example.com:-1/", "invalid port '-1'"),
        ("http://[::1/", "invalid IPv6 address (no closing ']')"),
        ("http://[::g]/", "invalid IPv6 address '::g'"),
        ("http://[1:2:3:4:5:6:7:8:9]/", "invalid IPv6 address"),
        ("http://[fe80::1%25eth0]/", "IPv6 zone identifiers are not allowed"),
        ("http://[::1]x/", "unexpected 'x' after the IPv6 address"),
        ("http://::1/", "an IPv6 address must be in brackets"),
        ("http://1.2.3.4.5/", "invalid IPv4 address '1.2.3.4.5'"),
        ("http://256.0.0.1/", "invalid IPv4 address '256.0.0.1' (a part is too large)"),
        ("http://1.2.3.256/", "a part is too large"),
        ("http://4294967296/", "a part is too large"),
        ("http://09.1.1.1/", "invalid IPv4 address '09.1.1.1'"),
        ("http://1..2/", "invalid IPv4 address"),
        ("http://example.123/", "invalid IPv4 address 'example.123'"),
        ("http://a..example/", "empty label in host 'a..example'"),
        ("http://" + "a" * 64 + ".com/", "host label longer than 63 characters"),
        ("http://" + ("a" * 60 + ".") * 5 + "com/", "host name longer than 253 characters"),
        ("http://exa mple.com/", "invalid character ' ' in host"),
        ("http://ex*ample.com/", "invalid character '*' in host"),
        ("http://exa%00mple.com/", "invalid character '\\x00' in host"),
        ("http://%ff.example/", "invalid percent-encoding in host (not UTF-8)"),
        ("http://xn--zz-/", "invalid punycode label 'xn--zz-'"),
        ("http://xn--abc/", "invalid punycode label 'xn--abc'"),
        ("http://example.com/\x00", "control character '\\x00' in URL"),
        ("http://example.com/\x7f", "control character '\\x7f' in URL"),
        ("http://example.com/\ud800", "lone surrogate"),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, "URL longer than 8192 characters"),
        ("http://example.com/" + "ä" * 3000, "URL longer than 8192 characters once normalised"),
    ],
)
def test_refusals_name_what_is_wrong(given: str, reason: str):
    with pytest.raises(UrlError) as e:
        normalise_url(given)
    assert reason in str(e.value)


def test_url_error_is_a_value_error():
    assert issubclass(UrlError, ValueError)


def test_length_limit_is_inclusive():
    base = "http://example.com/"
    assert len(canon(base + "a" * (MAX_URL_LENGTH - len(base)))) == MAX_URL_LENGTH


# --------------------------------------------------------------------------- dedupe


def test_dedupe_keeps_first_spelling_order_and_reports_the_rest():
    intake = dedupe(
        [
            "http://b.example/1",
            "",
            "HTTP://A.example/x?utm_source=mail",
            "   ",
            "b.example/1#again",
            "ftp://a.example/",
            "http://a.example/x",
            "http://user@c.example/",
        ]
    )
    assert [u.url for u in intake.urls] == ["http://b.example/1", "http://a.example/x"]
    assert [(text, u.url) for text, u in intake.duplicates] == [
        ("b.example/1#again", "http://b.example/1"),
        ("http://a.example/x", "http://a.example/x"),
    ]
    assert [text for text, _ in intake.rejected] == ["ftp://a.example/", "http://user@c.example/"]
    assert "unsupported scheme 'ftp'" in intake.rejected[0][1]
    assert "userinfo not allowed" in intake.rejected[1][1]


def test_dedupe_of_nothing():
    intake = dedupe([])
    assert intake.urls == intake.duplicates == intake.rejected == ()


# --------------------------------------------------------------------------- normalise_host


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("2001:db8:0::1", "2001:db8::1"),
        ("203.0.113.7", "203.0.113.7"),
    ],
)
def test_normalise_host(given: str, expected: str):
    assert normalise_host(given) == expected


# --------------------------------------------------------------------------- properties

_chars = st.sampled_from(list("aZ09-._~!$&'()*+,;=:@/?%#[] \\<>\"{}|^`ä€❤\t") + ["%2e", "%2F"])
_host = st.sampled_from(
    ["example.com", "EXAMPLE.com.", "bücher.example", "127.1", "0x7f.1", "[::1]", "x_y.test"]
)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http://", "HTTPS://", "", "//"]),
    host=_host,
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
    rest=st.lists(_chars, max_size=30).map("".join),
)
def test_normalising_is_idempotent_and_gives_an_ascii_url(scheme, host, port, rest):
    text = f"{scheme}{host}{port}/{rest}"
    try:
        first = normalise_url(text)
    except UrlError:
        return
    assert first.url.isascii()
    assert " " not in first.url and "#" not in first.url
    assert normalise_url(first.url) == first
    parts = urlsplit(first.url)
    assert parts.scheme == first.scheme
    assert (parts.hostname or "") == first.host
    assert parts.port == first.port
    assert parts.path == first.path

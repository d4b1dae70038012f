"""Host attribution: lookups by suffix and by network, rows checked field by field, CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashwatch.takedown import normalise_url
from hashwatch.takedown.hosts import (
    COUNTRIES,
    HostRow,
    HostRowError,
    HostsFileError,
    HostTable,
    canonical_pattern,
    read_hosts_csv,
    write_hosts_csv,
)
from hashwatch.takedown.urls import UrlError


def row(pattern: str, provider: str = "Provider", **kw: str) -> HostRow:
    kw.setdefault("abuse_email", "abuse@provider.example")
    kw.setdefault("country", "NL")
    return HostRow(pattern, provider, **kw)


@pytest.fixture
def table() -> HostTable:
    return HostTable(
        [
            row("example.com", "Example Hosting", country="GB"),
            row("files.example.com", "Files CDN", country="DE"),
            row("203.0.113.0/24", "Net 24", country="FR"),
            row("203.0.113.128/25", "Net 25", country="BE"),
            row("203.0.113.7", "One address", country="ES"),
            row("2001:db8::/32", "V6 net", country="US"),
            row("bücher.example", "Books", country="AT"),
            row("0.0.0.0/0", "Default route", country="SE"),
        ]
    )


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("example.com", "Example Hosting"),
        ("EXAMPLE.COM.", "Example Hosting"),
        ("www.example.com", "Example Hosting"),
        ("a.b.c.example.com", "Example Hosting"),
        ("files.example.com", "Files CDN"),  # the longest suffix wins
        ("cdn.files.example.com", "Files CDN"),
        ("xn--bcher-kva.example", "Books"),
        ("shop.BÜCHER.example", "Books"),
        ("203.0.113.7", "One address"),  # an address beats its networks
        ("203.0.113.200", "Net 25"),  # the longest prefix wins
        ("203.0.113.9", "Net 24"),
        ("::ffff:203.0.113.9", "Net 24"),  # IPv4-mapped looks up as IPv4
        ("[2001:db8::1]", "V6 net"),
        ("2001:DB8:0::ff", "V6 net"),
        ("198.51.100.1", "Default route"),
    ],
)
def test_lookup(table: HostTable, host: str, provider: str):
    found = table.lookup(host)
    assert found is not None and found.provider == provider


@pytest.mark.parametrize(
    "host", ["notexample.com", "example.org", "com", "example.com.evil.test", "2001:db9::1"]
)
def test_unknown_hosts_give_none(table: HostTable, host: str):
    assert table.lookup(host) is None


def test_lookup_of_a_normalised_url(table: HostTable):
    found = table.lookup(normalise_url("HTTP://Cdn.Files.Example.com:8080/a?b"))
    assert found is not None and found.provider == "Files CDN"
    found = table.lookup(normalise_url("http://0xcb.0.113.7/"))  # shorthand of 203.0.113.7
    assert found is not None and found.provider == "One address"


def test_names_never_match_address_rows_and_back():
    t = HostTable([row("10.0.0.0/8", "Net"), row("test", "TLD")])
    assert t.lookup("10.1.2.3").provider == "Net"
    assert t.lookup("host.test").provider == "TLD"  # a row for a whole TLD is allowed
    assert t.lookup("10.test").provider == "TLD"  # a name whose first label is digits
    assert HostTable([row("test")]).lookup("10.1.2.3") is None
    assert HostTable([row("10.0.0.0/8")]).lookup("host.test") is None


def test_lookup_of_text_that_is_not_a_host(table: HostTable):
    with pytest.raises(UrlError):
        table.lookup("exa mple.com")


def test_duplicate_patterns_are_refused():
    with pytest.raises(ValueError, match="duplicate pattern 'example.com'"):
        HostTable([row("example.com"), row("EXAMPLE.com.")])
    with pytest.raises(ValueError, match="duplicate pattern '10.0.0.0/8'"):
        HostTable([row("10.0.0.0/8"), row("10.0.0.0/8", "other")])
    with pytest.raises(ValueError, match="duplicate pattern '10.0.0.1'"):
        HostTable([row("10.0.0.1"), row("10.0.0.1/32")])


def test_table_size_and_order(table: HostTable):
    assert len(table) == 8
    assert [r.pattern for r in table][:3] == ["example.com", "files.example.com", "203.0.113.0/24"]


# --------------------------------------------------------------------------- rows


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("  bücher.example ", "xn--bcher-kva.example"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("203.0.113.7", "203.0.113.7"),
        ("[2001:DB8::7]", "2001:db8::7"),
        ("2001:DB8:0:0::/32", "2001:db8::/32"),
        ("203.0.113.7/32", "203.0.113.7"),
        ("2001:db8::7/128", "2001:db8::7"),
        ("my_host.example", "my_host.example"),
    ],
)
def test_patterns_in_canonical_form(given: str, expected: str):
    assert canonical_pattern(given) == expected
    assert row(given).pattern == expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty"),
        ("*.example.com", "no wildcards: a row for 'example.com' covers its subdomains"),
        ("http://example.com/", "is a URL or path"),
        ("example.com/abuse", "is a URL or path"),
        ("203.0.113.5/24", "has host bits set (did you mean 203.0.113.0/24?)"),
        ("203.0.113.0/33", "invalid network '203.0.113.0/33'"),
        ("2130706433", "invalid IP address '2130706433' (write IPv4 as four decimal numbers)"),
        ("0x7f.1", "invalid IP address"),
        ("10.1", "invalid IP address"),
        ("203.000.113.7", "invalid IP address"),
        ("a..example", "empty label"),
        ("exa mple.com", "invalid character ' ' in host"),
        ("example.com:8080", "invalid IPv6 address"),
    ],
)
def test_bad_patterns(pattern: str, reason: str):
    with pytest.raises(HostRowError) as e:
        row(pattern)
    assert e.value.field == "pattern"
    assert reason in e.value.reason


def test_fields_are_trimmed_and_canonical():
    r = HostRow(" Example.com ", " Example Hosting Ltd ", " Abuse@Bücher.Example ", " gb ", " n ")
    assert r == HostRow(
        "example.com", "Example Hosting Ltd", "Abuse@xn--bcher-kva.example", "GB", "n"
    )


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("provider", "  ", "empty"),
        ("provider", "x" * 201, "longer than 200 characters"),
        ("provider", "Tab\there", "control character"),
        ("abuse_email", "", "is not an e-mail address"),
        ("abuse_email", "abuse", "is not an e-mail address like abuse@example.net"),
        ("abuse_email", "a@b@c.example", "is not an e-mail address"),
        ("abuse_email", "abuse @x.example", "is not an e-mail address"),
        ("abuse_email", "Abuse <abuse@x.example>", "is not an e-mail address"),
        ("abuse_email", "abuse@localhost", "does not end in a domain name"),
        ("abuse_email", "abuse@203.0.113.7", "does not end in a domain name"),
        ("abuse_email", "abuse@exa mple.com", "is not an e-mail address"),
        ("abuse_email", "abuse@exa*mple.com", "invalid domain"),
        ("abuse_email", "x" * 65 + "@x.example", "longer than 64 characters"),
        ("country", "", "is not two letters"),
        ("country", "GBR", "is not two letters (ISO 3166-1 alpha-2, like GB)"),
        ("country", "G1", "is not two letters"),
        ("country", "UK", "the United Kingdom is 'GB'"),
        ("country", "EU", "'EU' is not an ISO 3166-1 alpha-2 country code"),
        ("country", "ZZ", "is not an ISO 3166-1 alpha-2 country code"),
        ("notes", "two\nlines", "control character or line break"),
        ("notes", "n" * 1001, "longer than 1000 characters"),
    ],
)
def test_bad_fields_are_named(field: str, value: str, reason: str):
    fields = dict(
        pattern="example.com", provider="P", abuse_email="abuse@p.example", country="GB", notes=""
    )
    fields[field] = value
    with pytest.raises(HostRowError) as e:
        HostRow(**fields)
    assert e.value.field == field
    assert reason in e.value.reason
    assert str(e.value).startswith(f"{field}: ")


def test_country_codes():
    assert len(COUNTRIES) == 250  # the 249 assigned codes and XK
    assert {"GB", "US", "DE", "NL", "XK", "AX", "SS", "CW"} <= COUNTRIES
    assert not {"UK", "EU", "YU", "AN"} & COUNTRIES
    assert row("example.com", country="xk").country == "XK"


# --------------------------------------------------------------------------- CSV

GOOD_CSV = (
    "pattern,provider,abuse_email,country,notes\n"
    "example.com,Example Hosting,abuse@example.com,GB,\n"
    "# a comment line\n"
    'files.example.com,"Files, CDN",abuse@files.example.com,de,"web form also: ""/abuse"""\n'
    "\n"
    "203.0.113.0/24,Net 24,noc@net.example,FR,\n"
)


def test_read_text_and_path_alike(tmp_path: Path):
    rows = read_hosts_csv(GOOD_CSV)
    assert [r.pattern for r in rows] == ["example.com", "files.example.com", "203.0.113.0/24"]
    assert rows[1].provider == "Files, CDN"
    assert rows[1].country == "DE"
    assert rows[1].notes == 'web form also: "/abuse"'
    path = tmp_path / "hosts.csv"
    path.write_text("\ufeff" + GOOD_CSV, encoding="utf-8")  # as Excel saves it
    assert read_hosts_csv(path) == rows
    assert read_hosts_csv(str(path)) == rows
    assert len(HostTable.from_csv(path)) == 3


def test_notes_column_is_optional_and_order_is_free():
    rows = read_hosts_csv("Country,Pattern,ABUSE_EMAIL,provider\nGB,example.com,a@e.example,E\n")
    assert rows == [HostRow("example.com", "E", "a@e.example", "GB")]


def test_round_trip(tmp_path: Path):
    rows = read_hosts_csv(GOOD_CSV) + [
        HostRow("bücher.example", "Bücher GmbH", "abuse@bücher.example", "AT", 'Ümlaut, "q"'),
        HostRow("2001:db8::/32", "=not a formula", "noc@v6.example", "US"),
    ]
    text = write_hosts_csv(rows, tmp_path / "out.csv")
    assert text.splitlines()[0] == "pattern,provider,abuse_email,country,notes"
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == text
    assert read_hosts_csv(text) == rows
    assert read_hosts_csv(tmp_path / "out.csv") == rows
    assert write_hosts_csv(read_hosts_csv(text)) == text


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        ("", None, None, "no header"),
        ("\n\n# only comments\n", None, None, "no header"),
        ("pattern,provider,abuse_email\nx.example,P,a@x.example\n", 1, None, "missing column"),
        (
            "pattern,provider,abuse_email,country,note\n",
            1,
            None,
            "unknown column 'note' (expected pattern, provider, abuse_email, country",
        ),
        ("pattern,pattern,provider,abuse_email,country\n", 1, None, "given twice"),
        ("pattern,provider,abuse_email,country\nx.example,P,a@x.example\n", 2, None, "expected 4"),
        (
            "pattern,provider,abuse_email,country\nx.example,P,a@x.example,GB\n"
            "*.y.example,P,a@x.example,GB\n",
            3,
            "pattern",
            "no wildcards",
        ),
        (
            "pattern,provider,abuse_email,country\n\nx.example,P,not-an-email,GB\n",
            3,
            "abuse_email",
            "'not-an-email' is not an e-mail address",
        ),
        (
            "pattern,provider,abuse_email,country\nx.example,P,a@x.example,UK\n",
            2,
            "country",
            "'GB'",
        ),
        (
            "pattern,provider,abuse_email,country\nx.example,,a@x.example,GB\n",
            2,
            "provider",
            "empty",
        ),
        (
            "pattern,provider,abuse_email,country\nx.example,P,a@x.example,GB\n"
            "# dup below\nX.Example.,Q,a@x.example,GB\n",
            4,
            "pattern",
            "duplicate of line 2 (x.example)",
        ),
    ],
)
def test_errors_name_file_line_and_field(text, line, field, reason, tmp_path: Path):
    path = tmp_path / "hosts.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HostsFileError) as e:
        read_hosts_csv(path)
    err = e.value
    assert (err.path, err.line, err.field) == (str(path), line, field)
    assert reason in err.reason
    where = f"{path}:{line}" if line else str(path)
    assert str(err).startswith(f"{where}: {field + ': ' if field else ''}")


def test_errors_in_text_name_the_text():
    with pytest.raises(HostsFileError, match=r"^<text>:2: country: "):
        read_hosts_csv("pattern,provider,abuse_email,country\nx.example,P,a@x.example,XX\n")
    with pytest.raises(HostsFileError, match=r"^pasted:2: "):
        read_hosts_csv("pattern,provider,abuse_email,country\nx\n", name="pasted")


def test_unreadable_files(tmp_path: Path):
    with pytest.raises(HostsFileError, match="cannot read"):
        read_hosts_csv(tmp_path / "missing.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"pattern,provider,abuse_email,country\nx.example,Caf\xe9,a@x.example,FR\n")
    with pytest.raises(HostsFileError, match="not UTF-8 text"):
        read_hosts_csv(bad)

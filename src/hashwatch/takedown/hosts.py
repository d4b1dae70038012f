"""Host attribution: which hosting provider serves a host, where to send the notice, country.

A :class:`HostTable` is built from :class:`HostRow` s, each for a *pattern*:

* a host name -- it covers the host and every name under it: a row for ``example.com``
  answers for ``cdn.files.example.com`` (the longest matching suffix wins, so a row for
  ``files.example.com`` beats it). No wildcards: ``*.example.com`` is refused with a hint.
* an IP address (``203.0.113.7``, ``2001:db8::7``) or a CIDR network (``203.0.113.0/24``)
  -- they answer for hosts given as addresses (the longest prefix wins, an address being a
  /32 or /128); IPv4-mapped IPv6 addresses are looked up as IPv4.

:meth:`HostTable.lookup` returns the row or None: an unknown host is for the caller to list
for an analyst's attention. Names are compared in their ASCII (punycode) form, so a row and
a host may each be written in Unicode or punycode.

Every row is checked when it is made (:class:`HostRowError` names the field): the e-mail must
look like ``local@domain.tld``, the country must be an ISO 3166-1 alpha-2 code (upper-cased;
``XK`` for Kosovo is accepted, ``UK`` is refused with a hint to use ``GB``).

Files are CSV, UTF-8 (a BOM is allowed), header ``pattern,provider,abuse_email,country`` with
an optional ``notes`` column, any column order; blank lines and lines starting with ``#`` are
skipped. :func:`read_hosts_csv` raises :class:`HostsFileError` naming the file, line and field;
:func:`write_hosts_csv` writes what it reads back unchanged.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .csvrecords import CsvLineError, records
from .urls import NormalisedUrl, UrlError, ipv6_text, normalise_host

HOSTS_COLUMNS = ("pattern", "provider", "abuse_email", "country", "notes")
REQUIRED_COLUMNS = HOSTS_COLUMNS[:4]
MAX_PROVIDER = 200
MAX_NOTES = 1000

#: ISO 3166-1 alpha-2 codes officially assigned (249), plus XK (Kosovo, user-assigned but
#: used by the EU and most registries).
COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK
    """.split()
)

_EMAIL = re.compile(r"([^@\s<>()\[\],;:\"]+)@([^@\s<>()\[\],;:\"]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostRowError(ValueError):
    """A field of a host row that is not valid; ``field`` names it."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class HostsFileError(ValueError):
    """A hosts file that cannot be loaded. Names the file, the line and field (if any) and
    the reason."""

    def __init__(self, path: str, reason: str, line: int | None = None, field: str | None = None):
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {f'{field}: ' if field else ''}{reason}")


@dataclass(frozen=True, slots=True)
class HostRow:
    """One provider's host, address or network. Fields are checked and put in canonical form
    on creation (``pattern`` as :func:`canonical_pattern`, ``country`` upper case); raises
    :class:`HostRowError`."""

    pattern: str
    provider: str
    abuse_email: str
    country: str
    notes: str = ""

    def __post_init__(self) -> None:
        for name, value in (
            ("pattern", _checked(canonical_pattern, "pattern", self.pattern)),
            ("provider", _text("provider", self.provider, MAX_PROVIDER, required=True)),
            ("abuse_email", _checked(_email, "abuse_email", self.abuse_email)),
            ("country", _checked(_country, "country", self.country)),
            ("notes", _text("notes", self.notes, MAX_NOTES, required=False)),
        ):
            object.__setattr__(self, name, value)


class HostTable:
    """Rows indexed for lookup: host names by suffix, addresses by longest prefix."""

    def __init__(self, rows: Iterable[HostRow]):
        self._rows: list[HostRow] = []
        self._names: dict[str, HostRow] = {}
        #: per IP version, prefix length -> network address -> row
        self._nets: dict[int, dict[int, dict[int, HostRow]]] = {4: {}, 6: {}}
        for row in rows:
            net = _network(row.pattern)
            if net is None:
                known = self._names.setdefault(row.pattern, row)
            else:
                by_address = self._nets[net.version].setdefault(net.prefixlen, {})
                known = by_address.setdefault(int(net.network_address), row)
            if known is not row:
                raise ValueError(f"duplicate pattern {row.pattern!r}")
            self._rows.append(row)
        self._lengths = {v: sorted(d, reverse=True) for v, d in self._nets.items()}

    @classmethod
    def from_csv(cls, source: str | os.PathLike[str]) -> HostTable:
        return cls(read_hosts_csv(source))

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[HostRow]:
        return iter(self._rows)

    def lookup(self, host: str | NormalisedUrl) -> HostRow | None:
        """The row for ``host`` (a name, an address, or a URL's host), else None. Raises
        :class:`~hashwatch.takedown.urls.UrlError` for text that is not a host."""
        name = host.host if isinstance(host, NormalisedUrl) else normalise_host(host)
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            labels = name.split(".")
            for i in range(len(labels)):
                row = self._names.get(".".join(labels[i:]))
                if row is not None:
                    return row
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        value, bits = int(address), address.max_prefixlen
        for length in self._lengths[address.version]:
            masked = value >> (bits - length) << (bits - length) if length else 0
            row = self._nets[address.version][length].get(masked)
            if row is not None:
                return row
        return None


def canonical_pattern(text: str) -> str:
    """A host name (ASCII, lower case), an IP address or a CIDR network, in canonical form;
    raises ValueError saying what is wrong."""
    s = text.strip()
    if not s:
        raise ValueError("empty")
    if "://" in s or ("/" in s and not _looks_like_cidr(s)):
        raise ValueError(f"{s!r} is a URL or path; give a host name, IP address or network")
    if "*" in s:
        raise ValueError(f"no wildcards: a row for {s.lstrip('*.')!r} covers its subdomains")
    if "/" in s:
        try:
            net = ipaddress.ip_network(s, strict=True)
        except ValueError as e:
            if "host bits set" in str(e):
                fixed = ipaddress.ip_network(s, strict=False)
                raise ValueError(f"{s} has host bits set (did you mean {fixed}?)") from e
            raise ValueError(
                f"invalid network {s!r} (write address/prefix, like 203.0.113.0/24)"
            ) from e
        return _network_text(net)
    try:
        address = ipaddress.ip_address(s.strip("[]"))
    except ValueError:
        pass
    else:
        return str(address) if address.version == 4 else ipv6_text(address)
    try:
        host = normalise_host(s)
    except UrlError as e:
        raise ValueError(str(e)) from e
    if _network(host) is not None:  # a browser's shorthand (2130706433, 0x7f.1, 10.1)
        raise ValueError(f"invalid IP address {s!r} (write IPv4 as four decimal numbers)")
    return host


def read_hosts_csv(source: str | os.PathLike[str], *, name: str | None = None) -> list[HostRow]:
    """The rows of a hosts CSV: ``source`` is a path (a ``Path``, or a str without a newline)
    or the CSV text itself (a str with a newline; errors then name ``name`` or ``<text>``)."""
    if isinstance(source, str) and "\n" in source:
        text, where = source, name or "<text>"
    else:
        where = name or os.fspath(source)
        try:
            text = Path(source).read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise HostsFileError(where, f"not UTF-8 text (byte {e.start})") from e
        except OSError as e:
            raise HostsFileError(where, f"cannot read: {e.strerror or e}") from e
    rows: list[HostRow] = []
    first_line: dict[str, int] = {}
    columns: list[str] | None = None
    try:
        for line, cells in records(text):
            if columns is None:
                columns = _header(where, line, cells)
                continue
            if len(cells) != len(columns):
                reason = f"expected {len(columns)} fields, got {len(cells)}"
                raise HostsFileError(where, reason, line)
            try:
                row = HostRow(**dict(zip(columns, cells, strict=True)))
            except HostRowError as e:
                raise HostsFileError(where, e.reason, line, e.field) from e
            if row.pattern in first_line:
                reason = f"duplicate of line {first_line[row.pattern]} ({row.pattern})"
                raise HostsFileError(where, reason, line, "pattern")
            first_line[row.pattern] = line
            rows.append(row)
    except CsvLineError as e:
        raise HostsFileError(where, f"malformed CSV ({e.reason})", e.line) from e
    if columns is None:
        raise HostsFileError(where, "no header (expected " + ",".join(REQUIRED_COLUMNS) + ")")
    return rows


def write_hosts_csv(rows: Iterable[HostRow], path: str | os.PathLike[str] | None = None) -> str:
    """The CSV text of ``rows`` (all five columns), also written to ``path`` when given."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HOSTS_COLUMNS)
    for r in rows:
        writer.writerow((r.pattern, r.provider, r.abuse_email, r.country, r.notes))
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8", newline="")
    return text


def _header(where: str, line: int, cells: list[str]) -> list[str]:
    columns = [c.strip().lower() for c in cells]
    expected = ", ".join(REQUIRED_COLUMNS) + " (and optionally notes)"
    for c in columns:
        if c not in HOSTS_COLUMNS:
            raise HostsFileError(where, f"unknown column {c!r} (expected {expected})", line)
        if columns.count(c) > 1:
            raise HostsFileError(where, f"column {c!r} given twice", line)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise HostsFileError(where, f"missing column {missing[0]!r} (expected {expected})", line)
    return columns


def _checked(check: Callable[[str], str], field: str, value: str) -> str:
    if not isinstance(value, str):
        raise HostRowError(field, f"must be text, not {type(value).__name__}")
    try:
        return check(value)
    except ValueError as e:
        raise HostRowError(field, str(e)) from e


def _text(field: str, value: str, limit: int, *, required: bool) -> str:
    if not isinstance(value, str):
        raise HostRowError(field, f"must be text, not {type(value).__name__}")
    s = value.strip()
    if required and not s:
        raise HostRowError(field, "empty")
    if _CONTROL.search(s):
        raise HostRowError(field, "contains a control character or line break")
    if len(s) > limit:
        raise HostRowError(field, f"longer than {limit} characters")
    return s


def _email(value: str) -> str:
    s = value.strip()
    m = _EMAIL.fullmatch(s)
    if not m:
        raise ValueError(f"{s!r} is not an e-mail address like abuse@example.net")
    local, domain = m.groups()
    if len(local) > 64:
        raise ValueError("the part before '@' is longer than 64 characters")
    try:
        domain = normalise_host(domain)
    except UrlError as e:
        raise ValueError(f"invalid domain in {s!r}: {e}") from e
    if "." not in domain or _network(domain) is not None:
        raise ValueError(f"{s!r} does not end in a domain name like example.net")
    return f"{local}@{domain}"


def _country(value: str) -> str:
    s = value.strip().upper()
    if not (len(s) == 2 and s.isascii() and s.isalpha()):
        raise ValueError(f"{value.strip()!r} is not two letters (ISO 3166-1 alpha-2, like GB)")
    if s == "UK":
        raise ValueError("'UK' is not an ISO 3166-1 code: the United Kingdom is 'GB'")
    if s not in COUNTRIES:
        raise ValueError(f"{s!r} is not an ISO 3166-1 alpha-2 country code")
    return s


def _looks_like_cidr(s: str) -> bool:
    return s.count("/") == 1 and s.rsplit("/", 1)[1].isdigit()


def _network(pattern: str) -> IPNetwork | None:
    """The network of an address or CIDR pattern, None for a host name."""
    try:
        return ipaddress.ip_network(pattern)
    except ValueError:
        return None


def _network_text(net: IPNetwork) -> str:
    """CIDR text; a /32 or /128 network is written as its address."""
    if net.prefixlen == net.max_prefixlen:
        address = net.network_address
        return str(address) if net.version == 4 else ipv6_text(address)  # type: ignore[arg-type]
    if net.version == 4:
        return str(net)
    return f"{ipv6_text(net.network_address)}/{net.prefixlen}"  # type: ignore[arg-type]

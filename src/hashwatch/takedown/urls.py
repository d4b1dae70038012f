"""URL intake for the takedown tracker: one canonical form, and one key, per reported URL.

Analysts paste URLs from reports, e-mails and spreadsheets; the same abuse URL then arrives in
many spellings. :func:`normalise_url` turns each into a :class:`NormalisedUrl` whose ``url``
is canonical (and whose ``key`` is that URL's sha256, for a unique index), or raises
:class:`UrlError` saying what is wrong. :func:`dedupe` does a whole paste at once.

Rules (close to what a browser does with what was typed, so the canonical URL fetches the
page the reporter saw):

* surrounding whitespace is trimmed, tabs and newlines inside are removed (wrapped e-mail
  lines); other control characters are refused. Backslashes before the query are slashes.
* ``http`` and ``https`` only; input without a scheme (``example.com/a``, ``//example.com``)
  is taken as ``http``. Scheme and host are lower-cased; the path and query keep their case.
* userinfo (``user:password@``) is refused, not dropped: a tracker must not store
  credentials, and ``https://trusted.example@evil.example/`` is a disguise an analyst should
  see and re-enter without.
* host: percent-decoded, then Unicode hosts mapped by UTS #46 and encoded to punycode
  (``display_host`` keeps the Unicode form for people); one trailing dot is dropped; labels
  are letters, digits, ``-`` and ``_``, at most 63 characters, 253 in all. A host ending in a
  number is an IPv4 address in any of the shorthand forms browsers accept (``2130706433``,
  ``0x7f.1``, ``0177.0.0.1``), written as a dotted quad: what a later SSRF check sees is
  the address that would really be contacted. IPv6 is written compressed (RFC 5952, hex
  only), in brackets in ``url``, bare in ``host``; zone identifiers are refused.
* IDNA: the PyPI ``idna`` package (IDNA 2008 with the UTS #46 mapping, as browsers do) when
  it is installed -- httpx depends on it, so it is -- else the standard library's
  ``encodings.idna`` (IDNA 2003: ``faß.de`` becomes ``fass.de`` there, ``xn--fa-hia.de``
  here). A label that UTS #46 maps but IDNA 2008 refuses (emoji: ``i❤.ws``) is encoded
  anyway, as browsers do, since such hosts resolve and do serve content.
* port: dropped when it is the scheme's default (80, 443); 1 to 65535 otherwise.
* path: ``.`` and ``..`` segments resolved, empty path is ``/``, percent-encoding normalised
  (hex upper-cased, unreserved characters decoded, reserved ones such as ``%2F`` kept
  encoded, characters not allowed in a URL and a ``%`` not starting an escape encoded as
  UTF-8); repeated slashes are kept (servers may treat ``//`` differently).
* query: parameters named in :data:`TRACKING_PARAMS` or starting with ``utm_`` (any case)
  are dropped, as are empty ``&&`` pieces; the others keep their order (servers may depend
  on it, so parameters are not sorted) and get the same percent-encoding normalisation
  (``+`` is kept as it is). A query left empty is dropped with its ``?``.
* the fragment is removed: it is never sent to the server.
* :data:`MAX_URL_LENGTH` characters at most, as given and as canonical.

``http`` and ``https`` stay distinct (different URLs, possibly different content), and so do
``www.`` and bare hosts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

try:  # IDNA 2008 + UTS #46; see the module docstring
    import idna as _idna
except ImportError:  # pragma: no cover - httpx brings it in
    _idna = None

MAX_URL_LENGTH = 8192
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
DEFAULT_PORTS = {"http": 80, "https": 443}

#: Query parameters that only track a click or a campaign and never select content.
#: (Every parameter starting with ``utm_`` is dropped as well.)
TRACKING_PARAMS: tuple[str, ...] = (
    "fbclid",  # Facebook
    "gclid",  # Google Ads
    "gclsrc",
    "gbraid",
    "wbraid",
    "dclid",  # Google Display
    "_ga",  # Google Analytics cross-domain
    "_gl",
    "msclkid",  # Microsoft Ads
    "mc_cid",  # Mailchimp
    "mc_eid",
    "igshid",  # Instagram share
    "yclid",  # Yandex
    "twclid",  # X/Twitter
    "ref_src",
    "ref_url",
    "ttclid",  # TikTok
    "li_fat_id",  # LinkedIn
    "mkt_tok",  # Marketo
    "_hsenc",  # HubSpot
    "_hsmi",
    "oly_anon_id",  # Omeda
    "oly_enc_id",
    "vero_id",  # Vero
)
TRACKING_PREFIXES: tuple[str, ...] = ("utm_",)

_TRACKING = frozenset(TRACKING_PARAMS)
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@")
_QUERY_SAFE = _PATH_SAFE | frozenset("/?")
_HEX = frozenset(string.hexdigits)
_LABEL_CHARS = frozenset(string.ascii_lowercase + string.digits + "-_")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_PORT_NEXT = re.compile(r"\d*(?:[/?#]|$)")
_TAB_NEWLINE = re.compile(r"[\t\r\n]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UrlError(ValueError):
    """Text that cannot be taken as a reported URL; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class NormalisedUrl:
    """A reported URL in canonical form.

    ``host`` is ASCII (punycode, lowercase; IPv6 without brackets), ``port`` is None for the
    scheme's default, ``path`` starts with ``/``, ``query`` has no ``?`` ('' when none).
    ``key`` is the sha256 (hex) of ``url``: equal for every spelling of the same URL.
    """

    url: str
    scheme: str
    host: str
    port: int | None
    path: str
    query: str
    key: str
    display_host: str

    def __str__(self) -> str:
        return self.url

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def authority(self) -> str:
        """Host (IPv6 in brackets) and non-default port: the HTTP ``Host`` header value."""
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.scheme]

    @property
    def target(self) -> str:
        """Path and query: what an HTTP request line asks for."""
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(frozen=True, slots=True)
class Intake:
    """What :func:`dedupe` made of a list of texts.

    ``urls``: the distinct URLs in first-seen order; ``duplicates``: each later text with
    the URL it repeats; ``rejected``: each text that is not a URL, with the reason.
    """

    urls: tuple[NormalisedUrl, ...]
    duplicates: tuple[tuple[str, NormalisedUrl], ...]
    rejected: tuple[tuple[str, str], ...]


def normalise_url(text: str) -> NormalisedUrl:
    """The canonical form of a reported URL; raises :class:`UrlError` saying what is wrong."""
    s = text.strip()
    if not s:
        raise UrlError("empty URL")
    if len(s) > MAX_URL_LENGTH:
        raise UrlError(f"URL longer than {MAX_URL_LENGTH} characters")
    s = _TAB_NEWLINE.sub("", s)
    if bad := _CONTROL.search(s):
        raise UrlError(f"control character {bad.group()!r} in URL")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UrlError("URL is not valid Unicode (lone surrogate)") from e
    head, sep, tail = _split_first(s, "?#")
    scheme, rest = _split_scheme(head.replace("\\", "/") + sep + tail)
    authority, sep, rest = _split_first(rest.split("#", 1)[0], "/?")
    path, _, query = (sep + rest).partition("?")
    host, display, port = _authority(authority, scheme)
    path = _path(path)
    query = _query(query)
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}{'' if port is None else f':{port}'}{path}"
    if query:
        url += f"?{query}"
    if len(url) > MAX_URL_LENGTH:
        raise UrlError(f"URL longer than {MAX_URL_LENGTH} characters once normalised")
    key = hashlib.sha256(url.encode("ascii")).hexdigest()
    return NormalisedUrl(url, scheme, host, port, path, query, key, display)


def dedupe(texts: Iterable[str]) -> Intake:
    """Normalise every text and keep one of each URL (blank texts are skipped)."""
    seen: dict[str, NormalisedUrl] = {}
    duplicates: list[tuple[str, NormalisedUrl]] = []
    rejected: list[tuple[str, str]] = []
    for text in texts:
        if not text.strip():
            continue
        try:
            nu = normalise_url(text)
        except UrlError as e:
            rejected.append((text, str(e)))
            continue
        if nu.key in seen:
            duplicates.append((text, seen[nu.key]))
        else:
            seen[nu.key] = nu
    return Intake(tuple(seen.values()), tuple(duplicates), tuple(rejected))


def normalise_host(text: str) -> str:
    """The canonical ASCII form of a host name or IP address (IPv6 with or without brackets),
    as :func:`normalise_url` writes it in ``host``; raises :class:`UrlError`."""
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        return _ipv6(s[1:-1])
    if ":" in s:
        return _ipv6(s)
    return _host(s)[0]


def _split_first(s: str, chars: str) -> tuple[str, str, str]:
    """``s`` cut at the first of ``chars``: (before, the char or '', after)."""
    cut = min((i for i in (s.find(c) for c in chars) if i >= 0), default=-1)
    return (s, "", "") if cut < 0 else (s[:cut], s[cut], s[cut + 1 :])


def _split_scheme(s: str) -> tuple[str, str]:
    """(scheme, what follows ``scheme://``); input without a scheme is ``http``."""
    m = _SCHEME.match(s)
    if m:
        scheme, rest = m.group(1).lower(), s[m.end() :]
        if scheme in DEFAULT_PORTS:
            return scheme, rest.lstrip("/")  # http:/x and http:///x are http://x to browsers
        host_and_port = "." in scheme or _PORT_NEXT.match(rest)
        if rest.startswith("//") or not host_and_port:
            raise UrlError(f"unsupported scheme {scheme!r} (http and https only)")
        # "example.com:8080/a", "localhost:8080": a host and a port, no scheme
    if s.startswith("//"):
        return "http", s[2:]
    if s.startswith("/"):
        raise UrlError("no host (a path alone is not a URL)")
    return "http", s


def _authority(authority: str, scheme: str) -> tuple[str, str, int | None]:
    """(ASCII host, display host, port or None for the default)."""
    if "@" in authority:
        raise UrlError("userinfo not allowed (remove the 'user:password@' part)")
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise UrlError("invalid IPv6 address (no closing ']')")
        after = authority[end + 1 :]
        if after and not after.startswith(":"):
            raise UrlError(f"unexpected {after!r} after the IPv6 address")
        host = _ipv6(authority[1:end])
        return host, host, _port(after[1:] if after else "", scheme)
    host_text, colon, port_text = authority.rpartition(":")
    if not colon:
        host_text, port_text = authority, ""
    elif ":" in host_text:
        raise UrlError("an IPv6 address must be in brackets, like http://[2001:db8::1]/")
    host, display = _host(host_text)
    return host, display, _port(port_text, scheme)


def _port(text: str, scheme: str) -> int | None:
    if not text:
        return None
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > 5:
        raise UrlError(f"invalid port {text[:20]!r}")
    port = int(digits)
    if not 0 < port <= 65535:
        raise UrlError(f"invalid port {port} (1 to 65535)")
    return None if port == DEFAULT_PORTS[scheme] else port


def _host(text: str) -> tuple[str, str]:
    """(ASCII host, display host) of a host that is not in brackets."""
    if "%" in text:
        try:
            text = unquote_to_bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise UrlError("invalid percent-encoding in host (not UTF-8)") from e
    if not text.isascii():
        text = _uts46(text)
    text = text.lower()
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise UrlError("no host")
    if _ends_in_number(text):
        address = _ipv4(text)
        return address, address
    ascii_labels: list[str] = []
    shown: list[str] = []
    for label in text.split("."):
        if not label:
            raise UrlError(f"empty label in host {text!r}")
        a, u = _label(label)
        if len(a) > MAX_LABEL_LENGTH:
            raise UrlError(f"host label longer than {MAX_LABEL_LENGTH} characters ({a[:20]}...)")
        ascii_labels.append(a)
        shown.append(u)
    host = ".".join(ascii_labels)
    if len(host) > MAX_HOST_LENGTH:
        raise UrlError(f"host name longer than {MAX_HOST_LENGTH} characters")
    return host, ".".join(shown)


def _uts46(text: str) -> str:
    """UTS #46 mapping (case folding, full-width forms, ideographic full stops)."""
    if _idna is None:  # pragma: no cover - stdlib IDNA 2003 maps per label (nameprep)
        return text.replace("\u3002", ".").replace("\uff0e", ".").replace("\uff61", ".")
    try:
        return _idna.uts46_remap(text, std3_rules=False, transitional=False)
    except _idna.IDNAError as e:
        raise UrlError(f"invalid internationalised host name: {e}") from e


def _label(label: str) -> tuple[str, str]:
    """(ASCII, Unicode) of one lower-case host label."""
    if label.isascii():
        if bad := next((c for c in label if c not in _LABEL_CHARS), None):
            raise UrlError(f"invalid character {bad!r} in host")
        return label, _ulabel(label) if label.startswith("xn--") else label
    if _idna is None:  # pragma: no cover
        try:
            return label.encode("idna").decode("ascii"), label
        except UnicodeError as e:
            raise UrlError(f"invalid internationalised host label {label!r}: {e}") from e
    try:
        return _idna.alabel(label).decode("ascii"), label
    except _idna.IDNAError:  # UTS #46 accepts it (it was mapped): encode it as browsers do
        try:
            return "xn--" + label.encode("punycode").decode("ascii"), label
        except UnicodeError as e:  # pragma: no cover - punycode encodes any str
            raise UrlError(f"invalid internationalised host label {label!r}") from e


def _ulabel(label: str) -> str:
    """The Unicode form of a punycode label; refuses one that does not decode to a label
    UTS #46 would leave as it is (ASCII only, control characters, upper case...)."""
    try:
        shown = label[4:].encode("ascii").decode("punycode")
        valid = bool(shown) and not shown.isascii() and "." not in shown
        if valid and _idna is not None:
            valid = _idna.uts46_remap(shown, std3_rules=False, transitional=False) == shown
    except UnicodeError:  # idna.IDNAError is one
        valid = False
    if not valid:
        raise UrlError(f"invalid punycode label {label!r}")
    return shown


def _ends_in_number(host: str) -> bool:
    """WHATWG: a host whose last label is decimal digits or 0x-hex is an IPv4 address."""
    last = host.rsplit(".", 1)[-1]
    if last.isascii() and last.isdigit():
        return True
    return last.startswith("0x") and _HEX.issuperset(last[2:])


def _ipv4(host: str) -> str:
    """Dotted quad of an IPv4 address in any WHATWG form (1 to 4 parts, dec/hex/octal)."""
    parts = host.split(".")
    numbers = [n for n in map(_ipv4_number, parts) if n is not None]
    if len(parts) > 4 or len(numbers) < len(parts):
        raise UrlError(f"invalid IPv4 address {host[:60]!r}")
    *high, last = numbers
    if any(n > 255 for n in high) or last >= 256 ** (4 - len(high)):
        raise UrlError(f"invalid IPv4 address {host[:60]!r} (a part is too large)")
    value = last + sum(n << (8 * (3 - i)) for i, n in enumerate(high))
    return str(ipaddress.IPv4Address(value))


def _ipv4_number(part: str) -> int | None:
    if part.startswith("0x"):
        digits, base, allowed = part[2:], 16, _HEX
    elif len(part) > 1 and part.startswith("0"):
        digits, base, allowed = part[1:], 8, frozenset("01234567")
    else:
        digits, base, allowed = part, 10, frozenset(string.digits)
    if not digits:
        return 0 if part else None  # "0x" is 0; an empty part ("1..2") is invalid
    if len(digits) > 40 or not allowed.issuperset(digits):
        return None
    return int(digits, base)


def _ipv6(text: str) -> str:
    if "%" in text:
        raise UrlError("IPv6 zone identifiers are not allowed")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError as e:
        raise UrlError(f"invalid IPv6 address {text[:60]!r}") from e
    return ipv6_text(address)


def ipv6_text(address: ipaddress.IPv6Address) -> str:
    """RFC 5952 text of an IPv6 address, hexadecimal only (the same on every Python)."""
    packed = address.packed
    pieces = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    start, length, i = -1, 1, 0
    while i < 8:  # the longest run of two or more zero pieces, the first of equals
        j = i
        while j < 8 and pieces[j] == 0:
            j += 1
        if j - i > length:
            start, length = i, j - i
        i = max(j, i + 1)
    if start < 0:
        return ":".join(f"{p:x}" for p in pieces)
    left = ":".join(f"{p:x}" for p in pieces[:start])
    right = ":".join(f"{p:x}" for p in pieces[start + length :])
    return f"{left}::{right}"


def _path(path: str) -> str:
    """Percent-encoding normalised per segment, then dot segments resolved (RFC 3986 5.2.4)."""
    segments = [_encoding(s, _PATH_SAFE) for s in path.split("/")[1:]] if path else [""]
    out: list[str] = []
    for n, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and out:
                out.pop()
            if n == len(segments) - 1:
                out.append("")  # "/a/b/.." is "/a/"
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _query(query: str) -> str:
    kept = []
    for piece in query.split("&"):
        name = piece.split("=", 1)[0]
        if piece and not _is_tracking(name):
            kept.append(_encoding(piece, _QUERY_SAFE))
    return "&".join(kept)


def _is_tracking(name: str) -> bool:
    plain = unquote_to_bytes(name).decode("utf-8", "replace").lower()
    return plain in _TRACKING or plain.startswith(TRACKING_PREFIXES)


def _encoding(text: str, safe: frozenset[str]) -> str:
    """Escapes upper-cased, unreserved characters decoded, other unsafe characters escaped."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "%" and i + 2 < n and _HEX.issuperset(text[i + 1 : i + 3]):
            byte = chr(int(text[i + 1 : i + 3], 16))
            out.append(byte if byte in _UNRESERVED else text[i : i + 3].upper())
            i += 3
            continue
        out.append(c if c in safe else "".join(f"%{b:02X}" for b in c.encode("utf-8")))
        i += 1
    return "".join(out)

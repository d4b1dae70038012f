"""The context of a detection, captured at the moment of detection.

An incident is worth more to whoever follows it up when it says where the file came from,
whose it was and where the machine was at the time: hours later the laptop may be on another
network and the browser history gone. Everything here reads metadata only (extended
attributes, the route table, resolv.conf, the utmp sessions); file content is never opened.

Every function here is called on the detection path, so none of them may raise: what cannot
be told is reported as None ("unknown"), never guessed.
"""

from __future__ import annotations

import ipaddress
import os
import plistlib
import re
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

try:
    import pwd
except ImportError:  # Windows
    pwd = None  # type: ignore[assignment]

#: The longest origin URL reported (the server stores at most this many characters).
MAX_URL = 4096
#: How many bytes of an attribute or alternate stream are read at most.
MAX_ATTR = 64 * 1024
#: How many addresses a snapshot carries at most (the server accepts at most this many).
MAX_ADDRESSES = 32
#: The longest network name reported (the server stores at most this many characters).
MAX_NAME = 255

XDG_ORIGIN = "user.xdg.origin.url"
XDG_REFERRER = "user.xdg.referrer.url"
MAC_WHERE_FROMS = "com.apple.metadata:kMDItemWhereFroms"
ZONE_STREAM = ":Zone.Identifier"

# a URL with an authority: scheme "://" something
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# schemes whose "URL" is (or points at) content rather than a place it came from
_REFUSED_SCHEMES = frozenset({"data", "about", "javascript", "blob", "filesystem"})


# -- where the file came from -----------------------------------------------------------------


def origin_url(path: str) -> str | None:
    """Where the file was downloaded from, if the OS recorded it; None otherwise.

    Browsers and download tools record the source URL next to the file (an extended
    attribute, or the Zone.Identifier stream on Windows); it survives the browser history
    being cleared, so it is read at detection. Never raises.
    """
    try:
        if sys.platform == "win32":
            return _origin_windows(path)
        if sys.platform == "darwin":
            return _origin_macos(path)
        if hasattr(os, "getxattr"):
            return _origin_xattr(path)
    except Exception:  # detection must go on whatever the attribute holds
        return None
    return None


def clean_url(value: bytes | str | None) -> str | None:
    """A recorded URL as reported, or None if it does not look like a place.

    Attributes are written by any program, so they are treated as untrusted: decoded
    leniently, cut to a sane length, and only kept if they are a URL with an authority.
    data: URLs (and the like) are refused because they carry the content itself, and
    credentials in the authority are dropped because they are not the incident's business.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value[:MAX_ATTR].decode("utf-8", errors="replace")
    text = value.replace("\x00", "").strip()
    if not text or _CONTROL.search(text):
        return None
    m = _URL.match(text)
    if m is None:
        return None
    scheme = text.split(":", 1)[0].lower()
    if scheme in _REFUSED_SCHEMES:
        return None
    authority = m.group(0)[len(scheme) + 3 :]
    if "@" in authority:
        prefix = text[: len(scheme) + 3]
        text = prefix + text[len(prefix) + authority.rindex("@") + 1 :]
    if len(text) <= len(scheme) + 3:
        return None
    return text[:MAX_URL]


def _origin_xattr(path: str) -> str | None:
    """Linux (and any OS whose os module has getxattr): the freedesktop.org attributes."""
    for name in (XDG_ORIGIN, XDG_REFERRER):
        try:
            url = clean_url(os.getxattr(path, name))
        except OSError:
            continue
        if url is not None:
            return url
    return None


def _origin_windows(path: str) -> str | None:
    """Windows: the Mark-of-the-Web stream written by browsers, mail and archive tools."""
    try:
        with open(path + ZONE_STREAM, "rb") as f:
            data = f.read(MAX_ATTR)
    except OSError:
        return None
    return parse_zone_identifier(_decode_text(data))


def _decode_text(data: bytes) -> str:
    """Zone.Identifier is usually ANSI/UTF-8, but some tools write UTF-16 with a BOM."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="replace")


def parse_zone_identifier(text: str) -> str | None:
    """The source URL in a Zone.Identifier stream: HostUrl, else ReferrerUrl.

    HostUrl is the file's own URL; browsers write "about:internet" there when they do not
    know it, which is refused, and then the referring page is the best there is.
    """
    values: dict[str, str] = {}
    for line in text[:MAX_ATTR].splitlines():
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if sep and key in ("hosturl", "referrerurl") and key not in values:
            values[key] = value
    for key in ("hosturl", "referrerurl"):
        url = clean_url(values.get(key))
        if url is not None:
            return url
    return None


def _origin_macos(path: str) -> str | None:
    """macOS: Spotlight's "where from" attribute, written by Safari, Chrome, Mail, AirDrop."""
    data = _darwin_getxattr(path, MAC_WHERE_FROMS)
    return parse_where_froms(data) if data is not None else None


def parse_where_froms(data: bytes) -> str | None:
    """The source URL in a kMDItemWhereFroms value (a plist list: the URL, then the referrer).

    The first entry that is a URL is reported, so a refused first entry (a data: URL)
    falls back to the page it came from, as on Linux.
    """
    if not data or len(data) > MAX_ATTR:
        return None
    try:
        value = plistlib.loads(data)
    except Exception:  # any malformed plist (InvalidFileException, ValueError...)
        return None
    entries = [value] if isinstance(value, str | bytes) else value
    if not isinstance(entries, list):
        return None
    for entry in entries[:8]:
        if isinstance(entry, str | bytes):
            url = clean_url(entry)
            if url is not None:
                return url
    return None


@lru_cache(maxsize=1)
def _libc_getxattr() -> Callable | None:
    """libc's getxattr with the macOS signature; Python's os module has none on macOS."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.getxattr
    except (OSError, AttributeError):
        return None
    # ssize_t getxattr(const char *path, const char *name, void *value, size_t size,
    #                  u_int32_t position, int options)
    fn.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint32,
        ctypes.c_int,
    ]
    fn.restype = ctypes.c_ssize_t
    return fn


def _darwin_getxattr(path: str, name: str) -> bytes | None:
    """One extended attribute's value (at most MAX_ATTR bytes), or None. Only called on macOS."""
    import ctypes

    fn = _libc_getxattr()
    if fn is None:
        return None
    p, n = os.fsencode(path), name.encode()
    size = fn(p, n, None, 0, 0, 0)
    if size <= 0 or size > MAX_ATTR:
        return None
    buf = ctypes.create_string_buffer(size)
    got = fn(p, n, buf, size, 0, 0)
    if got < 0:  # e.g. ERANGE: the value grew in between
        return None
    return buf.raw[: min(got, size)]


# -- whose it was -----------------------------------------------------------------------------


def file_owner(st: os.stat_result) -> str | None:
    """The name of the file's owner on POSIX; None on Windows or for an unknown uid."""
    if pwd is None:
        return None
    try:
        return pwd.getpwuid(st.st_uid).pw_name
    except (KeyError, OverflowError, TypeError, ValueError):
        return None


def console_user() -> str | None:
    """Who is logged in at the console or desktop, if anyone; the most recent session wins.

    A remote (ssh, RDP) session is only used when there is no local one: the person at the
    keyboard is who the machine is in the hands of.
    """
    try:
        import psutil

        sessions = [u for u in psutil.users() if u.name]
    except Exception:  # no utmp, no psutil, access denied: unknown
        return None
    if not sessions:
        return None
    best = max(sessions, key=lambda u: (_session_rank(u), u.started or 0.0))
    return best.name


_LOCAL_TERMINAL = re.compile(r"console|tty\d*|ttyv\d+|seat\d+|:\d+(\.\d+)?", re.ASCII)
_DISPLAY_HOST = re.compile(r":\d+(\.\d+)?", re.ASCII)


def _session_rank(u) -> int:
    """2 for a console/desktop session, 1 for another local one, 0 for a remote one."""
    terminal = (u.terminal or "").lower()
    host = u.host or ""
    if _LOCAL_TERMINAL.fullmatch(terminal) or _DISPLAY_HOST.fullmatch(host):
        return 2
    if not host or host in ("localhost", "127.0.0.1", "::1") or host.startswith(":"):
        return 1
    return 0


def _is_person_uid(uid: int) -> bool:
    """Whether a uid is in the range given to people rather than to system accounts."""
    if uid in (65534, 4294967294, 4294967295):  # nobody / nfsnobody / -1
        return False
    first = 501 if sys.platform == "darwin" else 1000
    return uid >= first


def os_account(path_st: os.stat_result) -> str | None:
    """The account the file is attributed to: its owner if a person, else who is at the console.

    Files written by a service (root, www-data) or on filesystems without owners say nothing
    about a person; the console user is the better lead then, and the owner the last resort.
    """
    try:
        owner = file_owner(path_st)
        if owner is not None and _is_person_uid(path_st.st_uid):
            return owner
        return console_user() or owner
    except Exception:  # never on the detection path
        return None


# -- where the machine was --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkContext:
    """The machine's network at one moment; None fields are "could not tell"."""

    online: bool | None
    on_org_network: bool | None
    addresses: list[str] = field(default_factory=list)
    network_name: str | None = None

    def to_dict(self) -> dict:
        """The incident's "context" object as the server accepts it."""
        return {
            "online": self.online,
            "on_org_network": self.on_org_network,
            "addresses": list(self.addresses),
            "network_name": self.network_name,
        }


_RTF_UP = 0x0001
_RTF_REJECT = 0x0200


class NetworkProbe:
    """Tells, cheaply and without any traffic, whether the machine is online and where.

    No packet is sent: a detection can happen on a plane or in a hotel, and probing the
    network would both be slow and tell the network about the agent. The route table,
    the interfaces and resolv.conf are what the OS already knows.
    """

    def __init__(
        self,
        org_networks: Sequence[str] = (),
        dns_suffixes: Sequence[str] = (),
        resolv_conf: str = "/etc/resolv.conf",
        route_files: tuple[str, str] = ("/proc/net/route", "/proc/net/ipv6_route"),
        addresses: Callable[[], list[str]] | None = None,
    ):
        self.org_networks = _parse_networks(org_networks)
        self.dns_suffixes = tuple(s for s in (_norm_domain(x) for x in dns_suffixes) if s)
        self.resolv_conf = resolv_conf
        self.route_files = route_files
        self._addresses = addresses

    def snapshot(self, server_reachable: bool | None = None) -> NetworkContext:
        """The network context now. Never raises; unknown parts are None."""
        try:
            return self._snapshot(server_reachable)
        except Exception:  # a detection is reported without context rather than lost
            return NetworkContext(
                online=True if server_reachable else None, on_org_network=None, addresses=[]
            )

    def _snapshot(self, server_reachable: bool | None) -> NetworkContext:
        addrs, up = self._read_addresses()
        domains = read_search_domains(self.resolv_conf)
        return NetworkContext(
            online=self._online(server_reachable, addrs, up),
            on_org_network=self._on_org(addrs, domains),
            addresses=addrs if addrs is not None else [],
            network_name=domains[0][:MAX_NAME] if domains else None,
        )

    def _read_addresses(self) -> tuple[list[str] | None, set[str] | None]:
        """The usable addresses (None if unknown) and the up interfaces (None if unknown)."""
        try:
            if self._addresses is not None:
                return usable_addresses(self._addresses()), None
            return _system_addresses()
        except Exception:  # psutil missing or failing
            return None, None

    def _online(
        self, server_reachable: bool | None, addrs: list[str] | None, up: set[str] | None
    ) -> bool | None:
        if server_reachable:
            return True
        if addrs is None:
            return None
        if not addrs:
            return False
        route_ifaces = default_route_interfaces(self.route_files)
        if route_ifaces is None:  # no route table to read (not Linux): cannot tell
            return None
        if up is not None:
            route_ifaces = {i for i in route_ifaces if i in up}
        return bool(route_ifaces)

    def _on_org(self, addrs: list[str] | None, domains: list[str]) -> bool | None:
        if not self.org_networks and not self.dns_suffixes:
            return None
        for a in addrs or ():
            ip = ipaddress.ip_address(a)
            if any(ip.version == n.version and ip in n for n in self.org_networks):
                return True
        if any(domain_matches(d, s) for d in domains for s in self.dns_suffixes):
            return True
        if addrs is None and not domains:
            return None  # nothing could be read: that is not evidence of being away
        return False


def _parse_networks(org_networks: Sequence[str]) -> tuple:
    """The configured networks, refusing a bad one at start rather than ignoring it silently."""
    if isinstance(org_networks, str):
        org_networks = [org_networks]
    nets = []
    for n in org_networks:
        try:
            nets.append(ipaddress.ip_network(str(n).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"org network {n!r} is not a network in CIDR form (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(nets)


def _norm_domain(name: str) -> str:
    return name.strip().strip(".").lower()


def domain_matches(domain: str, suffix: str) -> bool:
    """Whether domain is suffix or under it, on a label boundary (not badexample.com)."""
    domain, suffix = _norm_domain(domain), _norm_domain(suffix)
    if not domain or not suffix:
        return False
    return domain == suffix or domain.endswith("." + suffix)


def read_search_domains(resolv_conf: str) -> list[str]:
    """The DNS search list from resolv.conf (the last search/domain line wins, as in libc)."""
    try:
        with open(resolv_conf, encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_ATTR)
    except OSError:
        return []
    domains: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("search", "domain"):
            found = [_norm_domain(w) for w in words[1:]]
            domains = [d for d in found if d and not d.startswith(("#", ";"))]
    return domains


def usable_addresses(raw: Iterable[str]) -> list[str]:
    """The addresses that place the machine on a network: not loopback, link-local, etc."""
    out: list[str] = []
    for a in raw:
        try:
            ip = ipaddress.ip_address(str(a).split("%", 1)[0])
        except ValueError:
            continue
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        text = str(ip)
        if text not in out:
            out.append(text)
        if len(out) >= MAX_ADDRESSES:
            break
    return out


def _system_addresses() -> tuple[list[str], set[str] | None]:
    """The machine's usable addresses on up interfaces, and the up interfaces, via psutil."""
    import psutil

    stats = psutil.net_if_stats()
    up = {name for name, s in stats.items() if s.isup}
    raw = [
        a.address
        for name, addrs in psutil.net_if_addrs().items()
        if name in up or name not in stats
        for a in addrs
        if a.family in (socket.AF_INET, socket.AF_INET6)
    ]
    return usable_addresses(raw), (up if stats else None)


def default_route_interfaces(route_files: tuple[str, str]) -> set[str] | None:
    """The interfaces with a default route (Linux /proc/net files); None if none is readable."""
    v4, v6 = route_files
    found4 = _scan_routes(v4, _default_v4)
    found6 = _scan_routes(v6, _default_v6)
    if found4 is None and found6 is None:
        return None
    return (found4 or set()) | (found6 or set())


def _scan_routes(path: str, parse: Callable[[list[str]], str | None]) -> set[str] | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            ifaces = set()
            for i, line in enumerate(f):
                if i > 100_000:  # a router's full table: an endpoint does not get here
                    break
                iface = parse(line.split())
                if iface is not None:
                    ifaces.add(iface)
            return ifaces
    except OSError:
        return None


def _flags(word: str) -> int:
    try:
        return int(word, 16)
    except ValueError:
        return 0


def _default_v4(cols: list[str]) -> str | None:
    """/proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ..."""
    if len(cols) < 8 or cols[1] != "00000000" or cols[7] != "00000000":
        return None
    flags = _flags(cols[3])
    if not flags & _RTF_UP or flags & _RTF_REJECT or cols[0] == "lo":
        return None
    return cols[0]


def _default_v6(cols: list[str]) -> str | None:
    """/proc/net/ipv6_route: dest plen src plen nexthop metric refcnt use flags iface."""
    if len(cols) < 10 or cols[0] != "0" * 32 or cols[1] != "00":
        return None
    flags = _flags(cols[8])
    if not flags & _RTF_UP or flags & _RTF_REJECT or cols[9] == "lo":
        return None
    return cols[9]


# -- when -------------------------------------------------------------------------------------


def local_now() -> datetime:
    """Now, in local time with its UTC offset: what the person on the machine saw on the clock."""
    return datetime.now(UTC).astimezone()


def iso_local(ts: float) -> str:
    """A POSIX timestamp as local ISO-8601 with offset, to the second (for file times).

    File times are set by any program (touch -d 9999-12-31), so out-of-range ones are
    given in UTC, clamped if need be, rather than failing the detection.
    """
    try:
        return datetime.fromtimestamp(ts, UTC).astimezone().isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        pass
    try:
        dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=ts)
    except (OverflowError, ValueError):
        dt = datetime.max.replace(tzinfo=UTC) if ts > 0 else datetime.min.replace(tzinfo=UTC)
    return dt.isoformat(timespec="seconds")

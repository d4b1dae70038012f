"""Optional HTTP recheck of a reported URL: is the reported content still served there?

Off by default in the product: only deployments authorised to request such URLs (hotlines)
turn it on. :func:`recheck` requests the URL once, follows redirects itself, hashes what is
served *in memory* with the engine and compares it with the report's hashes. The body is read
in chunks up to :attr:`RecheckPolicy.max_body_bytes`, never written to disk, logged or
returned: a :class:`RecheckResult` holds the outcome, status, URLs, the matching hash's type
and distance, and the size and sniffed media type of what was served -- never content.

Outcomes: ``removed`` (HTTP 404 or 410 at the end of the redirects, or a host name that does
not exist: NXDOMAIN), ``live_match`` (a reported hash matched: exact, or PDQ within
:attr:`RecheckPolicy.pdq_threshold`), ``live_no_match`` (served, nothing matched) and
``error`` (inconclusive, never taken as removed: timeouts, refused connections, TLS failures,
bodies over the limit, SSRF refusals, rate limiting, any other status such as 403, 451 or
500). Containers (zip, rar...) are hashed as files, not opened: opening some needs a
temporary directory, and the report's hashes are of what the URL served.

SSRF protection. The host is resolved here (``socket.getaddrinfo``, or the ``resolver``
given) and refused when *any* address is loopback, private, link-local (169.254.0.0/16 with
the cloud metadata address), multicast, reserved, unspecified, shared (100.64.0.0/10) or
otherwise not global -- also inside IPv4-mapped, 6to4 and NAT64 IPv6 addresses -- unless it
lies in :attr:`RecheckPolicy.allowed_private`. The connection goes to the first address that
accepts it, and a redirect back to a host already met in the recheck reuses that address:
each host name is resolved once per recheck. Every redirect is re-validated the same way
(a non-http(s) ``Location`` is refused); IP hosts in shorthand (``http://2130706433/``) are
canonicalised by :func:`~hashwatch.takedown.urls.normalise_url` before the check.

Why ``http.client`` and not httpx: the connection must go to the address that was checked
(resolving again would let DNS rebinding swap in an internal one), while the ``Host`` header,
TLS SNI and certificate check use the host name. ``http.client`` lets a small subclass open
the socket to the pinned address and wrap it with ``SSLContext.wrap_socket(server_hostname=
host)``; it never reads proxy settings from the environment (a proxy would defeat pinning),
keeps no connection pool, and ``read1`` returns after one socket read, so per-read timeouts
shrink to the overall deadline. A watchdog shuts the socket down when the deadline passes,
which bounds slow handshakes and drip-fed headers too; DNS look-ups run in a helper thread
bounded by the same deadline.

Rate limiting: one request per host name (:attr:`RecheckPolicy.min_interval`) through a
:class:`HostRateLimiter`; hops of one recheck to a host it already reached are not limited
again. Without a ``limiter`` argument a process-wide one per interval is used.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Literal
from urllib.parse import urljoin

from .. import __version__
from ..hashing import HashOptions, hash_bytes
from ..lists.model import HashList, ListEntry
from ..match import Matcher, MatchSettings
from ..signals import PDQ_DEFAULT_THRESHOLD, InvalidSignal
from ..signals import get as signal_type
from .urls import NormalisedUrl, UrlError, normalise_url

Outcome = Literal["removed", "live_match", "live_no_match", "error"]
REMOVED: Outcome = "removed"
LIVE_MATCH: Outcome = "live_match"
LIVE_NO_MATCH: Outcome = "live_no_match"
ERROR: Outcome = "error"

#: Signal types a report's hashes may have.
RECHECK_TYPES = ("md5", "sha1", "sha256", "pdq", "vpdq")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
GONE_STATUSES = frozenset({404, 410})
_CHUNK = 64 << 10
_HASH_OPTIONS = HashOptions(look_inside=False)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port) -> addresses``; raises ``socket.gaierror`` as ``getaddrinfo`` does.
Resolver = Callable[[str, int], Sequence[str]]


@dataclass(frozen=True, slots=True)
class RecheckPolicy:
    """How a recheck may reach the network. Times are in seconds."""

    connect_timeout: float = 10.0
    #: Longest wait for any one read (headers, each body chunk).
    read_timeout: float = 10.0
    #: The whole recheck, every redirect included (DNS, connecting, reading).
    deadline: float = 60.0
    max_body_bytes: int = 50 << 20
    max_redirects: int = 5
    #: Least time between two rechecks of one host name.
    min_interval: float = 10.0
    user_agent: str = f"hashwatch-recheck/{__version__}"
    #: Networks that may be reached although private or loopback (CIDR text).
    allowed_private: tuple[str, ...] = ()
    verify_tls: bool = True
    #: CA certificates (PEM file) to trust instead of the system's.
    ca_file: str | None = None
    pdq_threshold: int = PDQ_DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "deadline"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0")
        if self.max_body_bytes < 1 or self.max_redirects < 0 or self.min_interval < 0:
            raise ValueError("max_body_bytes must be >= 1, max_redirects and min_interval >= 0")
        if any(c in self.user_agent for c in "\r\n\0"):
            raise ValueError("user_agent must be one line")
        allowed_networks(self)  # raises ValueError naming a bad network


@dataclass(frozen=True, slots=True)
class HashHit:
    """A reported hash that the served content matched (``distance`` 0 for exact types)."""

    signal_type: str
    signal: str
    distance: int


@dataclass(frozen=True, slots=True)
class RecheckResult:
    """What a recheck found.

    ``chain`` is the URL and every redirect target in order, ``final_url`` the last of them
    (a refused target is listed, though never requested); ``status`` is what ``final_url``
    answered (None: no answer). ``size`` and ``media`` describe a body that was read and
    hashed; ``matches`` the reported hashes it matched.
    """

    outcome: Outcome
    url: str
    final_url: str | None
    status: int | None
    checked_at: datetime
    reason: str
    matches: tuple[HashHit, ...] = ()
    chain: tuple[str, ...] = ()
    size: int | None = None
    media: str | None = None


class HostRateLimiter:
    """At most one request per host name every ``min_interval`` seconds (thread-safe)."""

    def __init__(self, min_interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.min_interval = min_interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_time(self, host: str) -> float:
        """Seconds until ``host`` may be requested again (0.0: now)."""
        with self._lock:
            return self._wait(host.lower(), self._clock())

    def try_acquire(self, host: str) -> float:
        """Record a request to ``host`` and return 0.0 if one is allowed now; else return
        the seconds to wait, recording nothing."""
        key, now = host.lower(), self._clock()
        with self._lock:
            wait = self._wait(key, now)
            if wait == 0.0:
                if len(self._last) > 4096:  # forget hosts whose interval has passed
                    self._last = {h: t for h, t in self._last.items() if self._wait(h, now)}
                self._last[key] = now
            return wait

    def _wait(self, key: str, now: float) -> float:
        last = self._last.get(key)
        return 0.0 if last is None else max(0.0, last + self.min_interval - now)


def recheck(
    url: str | NormalisedUrl,
    hashes: Iterable[tuple[str, str]],
    policy: RecheckPolicy | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    limiter: HostRateLimiter | None = None,
    resolver: Resolver | None = None,
) -> RecheckResult:
    """Request ``url`` and compare what it serves with ``hashes`` (``(signal_type, value)``
    pairs of the report). ``clock`` gives ``checked_at`` (UTC now by default). Network
    failures are results (``error``); raises ValueError only for bad ``hashes``."""
    policy = policy or RecheckPolicy()
    checked_at = (clock or _utc_now)()
    matcher = _matcher(hashes, policy)
    try:
        start = normalise_url(str(url))
    except UrlError as e:
        return RecheckResult(ERROR, str(url), None, None, checked_at, f"invalid URL: {e}")
    limiter = limiter or _shared_limiter(policy.min_interval)
    check = _Check(policy, limiter, resolver or resolve_host, matcher)
    try:
        found = check.run(start)
    finally:
        check.watchdog.cancel()
    chain = tuple(check.chain)
    return RecheckResult(
        found.outcome,
        start.url,
        chain[-1] if chain else None,
        found.status,
        checked_at,
        found.reason,
        found.matches,
        chain,
        found.size,
        found.media,
    )


def resolve_host(host: str, port: int) -> list[str]:
    """Every address of ``host`` (getaddrinfo order, no repeats)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def allowed_networks(policy: RecheckPolicy) -> list[IPNetwork]:
    """The policy's ``allowed_private`` networks; raises ValueError naming a bad one."""
    out = []
    for text in policy.allowed_private:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=True))
        except ValueError as e:
            raise ValueError(f"allowed_private: invalid network {text!r} ({e})") from e
    return out


def address_refusal(address: str, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why a request must not go to ``address`` (e.g. "a loopback address"), or None."""
    try:
        ip: IPAddress = ipaddress.ip_address(address)
    except ValueError:
        return f"not an IP address: {address!r}"
    if isinstance(ip, ipaddress.IPv6Address):
        inner, form = _embedded_ipv4(ip)
        if inner is not None:
            why = address_refusal(str(inner), allowed)
            return f"the {form} form of {inner}, which is {why}" if why else None
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    for flag, what in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address (cloud metadata lives there)"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
        ("is_site_local", "a site-local address"),
    ):
        if getattr(ip, flag, False):
            return what
    return None if ip.is_global else "not a globally routable address"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    return None, ""


@dataclass(slots=True)
class _Found:
    outcome: Outcome
    reason: str
    status: int | None = None
    matches: tuple[HashHit, ...] = ()
    size: int | None = None
    media: str | None = None


class _Stop(Exception):
    """Ends a recheck with an outcome (raised from deep inside the steps)."""

    def __init__(self, outcome: Outcome, reason: str, status: int | None = None):
        super().__init__(reason)
        self.found = _Found(outcome, reason, status)


class _Watchdog:
    """Shuts the current socket down when the deadline passes: any blocked read wakes up."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown()

    def cancel(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:  # the plain socket's shutdown, also under TLS (SSLSocket's drops its state)
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except OSError:
                pass


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand: the host name is never resolved."""

    def __init__(self, host: str, address: str, port: int, timeout: float, watchdog: _Watchdog):
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._watchdog = watchdog
        #: The socket, kept after ``close()`` hands it to a response (for its read timeouts).
        self.pinned: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.pinned = socket.create_connection((self._address, self.port), self.timeout)
        self._watchdog.watch(self.sock)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """TLS to the pinned address; SNI and the certificate check use the host name."""

    def __init__(
        self,
        host: str,
        address: str,
        port: int,
        timeout: float,
        watchdog: _Watchdog,
        context: ssl.SSLContext,
    ):
        super().__init__(host, address, port, timeout, watchdog)
        self._context = context

    def connect(self) -> None:
        super().connect()
        self.sock = self.pinned = self._context.wrap_socket(self.sock, server_hostname=self.host)
        self._watchdog.watch(self.sock)


class _Check:
    """One recheck: its deadline, the hosts it reached and the URLs it requested."""

    def __init__(
        self, policy: RecheckPolicy, limiter: HostRateLimiter, resolver: Resolver, matcher: Matcher
    ):
        self.policy = policy
        self.limiter = limiter
        self.resolver = resolver
        self.matcher = matcher
        self.allowed = allowed_networks(policy)
        self.ends = time.monotonic() + policy.deadline
        self.watchdog = _Watchdog(policy.deadline)
        self.chain: list[str] = []
        self.reached: set[str] = set()
        #: host -> the vetted address it was pinned to (resolved once per recheck)
        self.pinned: dict[str, str] = {}

    def run(self, url: NormalisedUrl) -> _Found:
        seen: set[str] = set()
        try:
            for _ in range(self.policy.max_redirects + 1):
                self.chain.append(url.url)
                seen.add(url.key)
                got = self._visit(url)
                if isinstance(got, _Found):
                    return got
                status, location = got
                nxt = self._redirect(url, status, location)
                if nxt.key in seen:
                    raise _Stop(ERROR, f"redirect loop: {nxt.url} was already requested", status)
                url = nxt
            limit = self.policy.max_redirects
            raise _Stop(ERROR, f"too many redirects (more than {limit})", status)
        except _Stop as stop:
            return stop.found

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0 or self.watchdog.expired:
            raise _Stop(ERROR, f"deadline exceeded ({self.policy.deadline:g} s)")
        return left

    def _visit(self, url: NormalisedUrl) -> _Found | tuple[int, str | None]:
        """Request ``url``: what the served body was found to be, or the status and Location
        of a redirect. Raises :class:`_Stop` for any other end."""
        self._rate_limit(url.host)
        conn = self._connect(url, self._vetted_addresses(url))
        try:
            response = self._request(conn, url)
            status = response.status
            if status in GONE_STATUSES:
                raise _Stop(REMOVED, f"HTTP {_status_text(status)}", status)
            if status in REDIRECT_STATUSES:
                return status, response.getheader("Location")
            if status != 200:
                raise _Stop(ERROR, f"HTTP {_status_text(status)} (inconclusive)", status)
            try:
                body = self._read_body(conn, response)
            except _Stop as stop:  # the URL did answer 200 (then too much, too slowly...)
                stop.found.status = status
                raise
        finally:
            self.watchdog.watch(None)
            conn.close()
        return self._judge(body)

    def _rate_limit(self, host: str) -> None:
        if host in self.reached:
            return
        wait = self.limiter.try_acquire(host)
        if wait > 0:
            raise _Stop(
                ERROR, f"rate limited: {host} was requested recently (retry in {wait:.1f} s)"
            )
        self.reached.add(host)

    def _vetted_addresses(self, url: NormalisedUrl) -> Sequence[str]:
        """The addresses to try, after checking every address the host has; a host met
        again in this recheck keeps the address it was pinned to."""
        if url.host in self.pinned:
            return [self.pinned[url.host]]
        try:
            ipaddress.ip_address(url.host)
            addresses: Sequence[str] = [url.host]
        except ValueError:
            addresses = self._resolve(url.host, url.effective_port)
        if not addresses:
            raise _Stop(ERROR, f"DNS lookup of {url.host} gave no address")
        for address in addresses:
            why = address_refusal(address, self.allowed)
            if why:
                where = (
                    f"{url.host} resolves to {address}, which" if address != url.host else address
                )
                raise _Stop(ERROR, f"refused (SSRF protection): {where} is {why}")
        return addresses

    def _resolve(self, host: str, port: int) -> Sequence[str]:
        """The resolver's answer, waited for no longer than the deadline allows."""
        answer: list[Sequence[str] | BaseException] = []
        done = threading.Event()

        def look_up() -> None:
            try:
                answer.append(self.resolver(host, port))
            except BaseException as e:  # handed to the caller's thread
                answer.append(e)
            done.set()

        threading.Thread(target=look_up, daemon=True, name="recheck-dns").start()
        if not done.wait(self.remaining()):
            raise _Stop(ERROR, f"DNS lookup of {host} timed out")
        result = answer[0]
        if isinstance(result, socket.gaierror):
            if result.errno == socket.EAI_NONAME:
                raise _Stop(REMOVED, f"host name {host} does not exist (NXDOMAIN)")
            raise _Stop(ERROR, f"DNS lookup of {host} failed: {result.strerror or result}")
        if isinstance(result, BaseException):
            raise _Stop(ERROR, f"DNS lookup of {host} failed: {_why(result)}")
        return list(result)

    def _connect(self, url: NormalisedUrl, addresses: Sequence[str]) -> _PinnedHTTPConnection:
        """A connection to the first of ``addresses`` (all vetted) that accepts one; the
        host is pinned to it for the rest of the recheck."""
        failure: _Stop | None = None
        for address in addresses:
            timeout = min(self.policy.connect_timeout, self.remaining())
            args = (url.host, address, url.effective_port, timeout, self.watchdog)
            if url.scheme == "https":
                conn: _PinnedHTTPConnection = _PinnedHTTPSConnection(*args, self._tls_context())
            else:
                conn = _PinnedHTTPConnection(*args)
            try:
                conn.connect()
            except Exception as e:
                conn.close()
                shown = f"[{address}]" if ":" in address else address
                failure = self._failure(f"connecting to {shown}:{url.effective_port}", e)
                if isinstance(e, ssl.SSLError) or self.watchdog.expired:
                    break  # the server was reached: another address would not do better
                continue
            self.pinned[url.host] = address
            return conn
        assert failure is not None
        raise failure

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.policy.ca_file)
        if not self.policy.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _request(self, conn: _PinnedHTTPConnection, url: NormalisedUrl) -> http.client.HTTPResponse:
        headers = {
            "Host": url.authority,
            "User-Agent": self.policy.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        try:
            self._timeout(conn)
            conn.request("GET", url.target, headers=headers)
            self._timeout(conn)
            return conn.getresponse()
        except _Stop:
            raise
        except Exception as e:
            raise self._failure("waiting for the response", e) from None

    def _timeout(self, conn: _PinnedHTTPConnection) -> None:
        """The next read may wait the read timeout, or what is left before the deadline."""
        if conn.pinned is not None:
            conn.pinned.settimeout(min(self.policy.read_timeout, self.remaining()))

    def _read_body(self, conn: _PinnedHTTPConnection, response: http.client.HTTPResponse) -> bytes:
        """The body, in memory, up to the size limit; raises :class:`_Stop` past it."""
        limit = self.policy.max_body_bytes
        too_large = f"too large: more than {limit} bytes (not read further)"
        declared = response.length  # http.client's parse of Content-Length (None: none)
        if declared is not None and declared > limit:
            raise _Stop(ERROR, f"too large: Content-Length {declared} > {limit} bytes")
        decoder = _decoder(response.getheader("Content-Encoding"))
        body = bytearray()
        try:
            while True:
                self._timeout(conn)
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                if decoder is not None:
                    chunk = decoder.decompress(chunk, limit + 1 - len(body))
                body += chunk
                if len(body) > limit:
                    raise _Stop(ERROR, too_large)
            if response.length:  # read1 returns b"" when the server closes early
                raise http.client.IncompleteRead(b"", response.length)
            if decoder is not None and not decoder.eof:
                raise _Stop(ERROR, "compressed body ends early or is not valid")
        except _Stop:
            raise
        except Exception as e:
            raise self._failure("reading the body", e) from None
        self.remaining()  # a body cut short by the deadline is not the served content
        return bytes(body)

    def _judge(self, body: bytes) -> _Found:
        """Hash the body in memory and compare; the body is dropped on return."""
        try:
            hashes = hash_bytes(body, _HASH_OPTIONS)
        except Exception as e:  # a decoder failing on hostile content: inconclusive
            return _Found(ERROR, f"could not hash the served content ({_why(e)})", 200)
        size, media = hashes.size, hashes.media
        found = self.matcher.match(hashes)
        hits = tuple(HashHit(m.signal_type, m.signal, m.distance) for m in found)
        if hits:
            best = min(hits, key=lambda h: (h.distance, h.signal_type))
            reason = f"served content matches the reported {best.signal_type} hash"
            if best.signal_type in ("pdq", "vpdq"):
                reason += f" (distance {best.distance})"
            return _Found(LIVE_MATCH, reason, 200, hits, size, media)
        reason = f"served {media or 'content'} ({size} bytes) matches no reported hash"
        if hashes.pdq_error:
            reason += f"; no perceptual hash: {hashes.pdq_error}"
        return _Found(LIVE_NO_MATCH, reason, 200, (), size, media)

    def _redirect(self, url: NormalisedUrl, status: int, location: str | None) -> NormalisedUrl:
        if not location or not location.strip():
            raise _Stop(ERROR, f"HTTP {status} redirect without a Location", status)
        text = location.strip()
        try:  # http.client decodes header bytes as Latin-1; servers send UTF-8
            text = text.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
        head, sep, tail = text.partition("?")
        target = urljoin(url.url, head.replace("\\", "/") + sep + tail)
        try:
            return normalise_url(target)
        except UrlError as e:
            raise _Stop(ERROR, f"redirect to {_show(text)} refused: {e}", status) from None

    def _failure(self, doing: str, exc: BaseException) -> _Stop:
        if self.watchdog.expired or self.ends - time.monotonic() <= 0:
            return _Stop(ERROR, f"deadline exceeded ({self.policy.deadline:g} s) {doing}")
        return _Stop(ERROR, f"{_why(exc)} {doing}")


def _matcher(hashes: Iterable[tuple[str, str]], policy: RecheckPolicy) -> Matcher:
    entries = []
    for n, (kind, value) in enumerate(hashes):
        try:
            st = signal_type(kind)
        except KeyError as e:
            raise ValueError(str(e)) from None
        if st.name not in RECHECK_TYPES:
            raise ValueError(f"cannot recheck {st.name} hashes (only {', '.join(RECHECK_TYPES)})")
        try:
            entries.append(ListEntry(st.name, st.parse(value), entry_id=str(n)))
        except InvalidSignal as e:
            raise ValueError(f"reported hash {n + 1}: {e}") from None
    if not entries:
        raise ValueError("no reported hashes to compare with")
    report = HashList("report", entries, pdq_threshold=policy.pdq_threshold)
    return Matcher([report], MatchSettings(pdq_threshold=policy.pdq_threshold))


def _decoder(encoding: str | None) -> zlib._Decompress | None:
    value = (encoding or "").strip().lower()
    if value in ("", "identity"):
        return None
    if value in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(47)  # gzip or zlib header
    raise _Stop(ERROR, f"unsupported Content-Encoding {_show(value)}")


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):  # socket.timeout too
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed before the whole body arrived"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(exc, http.client.HTTPException):
        return f"invalid HTTP response ({type(exc).__name__})"
    if isinstance(exc, zlib.error):
        return "compressed body is not valid"
    if isinstance(exc, OSError):
        return f"network error ({exc.strerror or type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def _status_text(status: int) -> str:
    """The status and its standard phrase (the server's own text is not repeated)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _show(text: str, limit: int = 200) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


_LIMITERS: dict[float, HostRateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def _shared_limiter(interval: float) -> HostRateLimiter:
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault(interval, HostRateLimiter(interval))


def _utc_now() -> datetime:
    return datetime.now(UTC)

"""Detection context: origin URL, owner, network and local time, all from metadata only."""

from __future__ import annotations

import ipaddress
import os
import platform
import plistlib
import sys
import tempfile
import time
from collections import namedtuple
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hashwatch.agent import context
from hashwatch.agent.context import (
    MAX_ADDRESSES,
    MAX_URL,
    NetworkContext,
    NetworkProbe,
    clean_url,
    console_user,
    domain_matches,
    file_owner,
    iso_local,
    local_now,
    origin_url,
    os_account,
    parse_where_froms,
    parse_zone_identifier,
)

URL = "https://downloads.example.org/files/a.jpg?x=1"
REFERRER = "https://forum.example.org/thread/42"


# -- origin URL: extended attributes ----------------------------------------------------------


def _xattr_file(tmp_path: Path) -> Path:
    """A file that takes user.* extended attributes: in tmp_path, else in /var/tmp."""
    if not hasattr(os, "setxattr"):
        pytest.skip("os.setxattr is not available on this platform")
    if _takes_xattrs(tmp_path / "download.jpg"):
        return tmp_path / "download.jpg"
    if os.path.isdir("/var/tmp"):
        d = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="hashwatch-xattr-"))
        if _takes_xattrs(d / "download.jpg"):
            return d / "download.jpg"
        (d / "download.jpg").unlink()
        d.rmdir()
    pytest.skip("neither tmp_path nor /var/tmp accepts user.* extended attributes")


def _takes_xattrs(f: Path) -> bool:
    f.write_bytes(b"not an image")
    try:
        os.setxattr(f, "user.hashwatch.probe", b"1")
        os.removexattr(f, "user.hashwatch.probe")
    except OSError:
        return False
    return True


@pytest.fixture
def xfile(tmp_path: Path):
    f = _xattr_file(tmp_path)
    yield f
    if f.parent != tmp_path:
        f.unlink(missing_ok=True)
        f.parent.rmdir()


@pytest.mark.skipif(not hasattr(os, "getxattr"), reason="no os.getxattr on this platform")
def test_origin_url_from_xdg_attribute(xfile: Path):
    os.setxattr(xfile, context.XDG_ORIGIN, URL.encode())
    os.setxattr(xfile, context.XDG_REFERRER, REFERRER.encode())
    assert origin_url(str(xfile)) == URL


@pytest.mark.skipif(not hasattr(os, "getxattr"), reason="no os.getxattr on this platform")
def test_origin_url_falls_back_to_referrer(xfile: Path):
    os.setxattr(xfile, context.XDG_REFERRER, REFERRER.encode())
    assert origin_url(str(xfile)) == REFERRER


@pytest.mark.skipif(not hasattr(os, "getxattr"), reason="no os.getxattr on this platform")
def test_origin_url_refuses_data_urls(xfile: Path):
    os.setxattr(xfile, context.XDG_ORIGIN, b"data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==")
    assert origin_url(str(xfile)) is None
    # a refused origin still lets the referring page through
    os.setxattr(xfile, context.XDG_REFERRER, REFERRER.encode())
    assert origin_url(str(xfile)) == REFERRER


@pytest.mark.skipif(not hasattr(os, "getxattr"), reason="no os.getxattr on this platform")
def test_origin_url_handles_garbage_and_long_values(xfile: Path, monkeypatch):
    os.setxattr(xfile, context.XDG_ORIGIN, b"\xff\xfe\x00\x9c garbage \x01\x02")
    assert origin_url(str(xfile)) is None

    os.setxattr(xfile, context.XDG_ORIGIN, b"  https://example.org/\xff\xfe.jpg\x00\n")
    assert origin_url(str(xfile)) == "https://example.org/\ufffd\ufffd.jpg"

    long = "https://example.org/" + "a" * 20000
    try:
        os.setxattr(xfile, context.XDG_ORIGIN, long.encode())
    except OSError:  # ext4 keeps a file's attributes in one block: hand the value over instead
        monkeypatch.setattr(os, "getxattr", lambda path, name: long.encode())
    got = origin_url(str(xfile))
    assert got is not None and len(got) == MAX_URL and long.startswith(got)


def test_origin_url_without_attribute_or_file(tmp_path: Path):
    f = tmp_path / "plain.jpg"
    f.write_bytes(b"x")
    assert origin_url(str(f)) is None
    assert origin_url(str(tmp_path / "missing.jpg")) is None


def test_clean_url_rules():
    assert clean_url(URL) == URL
    assert clean_url(b"\x00" + URL.encode() + b"\x00\x00") == URL
    assert clean_url("https://user:secret@example.org/a") == "https://example.org/a"
    assert clean_url("file:///home/a/b.jpg") == "file:///home/a/b.jpg"
    for bad in (
        None,
        "",
        "   ",
        "about:internet",
        "about:blank",
        "data:text/plain,hello",
        "data://text/plain,hello",
        "blob:https://example.org/0b1e",
        "javascript://x%0aalert(1)",
        "example.org/a.jpg",
        "https://",
        "https://example.org/a\nb",
        "://example.org",
    ):
        assert clean_url(bad) is None, bad


# -- origin URL: Windows Zone.Identifier ------------------------------------------------------


def test_parse_zone_identifier():
    text = f"[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl={REFERRER}\r\nHostUrl={URL}\r\n"
    assert parse_zone_identifier(text) == URL


def test_parse_zone_identifier_referrer_fallback():
    assert parse_zone_identifier(f"[ZoneTransfer]\nZoneId=3\nReferrerUrl={REFERRER}\n") == REFERRER
    # browsers write about:internet when the file's own URL is unknown
    text = f"[ZoneTransfer]\nZoneId=3\nReferrerUrl={REFERRER}\nHostUrl=about:internet\n"
    assert parse_zone_identifier(text) == REFERRER


def test_parse_zone_identifier_refuses_nothing_useful():
    assert parse_zone_identifier("[ZoneTransfer]\nZoneId=3\n") is None
    assert parse_zone_identifier("[ZoneTransfer]\nHostUrl=data:image/png;base64,iVBORw0K\n") is None
    assert parse_zone_identifier("") is None
    assert parse_zone_identifier("\ufffd\x00garbage=\x01") is None


def test_zone_identifier_stream_is_read_on_windows(tmp_path: Path, monkeypatch):
    # on Linux "file:Zone.Identifier" is an ordinary file: the Windows path, end to end
    f = tmp_path / "download.jpg"
    f.write_bytes(b"x")
    stream = "[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=" + URL + "\r\n"
    Path(str(f) + ":Zone.Identifier").write_bytes(stream.encode("utf-16"))
    monkeypatch.setattr(sys, "platform", "win32")
    assert origin_url(str(f)) == URL
    Path(str(f) + ":Zone.Identifier").write_bytes(b"\xef\xbb\xbf" + stream.encode())
    assert origin_url(str(f)) == URL


# -- origin URL: macOS kMDItemWhereFroms ------------------------------------------------------


def _where_froms(value) -> bytes:
    return plistlib.dumps(value, fmt=plistlib.FMT_BINARY)


def test_parse_where_froms():
    assert parse_where_froms(_where_froms([URL, REFERRER])) == URL
    assert parse_where_froms(plistlib.dumps([URL])) == URL  # XML plists too
    assert parse_where_froms(_where_froms(URL)) == URL  # a bare string


def test_parse_where_froms_skips_refused_and_garbage():
    assert parse_where_froms(_where_froms(["data:image/jpeg;base64,AAAA", REFERRER])) == REFERRER
    assert parse_where_froms(_where_froms(["data:image/jpeg;base64,AAAA"])) is None
    assert parse_where_froms(_where_froms([])) is None
    assert parse_where_froms(_where_froms({"a": URL})) is None
    assert parse_where_froms(_where_froms([1, 2.5, True])) is None
    assert parse_where_froms(b"") is None
    assert parse_where_froms(b"bplist00\xff\xff\xff garbage") is None
    assert parse_where_froms(os.urandom(300)) is None


def test_where_froms_is_read_on_macos(tmp_path: Path, monkeypatch):
    seen = []

    def fake_getxattr(path: str, name: str) -> bytes | None:
        seen.append(name)
        return _where_froms([URL, REFERRER])

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(context, "_darwin_getxattr", fake_getxattr)
    assert origin_url(str(tmp_path / "a.jpg")) == URL
    assert seen == [context.MAC_WHERE_FROMS]


@pytest.mark.skipif(
    not hasattr(os, "setxattr") or platform.machine().lower() not in ("x86_64", "amd64", "aarch64"),
    reason="ctypes plumbing smoke test needs Linux xattrs on x86_64/aarch64",
)
def test_darwin_getxattr_plumbing(xfile: Path):
    # glibc's getxattr takes the macOS call's first four arguments; the two extra ones are
    # ignored by these calling conventions, so the buffer handling can be exercised here
    os.setxattr(xfile, "user.hashwatch.test", b"value\x00with nul")
    assert context._darwin_getxattr(str(xfile), "user.hashwatch.test") == b"value\x00with nul"
    assert context._darwin_getxattr(str(xfile), "user.hashwatch.none") is None
    assert context._darwin_getxattr(str(xfile.parent / "missing"), "user.x") is None


# -- whose it was -----------------------------------------------------------------------------


def _stat(uid: int) -> os.stat_result:
    return os.stat_result((0o100644, 1, 1, 1, uid, 0, 10, 0, 0, 0))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners")
def test_file_owner(tmp_path: Path):
    import pwd

    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    assert file_owner(f.stat()) == pwd.getpwuid(os.getuid()).pw_name
    assert file_owner(_stat(2**31 - 7)) is None  # no such account


User = namedtuple("User", "name terminal host started pid")


def test_console_user_prefers_the_local_desktop(monkeypatch):
    import psutil

    users = [
        User("remote", "pts/3", "203.0.113.9", 300.0, 1),
        User("alice", "tty2", "", 100.0, 2),
        User("bob", ":0", ":0", 200.0, 3),
        User("term", "pts/1", "", 250.0, 4),
    ]
    monkeypatch.setattr(psutil, "users", lambda: users)
    assert console_user() == "bob"  # the most recent desktop session
    monkeypatch.setattr(psutil, "users", lambda: users[:1] + users[3:])
    assert console_user() == "term"  # a local session beats a remote one
    monkeypatch.setattr(psutil, "users", lambda: users[:1])
    assert console_user() == "remote"
    monkeypatch.setattr(psutil, "users", lambda: [])
    assert console_user() is None

    def broken():
        raise OSError("no utmp")

    monkeypatch.setattr(psutil, "users", broken)
    assert console_user() is None


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners")
def test_os_account(monkeypatch):
    names = {0: "root", 33: "www-data", 1001: "carol"}
    monkeypatch.setattr(context, "file_owner", lambda st: names.get(st.st_uid))
    monkeypatch.setattr(context, "console_user", lambda: "dave")
    assert os_account(_stat(1001)) == "carol"  # a person's file: its owner
    assert os_account(_stat(33)) == "dave"  # a service's file: who is at the console
    assert os_account(_stat(4242)) == "dave"  # an owner without a name
    monkeypatch.setattr(context, "console_user", lambda: None)
    assert os_account(_stat(0)) == "root"  # nobody at the console: the owner after all
    assert os_account(_stat(65534)) is None


# -- where the machine was --------------------------------------------------------------------

ROUTE_HEADER = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
)
ROUTE_DEFAULT = "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
ROUTE_LAN = "wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
V6_LOCAL = (
    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001    wlan0\n"
)
V6_UNREACHABLE_LO = (
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
)
V6_DEFAULT = (
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000002 00000000 00000003    wlan0\n"
)


def _probe(
    tmp_path: Path,
    addresses: list[str],
    *,
    v4: str = ROUTE_HEADER + ROUTE_DEFAULT + ROUTE_LAN,
    v6: str = V6_LOCAL + V6_UNREACHABLE_LO,
    resolv: str = "nameserver 192.168.1.1\n",
    **kw,
) -> NetworkProbe:
    (tmp_path / "route").write_text(v4)
    (tmp_path / "ipv6_route").write_text(v6)
    (tmp_path / "resolv.conf").write_text(resolv)
    return NetworkProbe(
        resolv_conf=str(tmp_path / "resolv.conf"),
        route_files=(str(tmp_path / "route"), str(tmp_path / "ipv6_route")),
        addresses=lambda: list(addresses),
        **kw,
    )


def test_on_org_network_by_ipv4_cidr(tmp_path: Path):
    probe = _probe(tmp_path, ["127.0.0.1", "10.20.30.40"], org_networks=["10.0.0.0/8"])
    ctx = probe.snapshot()
    assert ctx == NetworkContext(True, True, ["10.20.30.40"], None)
    assert ctx.to_dict() == {
        "online": True,
        "on_org_network": True,
        "addresses": ["10.20.30.40"],
        "network_name": None,
    }


def test_on_org_network_by_ipv6_cidr(tmp_path: Path):
    probe = _probe(
        tmp_path,
        ["192.168.1.20", "fe80::1%wlan0", "2001:db8:40::1234"],
        org_networks=["10.0.0.0/8", "2001:db8:40::/48"],
    )
    ctx = probe.snapshot()
    assert ctx.on_org_network is True
    assert ctx.addresses == ["192.168.1.20", "2001:db8:40::1234"]  # no link-local


def test_on_org_network_by_dns_suffix(tmp_path: Path):
    resolv = "# generated\nnameserver 10.0.0.53\nsearch Corp.Example.com. lab.example.com\n"
    probe = _probe(tmp_path, ["192.168.1.20"], resolv=resolv, dns_suffixes=["example.com"])
    ctx = probe.snapshot()
    assert ctx.on_org_network is True
    assert ctx.network_name == "corp.example.com"


def test_dns_suffix_matches_on_label_boundary(tmp_path: Path):
    probe = _probe(
        tmp_path, ["192.168.1.20"], resolv="domain badexample.com\n", dns_suffixes=["example.com"]
    )
    ctx = probe.snapshot()
    assert ctx.on_org_network is False
    assert ctx.network_name == "badexample.com"
    assert domain_matches("corp.example.com", "example.com")
    assert domain_matches("EXAMPLE.com.", ".example.com")
    assert not domain_matches("badexample.com", "example.com")
    assert not domain_matches("example.com", "corp.example.com")
    assert not domain_matches("", "example.com")


def test_last_search_or_domain_line_wins(tmp_path: Path):
    resolv = "search old.example.net\ndomain home.lan\nsearch .\n"
    assert _probe(tmp_path, ["192.168.1.20"], resolv=resolv).snapshot().network_name is None
    resolv = "search old.example.net\ndomain home.lan\n"
    assert _probe(tmp_path, ["192.168.1.20"], resolv=resolv).snapshot().network_name == "home.lan"


def test_off_network(tmp_path: Path):
    probe = _probe(
        tmp_path,
        ["192.168.1.20", "2a02:1:2::5"],
        resolv="search fritz.box\n",
        org_networks=["10.0.0.0/8", "2001:db8::/32"],
        dns_suffixes=["example.com"],
    )
    ctx = probe.snapshot()
    assert ctx.online is True
    assert ctx.on_org_network is False
    assert ctx.network_name == "fritz.box"


def test_nothing_configured_is_unknown(tmp_path: Path):
    ctx = _probe(tmp_path, ["10.1.2.3"], resolv="search corp.example.com\n").snapshot()
    assert ctx.on_org_network is None
    assert ctx.online is True


def test_no_default_route_is_offline(tmp_path: Path):
    probe = _probe(tmp_path, ["192.168.1.20"], v4=ROUTE_HEADER + ROUTE_LAN, org_networks=["::/0"])
    ctx = probe.snapshot()
    assert ctx.online is False  # the ::/0 unreachable route on lo does not count
    assert ctx.on_org_network is False


def test_ipv6_default_route_is_online(tmp_path: Path):
    probe = _probe(tmp_path, ["2a02:1:2::5"], v4=ROUTE_HEADER, v6=V6_LOCAL + V6_DEFAULT)
    assert probe.snapshot().online is True


def test_no_address_is_offline(tmp_path: Path):
    probe = _probe(tmp_path, ["127.0.0.1", "::1", "fe80::1", "169.254.3.4"])
    ctx = probe.snapshot()
    assert ctx.online is False
    assert ctx.addresses == []


def test_server_reachable_is_online(tmp_path: Path):
    probe = _probe(tmp_path, ["192.168.1.20"], v4=ROUTE_HEADER, v6="")
    assert probe.snapshot().online is False
    assert probe.snapshot(server_reachable=True).online is True
    assert probe.snapshot(server_reachable=False).online is False


def test_without_route_table_online_is_unknown(tmp_path: Path):
    probe = NetworkProbe(
        resolv_conf=str(tmp_path / "none"),
        route_files=(str(tmp_path / "none4"), str(tmp_path / "none6")),
        addresses=lambda: ["192.168.1.20"],
    )
    ctx = probe.snapshot()
    assert ctx.online is None
    assert ctx.network_name is None


def test_failing_addresses_never_raise(tmp_path: Path):
    def broken() -> list[str]:
        raise RuntimeError("psutil is unwell")

    probe = _probe(tmp_path, [], org_networks=["10.0.0.0/8"])
    probe._addresses = broken
    ctx = probe.snapshot()
    assert ctx.online is None and ctx.on_org_network is None and ctx.addresses == []
    assert probe.snapshot(server_reachable=True).online is True


def test_addresses_are_capped_and_deduplicated(tmp_path: Path):
    addrs = ["10.0.0.1", "10.0.0.1", "not an ip"] + [f"10.0.1.{i}" for i in range(100)]
    ctx = _probe(tmp_path, addrs).snapshot()
    assert len(ctx.addresses) == MAX_ADDRESSES
    assert ctx.addresses[:2] == ["10.0.0.1", "10.0.1.0"]


def test_invalid_cidr_is_refused_by_name():
    with pytest.raises(ValueError, match="10.0.0.0/33"):
        NetworkProbe(org_networks=["10.0.0.0/8", "10.0.0.0/33"])
    with pytest.raises(ValueError, match="corp-lan"):
        NetworkProbe(org_networks=["corp-lan"])


def test_snapshot_on_this_machine():
    probe = NetworkProbe(org_networks=["10.0.0.0/8", "fd00::/8"], dns_suffixes=["example.com"])
    ctx = probe.snapshot()
    assert ctx.online in (True, False, None)
    assert ctx.on_org_network in (True, False, None)
    assert len(ctx.addresses) <= MAX_ADDRESSES
    for a in ctx.addresses:
        ip = ipaddress.ip_address(a)
        assert not ip.is_loopback and not ip.is_link_local
    assert ctx.network_name is None or isinstance(ctx.network_name, str)
    assert set(ctx.to_dict()) == {"online", "on_org_network", "addresses", "network_name"}


# -- when -------------------------------------------------------------------------------------


@pytest.fixture
def berlin(monkeypatch):
    """Local time with a non-zero offset (and DST), where the platform lets us set it."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")  # POSIX rule: no tz database needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_local_now_has_an_offset(berlin):
    now = local_now()
    assert now.tzinfo is not None
    assert now.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    assert abs(now.timestamp() - time.time()) < 5


def test_iso_local_round_trips(berlin):
    for ts in (0.0, 1_700_000_000.75, 1_719_792_000.0, time.time()):
        text = iso_local(ts)
        dt = datetime.fromisoformat(text)
        assert dt.utcoffset() is not None
        assert dt.timestamp() == int(ts)
        assert "." not in text  # seconds precision
    assert iso_local(1_719_792_000.0).endswith("+02:00")  # summer time
    assert iso_local(1_700_000_000.0).endswith("+01:00")


def test_iso_local_out_of_range_does_not_raise():
    for ts in (1e20, -1e20, 253_402_300_800.0, float("inf")):
        assert datetime.fromisoformat(iso_local(ts)).utcoffset() is not None

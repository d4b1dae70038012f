"""The recheck's SSRF guard: refused addresses, redirects re-validated hop by hop, DNS
answers checked whole and pinned, TLS to the pinned address with the host's name (SNI)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hashwatch.takedown import RecheckPolicy, address_refusal, recheck
from tests.takedown.conftest import Site, make_policy, redirect, send


class Resolver:
    """A fake DNS: names to address lists (or an error to raise); counts look-ups."""

    def __init__(self, answers: dict[str, list[str] | Exception]):
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answer = self.answers[host]
        if isinstance(answer, Exception):
            raise answer
        return answer


# --------------------------------------------------------------------------- address rules


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.169.254", "a link-local address (cloud metadata lives there)"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("224.0.1.1", "a multicast address"),  # globally scoped multicast too
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("255.255.255.255", "a private address"),
        ("100.64.0.1", "not a globally routable address"),
        ("192.0.2.1", "a private address"),  # documentation ranges are not on the internet
        ("fec0::1", "a site-local address"),
        ("::ffff:127.0.0.1", "the IPv4-mapped form of 127.0.0.1, which is a loopback address"),
        ("::ffff:a9fe:a9fe", "the IPv4-mapped form of 169.254.169.254, which is a link-local"),
        ("2002:a00:1::", "the 6to4 form of 10.0.0.1, which is a private address"),
        ("2002:7f00:1::", "the 6to4 form of 127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "the NAT64 form of 169.254.169.254"),
        ("::7f00:1", "a reserved address"),  # IPv4-compatible (deprecated)
        ("2001::1", "a private address"),  # Teredo
        ("not-an-ip", "not an IP address"),
    ],
)
def test_refused_addresses(address: str, why: str):
    assert why in (address_refusal(address) or "")


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "2002:808:808::", "64:ff9b::808:808"]
)
def test_global_addresses_pass(address: str):
    assert address_refusal(address) is None


def test_allowed_networks_let_private_addresses_through():
    import ipaddress

    allowed = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("fd00::/8")]
    assert address_refusal("127.0.0.1", allowed) is None
    assert address_refusal("::ffff:127.0.0.1", allowed) is None  # the same host
    assert address_refusal("fd12::1", allowed) is None
    assert address_refusal("127.0.0.2", allowed) == "a loopback address"
    assert address_refusal("169.254.169.254", allowed) is not None


# --------------------------------------------------------------------------- default policy


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:{port}/img", "127.0.0.1 is a loopback address"),
        ("http://2130706433:{port}/img", "127.0.0.1 is a loopback address"),
        ("http://0x7f.1:{port}/img", "127.0.0.1 is a loopback address"),
        ("http://[::ffff:7f00:1]:{port}/img", "::ffff:7f00:1 is the IPv4-mapped form of"),
    ],
)
def test_default_policy_refuses_loopback(site, pictures, url, shown):
    site.routes["/img"] = lambda h: send(h, 200, pictures.listed)
    policy = RecheckPolicy(connect_timeout=0.5, read_timeout=0.5, deadline=5, min_interval=0)
    r = recheck(url.format(port=site.port), pictures.hashes, policy)
    assert (r.outcome, r.status) == ("error", None)
    assert r.reason == f"refused (SSRF protection): {shown}" or r.reason.startswith(
        f"refused (SSRF protection): {shown}"
    )
    assert site.requests == []  # never connected


def test_default_policy_refuses_localhost_by_real_dns(site, pictures):
    policy = RecheckPolicy(min_interval=0)
    r = recheck(f"http://localhost:{site.port}/img", pictures.hashes, policy)
    assert r.outcome == "error"
    assert r.reason.startswith("refused (SSRF protection): localhost resolves to ")
    assert "loopback" in r.reason
    assert site.requests == []


# --------------------------------------------------------------------------- redirects


def test_allowed_redirect_chain_is_followed(site, pictures, limiter):
    site.routes.update(
        {
            "/r1": redirect("r2", 301),  # relative
            "/r2": redirect(site.url("/r3?utm_source=mail"), 307),  # absolute, tracking
            "/r3": redirect(f"//127.0.0.1:{site.port}/img#frag", 308),  # scheme-relative
            "/img": lambda h: send(h, 200, pictures.listed),
        }
    )
    r = recheck(site.url("/r1"), pictures.hashes, make_policy(), limiter=limiter)
    assert (r.outcome, r.status) == ("live_match", 200)
    assert r.chain == tuple(site.url(p) for p in ("/r1", "/r2", "/r3", "/img"))
    assert r.final_url == site.url("/img")
    assert site.paths == ["/r1", "/r2", "/r3", "/img"]


def test_redirect_to_a_removed_page_is_removed(site, pictures, limiter):
    site.routes.update({"/a": redirect("/b", 303), "/b": lambda h: send(h, 410)})
    r = recheck(site.url("/a"), pictures.hashes, make_policy(), limiter=limiter)
    assert (r.outcome, r.status, r.final_url) == ("removed", 410, site.url("/b"))


def test_redirect_to_the_allowed_address_in_shorthand_is_canonicalised(site, pictures, limiter):
    site.routes.update(
        {
            "/a": redirect(f"http://2130706433:{site.port}/img"),
            "/img": lambda h: send(h, 200, pictures.listed),
        }
    )
    r = recheck(site.url("/a"), pictures.hashes, make_policy(), limiter=limiter)
    assert r.chain == (site.url("/a"), site.url("/img"))  # 2130706433 is 127.0.0.1
    assert r.outcome == "live_match"


@pytest.mark.parametrize(
    ("location", "target", "why"),
    [
        ("http://127.0.0.2/x", "127.0.0.2", "is a loopback address"),
        ("http://10.0.0.1/", "10.0.0.1", "is a private address"),
        ("http://192.168.0.1:8080/", "192.168.0.1", "is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "is a link-local"),
        ("http://[::1]/", "::1", "is a loopback address"),
        ("http://[::1]:{port}/img", "::1", "is a loopback address"),
        ("http://2130706434/", "127.0.0.2", "is a loopback address"),  # 127.0.0.2 in decimal
        ("http://0x7f.0.0.2/", "127.0.0.2", "is a loopback address"),
        ("http://0xa9fea9fe/", "169.254.169.254", "is a link-local"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe", "is the IPv4-mapped form"),
        ("http://[2002:a00:1::]/", "2002:a00:1::", "is the 6to4 form of 10.0.0.1"),
        ("http://0.0.0.0:{port}/img", "0.0.0.0", "is an unspecified address"),
        ("http://100.64.0.1/", "100.64.0.1", "is not a globally routable address"),
        ("/\\169.254.169.254/", "169.254.169.254", "is a link-local"),  # browsers: //host
        ("https://10.0.0.1/", "10.0.0.1", "is a private address"),
    ],
)
def test_redirects_to_internal_addresses_are_refused(
    site, pictures, limiter, location, target, why
):
    site.routes["/a"] = redirect(location.format(port=site.port))
    r = recheck(site.url("/a"), pictures.hashes, make_policy(), limiter=limiter)
    assert (r.outcome, r.status) == ("error", None)
    assert r.reason.startswith(f"refused (SSRF protection): {target} {why}")
    assert r.chain[0] == site.url("/a") and len(r.chain) == 2
    assert site.paths == ["/a"]


@pytest.mark.parametrize(
    ("location", "scheme"),
    [
        ("ftp://example.com/x", "ftp"),
        ("file:///etc/passwd", "file"),
        ("javascript:alert(1)", "javascript"),
        ("gopher://127.0.0.1:6379/_INFO", "gopher"),
        ("data:text/plain,hello", "data"),
        ("dict://127.0.0.1:11211/", "dict"),
    ],
)
def test_redirects_to_other_schemes_are_refused(site, pictures, limiter, location, scheme):
    site.routes["/a"] = redirect(location, 301)
    r = recheck(site.url("/a"), pictures.hashes, make_policy(), limiter=limiter)
    assert (r.outcome, r.status, r.final_url) == ("error", 301, site.url("/a"))
    assert r.reason == (
        f"redirect to {location!r} refused: unsupported scheme {scheme!r} (http and https only)"
    )


def test_redirect_to_a_name_resolving_to_metadata_is_refused(site, pictures, limiter):
    site.routes["/a"] = redirect("http://metadata.test/computeMetadata/v1/")
    dns = Resolver({"metadata.test": ["169.254.169.254"]})
    r = recheck(site.url("/a"), pictures.hashes, make_policy(), limiter=limiter, resolver=dns)
    assert r.outcome == "error"
    assert r.reason.startswith(
        "refused (SSRF protection): metadata.test resolves to 169.254.169.254, which is a link"
    )


def test_redirect_loop(site, pictures, limiter):
    site.routes.update({"/a": redirect("/b"), "/b": redirect(site.url("/a?utm_medium=x"))})
    r = recheck(site.url("/a"), pictures.hashes, make_policy(), limiter=limiter)
    assert (r.outcome, r.status) == ("error", 302)
    assert r.reason == f"redirect loop: {site.url('/a')} was already requested"
    assert site.paths == ["/a", "/b"]


def test_redirect_to_itself(site, pictures, limiter):
    site.routes["/a"] = redirect("/a#again")
    r = recheck(site.url("/a"), pictures.hashes, make_policy(), limiter=limiter)
    assert r.outcome == "error" and r.reason.startswith("redirect loop")


def test_too_many_redirects(site, pictures, limiter):
    for n in range(10):
        site.routes[f"/hop{n}"] = redirect(f"/hop{n + 1}")
    r = recheck(site.url("/hop0"), pictures.hashes, make_policy(max_redirects=3), limiter=limiter)
    assert (r.outcome, r.reason) == ("error", "too many redirects (more than 3)")
    assert site.paths == ["/hop0", "/hop1", "/hop2", "/hop3"]
    assert r.final_url == site.url("/hop3")


def test_redirect_without_location(site, pictures, limiter):
    site.routes["/a"] = lambda h: send(h, 302)
    r = recheck(site.url("/a"), pictures.hashes, make_policy(), limiter=limiter)
    assert (r.outcome, r.reason) == ("error", "HTTP 302 redirect without a Location")


def test_no_redirects_allowed(site, pictures, limiter):
    site.routes.update({"/a": redirect("/img"), "/img": lambda h: send(h, 200, b"x")})
    r = recheck(site.url("/a"), pictures.hashes, make_policy(max_redirects=0), limiter=limiter)
    assert r.reason == "too many redirects (more than 0)" and site.paths == ["/a"]


# --------------------------------------------------------------------------- DNS


def test_host_is_resolved_once_and_the_address_pinned(site, pictures, limiter):
    site.routes["/img"] = lambda h: send(h, 200, pictures.listed)
    dns = Resolver({"pinned.test": ["127.0.0.1"]})
    url = f"http://Pinned.Test:{site.port}/img"
    r = recheck(url, pictures.hashes, make_policy(), limiter=limiter, resolver=dns)
    assert r.outcome == "live_match"
    assert dns.calls == ["pinned.test"]
    assert site.requests[0][1]["host"] == f"pinned.test:{site.port}"


def test_any_private_address_in_the_answer_refuses(site, pictures, limiter):
    dns = Resolver({"mixed.test": ["127.0.0.1", "10.0.0.1"]})
    url = f"http://mixed.test:{site.port}/"
    r = recheck(url, pictures.hashes, make_policy(), limiter=limiter, resolver=dns)
    assert r.reason == (
        "refused (SSRF protection): mixed.test resolves to 10.0.0.1, which is a private address"
    )
    assert site.requests == []


def test_a_second_answer_is_never_asked_for(site, pictures, limiter):
    """DNS rebinding: the first answer is vetted and pinned for the whole recheck, redirects
    to the same host included; a second answer is never asked for."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    calls = []

    def rebinding(host, port):
        calls.append(host)
        return next(answers)

    site.routes.update({"/a": redirect("/img"), "/img": lambda h: send(h, 200, b"x")})
    url = f"http://rebind.test:{site.port}/a"
    r = recheck(url, pictures.hashes, make_policy(), limiter=limiter, resolver=rebinding)
    assert r.outcome == "live_no_match"
    assert calls == ["rebind.test"]
    assert site.paths == ["/a", "/img"]
    # a new recheck asks again, and the new answer is vetted
    site.routes["/img"] = lambda h: send(h, 200, b"x")
    r = recheck(url, pictures.hashes, make_policy(), limiter=limiter, resolver=rebinding)
    assert r.reason.startswith("refused (SSRF protection): rebind.test resolves to 169.254")
    assert calls == ["rebind.test", "rebind.test"]


def test_next_vetted_address_is_tried_when_one_refuses(site, pictures, limiter):
    """127.0.0.2 refuses the connection (the site listens on 127.0.0.1 only): the next
    address is tried, and the redirect back to the host keeps the address that worked."""
    site.routes.update({"/a": redirect("/img"), "/img": lambda h: send(h, 200, b"x")})
    dns = Resolver({"two.test": ["127.0.0.2", "127.0.0.1"]})
    policy = make_policy(allowed_private=("127.0.0.0/8",))
    url = f"http://two.test:{site.port}/a"
    r = recheck(url, pictures.hashes, policy, limiter=limiter, resolver=dns)
    assert r.outcome == "live_no_match"
    assert dns.calls == ["two.test"] and site.paths == ["/a", "/img"]


def test_every_address_refusing_is_inconclusive(pictures, limiter):
    dns = Resolver({"none.test": ["127.0.0.2", "127.0.0.3"]})
    policy = make_policy(allowed_private=("127.0.0.0/8",))
    r = recheck("http://none.test:9/", pictures.hashes, policy, limiter=limiter, resolver=dns)
    assert (r.outcome, r.reason) == ("error", "connection refused connecting to 127.0.0.3:9")


def test_nxdomain_is_removed(pictures, limiter):
    dns = Resolver({"gone.test": socket.gaierror(socket.EAI_NONAME, "Name or service not known")})
    r = recheck("http://gone.test/x", pictures.hashes, make_policy(), limiter=limiter, resolver=dns)
    assert (r.outcome, r.status) == ("removed", None)
    assert r.reason == "host name gone.test does not exist (NXDOMAIN)"


def test_other_dns_failures_are_inconclusive(pictures, limiter):
    fail = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    dns = Resolver({"flaky.test": fail, "empty.test": [], "odd.test": RuntimeError("boom")})
    for host, reason in [
        ("flaky.test", "DNS lookup of flaky.test failed: Temporary failure in name resolution"),
        ("empty.test", "DNS lookup of empty.test gave no address"),
        ("odd.test", "DNS lookup of odd.test failed: RuntimeError: boom"),
    ]:
        r = recheck(
            f"http://{host}/", pictures.hashes, make_policy(), limiter=limiter, resolver=dns
        )
        assert (r.outcome, r.reason) == ("error", reason)


# --------------------------------------------------------------------------- TLS


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for DNS name ``name`` (its own CA) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[tuple[Site, Path, list[str | None]]]:
    """A loopback HTTPS site with a certificate for ``pinned.test``; records the SNI names."""
    cert, key = _certificate(tmp_path, "pinned.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    s = Site()
    s.server.socket = context.wrap_socket(s.server.socket, server_side=True)
    s.thread.start()
    yield s, cert, names
    s.stop.set()
    s.server.shutdown()
    s.server.server_close()


def test_https_to_the_pinned_address_sends_the_host_name(tls_site, pictures, limiter):
    site, cert, names = tls_site
    site.routes["/img"] = lambda h: send(h, 200, pictures.listed)
    dns = Resolver({"pinned.test": ["127.0.0.1"]})
    url = f"https://pinned.test:{site.port}/img"
    r = recheck(url, pictures.hashes, make_policy(ca_file=str(cert)), limiter=limiter, resolver=dns)
    assert r.outcome == "live_match"
    assert names == ["pinned.test"]  # SNI: the name, not the address
    assert site.requests[0][1]["host"] == f"pinned.test:{site.port}"


def test_https_certificate_is_checked_against_the_host_name(tls_site, pictures, limiter):
    site, cert, names = tls_site
    site.routes["/img"] = lambda h: send(h, 200, pictures.listed)
    dns = Resolver({"other.test": ["127.0.0.1"]})
    url = f"https://other.test:{site.port}/img"
    r = recheck(url, pictures.hashes, make_policy(ca_file=str(cert)), limiter=limiter, resolver=dns)
    assert r.outcome == "error"
    assert r.reason.startswith("TLS certificate not accepted (")
    assert "other.test" in r.reason and r.reason.endswith(f"connecting to 127.0.0.1:{site.port}")
    assert site.requests == []
    # ...and the system's CAs do not know the test certificate at all
    dns.answers["pinned.test"] = ["127.0.0.1"]
    url = f"https://pinned.test:{site.port}/img"
    r = recheck(url, pictures.hashes, make_policy(), limiter=limiter, resolver=dns)
    assert r.outcome == "error" and r.reason.startswith("TLS certificate not accepted")


def test_https_without_verification_when_the_policy_says_so(tls_site, pictures, limiter):
    site, _, names = tls_site
    site.routes["/img"] = lambda h: send(h, 200, pictures.listed)
    dns = Resolver({"other.test": ["127.0.0.1"]})
    policy = make_policy(verify_tls=False)
    url = f"https://other.test:{site.port}/img"
    r = recheck(url, pictures.hashes, policy, limiter=limiter, resolver=dns)
    assert r.outcome == "live_match"
    assert names == ["other.test"]


def test_plain_http_to_a_tls_port_is_inconclusive(tls_site, pictures, limiter):
    site, _, _ = tls_site
    r = recheck(site.url("/img"), pictures.hashes, make_policy(), limiter=limiter)
    assert r.outcome == "error"


def test_tls_handshake_that_never_ends_is_bounded(pictures, limiter):
    """A server that accepts and then says nothing: the handshake times out."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        r = recheck(f"https://127.0.0.1:{port}/", pictures.hashes, make_policy(), limiter=limiter)
    assert r.outcome == "error"
    assert r.reason == f"timed out connecting to 127.0.0.1:{port}"

"""Signed bundles: verified before anything is parsed; deltas; hostile payloads."""

import base64
import gzip
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashwatch.lists import ListEntry, ListFormatError, apply_delta, load_list, write_bundle
from hashwatch.lists.bundle import MAGIC, read_bundle
from hashwatch.lists.keys import generate, load_private, load_public
from hashwatch.lists.readers.common import ReadOptions

E = [
    ListEntry("md5", "a" * 32, "1", "A"),
    ListEntry("pdq", "f0" * 32, "2", None, ("t1", "t2")),
    ListEntry("sha1", "b" * 40, "3", "B", (), 1234),
]


@pytest.fixture
def keys(tmp_path):
    key, pub = generate(tmp_path / "signer")
    return load_private(key), load_public(pub)


def test_round_trip_with_trusted_key(tmp_path, keys):
    priv, pub = keys
    p = tmp_path / "l.hwb"
    write_bundle(p, priv, "iwf-test", 7, E)
    hl = load_list(p, trusted_keys=[pub])
    assert hl.name == "iwf-test" and hl.version == 7 and hl.format == "bundle"
    assert hl.entries == E


def test_key_files(tmp_path, keys):
    assert (tmp_path / "signer.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        generate(tmp_path / "signer")
    raw = tmp_path / "raw.pub"
    raw.write_text(base64.b64encode(keys[1].public_bytes_raw()).decode())
    assert load_public(raw).public_bytes_raw() == keys[1].public_bytes_raw()


def test_refused_without_key_or_with_wrong_key(tmp_path, keys):
    p = tmp_path / "l.hwb"
    write_bundle(p, keys[0], "l", 1, E)
    with pytest.raises(ListFormatError, match="no trusted public key"):
        load_list(p)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ListFormatError, match="does not verify"):
        load_list(p, trusted_keys=[other])


@pytest.mark.parametrize("where", ["header", "payload", "truncate", "signature"])
def test_tampering_is_refused(tmp_path, keys, where):
    p = tmp_path / "l.hwb"
    write_bundle(p, keys[0], "l", 1, E)
    data = bytearray(p.read_bytes())
    if where == "header":
        i = data.index(b'"version": 1')
        data[i + 11] = ord("9")
    elif where == "payload":
        data[-5] ^= 0xFF
    elif where == "signature":
        i = data.index(b"\n", len(MAGIC)) + 3
        data[i] = ord("A") if data[i] != ord("A") else ord("B")
    else:
        data = data[:-10]
    p.write_bytes(bytes(data))
    with pytest.raises(ListFormatError) as e:
        load_list(p, trusted_keys=[keys[1]])
    assert str(p) in str(e.value)


def _signed(priv, header_extra, payload):
    header = {
        "format": "hashwatch-bundle",
        "format_version": 1,
        "name": "x",
        "version": 1,
        "kind": "full",
        "base_version": None,
        "created": "2026-01-01T00:00:00+00:00",
        "key_id": "k",
        "added": 1,
        "removed": 0,
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        **header_extra,
    }
    signed = MAGIC + json.dumps(header).encode() + b"\n"
    return signed + base64.b64encode(priv.sign(signed)) + b"\n" + payload


def test_signed_bomb_and_bad_rows_are_refused(tmp_path, keys):
    p = tmp_path / "b.hwb"
    p.write_bytes(_signed(keys[0], {}, gzip.compress(b"\n" * (50 << 20))))
    with pytest.raises(ListFormatError, match="more than allowed"):
        load_list(p, trusted_keys=[keys[1]])
    p.write_bytes(_signed(keys[0], {}, gzip.compress(b"+,md5,zz,1,,,\n")))
    with pytest.raises(ListFormatError, match="payload row 1: md5"):
        load_list(p, trusted_keys=[keys[1]])
    p.write_bytes(_signed(keys[0], {"added": 2}, gzip.compress(b"+,md5," + b"a" * 32 + b",1,,,\n")))
    with pytest.raises(ListFormatError, match="entry counts"):
        load_list(p, trusted_keys=[keys[1]])


def test_delta(tmp_path, keys):
    priv, pub = keys
    full, delta = tmp_path / "v1.hwb", tmp_path / "v2.hwb"
    write_bundle(full, priv, "l", 1, E)
    new = ListEntry("sha256", "c" * 64, "4")
    write_bundle(delta, priv, "l", 2, [new], removed=[E[0]], base_version=1)
    with pytest.raises(ListFormatError, match="cannot be used alone: apply it to version 1"):
        load_list(delta, trusted_keys=[pub])
    base = load_list(full, trusted_keys=[pub])
    with open(delta, "rb") as fh:
        info, added, removed = read_bundle(delta, fh, [pub], ReadOptions())
    v2 = apply_delta(base, added, removed, info)
    assert v2.version == 2 and v2.entries == [E[1], E[2], new]
    # a delta applies only to its own base version
    with pytest.raises(ValueError, match="delta applies to version 1, not 2"):
        apply_delta(v2, added, removed, info)


def test_cli_sign_and_scan(tmp_path, cli):
    lst = tmp_path / "l.txt"
    lst.write_text("sha1 " + hashlib.sha1(b"evidence").hexdigest() + "\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"evidence")
    assert cli("lists", "keygen", str(tmp_path / "k")).returncode == 0
    r = cli(
        "lists",
        "sign",
        str(lst),
        "--key",
        str(tmp_path / "k.key"),
        "-o",
        str(tmp_path / "l.hwb"),
        "--version",
        "4",
        "--name",
        "case",
    )
    assert r.returncode == 0, r.stderr
    r = cli("scan", "--json", "--list", str(tmp_path / "l.hwb"), str(tmp_path / "d"))
    assert r.returncode == 2 and "no trusted public key" in r.stderr
    r = cli(
        "scan",
        "--json",
        "--list",
        str(tmp_path / "l.hwb"),
        str(tmp_path / "d"),
        env={
            "HASHWATCH_TRUSTED_KEYS": str(tmp_path / "k.pub"),
            "XDG_CACHE_HOME": str(tmp_path / "c"),
        },
    )
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["list"] == "case"

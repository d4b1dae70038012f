"""Enrolment: trade a one-time token for this device's id and secret, and pin the server's
list-signing key. Stored in ``credentials.json`` in the state directory, owner-only."""

from __future__ import annotations

import base64
import json
import os
import platform
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..lists.keys import key_id
from .client import ServerClient

FILE = "credentials.json"


class EnrolmentError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Credentials:
    server_url: str
    device_id: str
    token: str
    #: The server's list-signing public key (raw, base64), pinned at enrolment: a bundle
    #: signed by any other key is refused.
    list_key: str
    list_key_id: str
    hostname: str
    enrolled_at: str

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(self.list_key))


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_credentials(state_dir: Path) -> Credentials | None:
    path = Path(state_dir) / FILE
    try:
        data = json.loads(path.read_text())
        creds = Credentials(**data)
        creds.public_key()
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as e:
        raise EnrolmentError(f"{path}: unreadable credentials ({e}); enrol again") from None
    return creds


def os_description() -> str:
    return f"{platform.system()} {platform.release()}".strip() or "unknown"


def enroll(
    state_dir: Path,
    server_url: str,
    token: str,
    *,
    ca_file: Path | None = None,
    allow_insecure_http: bool = False,
    hostname: str | None = None,
    force: bool = False,
) -> Credentials:
    """Enrol with the server and store the credentials. Refuses to replace an existing
    enrolment unless ``force``."""
    state_dir = Path(state_dir)
    if not force and (state_dir / FILE).exists():
        raise EnrolmentError(
            f"{state_dir / FILE}: this agent is already enrolled; use --force to enrol again"
        )
    host = hostname or socket.gethostname()
    with ServerClient(
        server_url, ca_file=ca_file, allow_insecure_http=allow_insecure_http
    ) as client:
        answer = client.enroll(token.strip(), host, os_description())
    try:
        key = base64.b64decode(answer["list_signing_key"], validate=True)
        public = Ed25519PublicKey.from_public_bytes(key)
    except (KeyError, ValueError) as e:
        raise EnrolmentError(f"the server sent no usable list-signing key ({e})") from None
    if answer.get("list_signing_key_id") not in (None, key_id(public)):
        raise EnrolmentError("the server's list-signing key does not match its key id")
    from .context import local_now

    creds = Credentials(
        server_url=client.url,
        device_id=answer["device_id"],
        token=answer["token"],
        list_key=answer["list_signing_key"],
        list_key_id=key_id(public),
        hostname=host,
        enrolled_at=local_now().isoformat(timespec="seconds"),
    )
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(state_dir / FILE, json.dumps(asdict(creds), indent=2))
    return creds

"""Send incident notifications to the safeguarding team's targets.

Four kinds of target:

* ``email``   - plain-text e-mail over SMTP (optionally STARTTLS or implicit TLS, optional AUTH);
* ``webhook`` - HTTP(S) POST of the payload as compact JSON, optionally HMAC-signed;
* ``jsonl``   - one JSON line appended to a local file (for log shippers);
* ``syslog``  - an RFC 5424 message over UDP or TCP (octet-counted), JSON after the header.

Notifications carry metadata only (device, time, list, category...). Matched content is
never part of a payload, and nothing here reads or attaches files.

Public API: :func:`validate_target` checks and normalises a target's configuration,
:func:`render_text` formats a payload for people, :func:`deliver` sends it and raises
:class:`DeliveryError` with a message saying where and why delivery failed.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import os
import re
import smtplib
import socket
import ssl
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any
from urllib.parse import urlsplit

import httpx

from hashwatch import __version__

__all__ = ["KINDS", "DeliveryError", "deliver", "render_text", "send_mail", "validate_target"]

KINDS = ("email", "webhook", "jsonl", "syslog")

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 300.0
SUBJECT_PREFIX = "[hashwatch]"
CONTENT_NOTE = "Metadata only: the matched content itself is never included in notifications."


class DeliveryError(Exception):
    """A notification could not be delivered; the message says to where and why."""


# --------------------------------------------------------------------------- validation

_REQUIRED = object()
_Check = Callable[[str, str, Any], Any]
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RESERVED_HEADERS = {"content-type", "content-length", "host", "transfer-encoding", "connection"}


def _bad(kind: str, field: str, what: str) -> ValueError:
    return ValueError(f"{kind} target: '{field}' must be {what}")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def _string(kind: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or _has_control(value):
        raise _bad(kind, field, "a non-empty string without control characters")
    return value.strip()


def _host(kind: str, field: str, value: Any) -> str:
    host = value.strip() if isinstance(value, str) else ""
    if not re.fullmatch(r"[\x21-\x7e]+", host):
        raise _bad(kind, field, "a host name or IP address")
    return host


def _port(kind: str, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _bad(kind, field, "an integer 1-65535")
    return value


def _timeout(kind: str, field: str, value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise _bad(kind, field, f"a number of seconds, more than 0 and at most {MAX_TIMEOUT:g}")
    return float(value)


def _flag(kind: str, field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(kind, field, "true or false")
    return value


def _choice(*options: str) -> _Check:
    def check(kind: str, field: str, value: Any) -> str:
        if value not in options:
            raise _bad(kind, field, "one of " + ", ".join(repr(o) for o in options))
        return value

    return check


def _address(kind: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or _has_control(value):
        raise _bad(kind, field, "an e-mail address")
    if not _ADDRESS.match(parseaddr(value.strip())[1]):
        raise _bad(kind, field, "an e-mail address")
    return value.strip()


def _recipients(kind: str, field: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise _bad(kind, field, "a non-empty list of e-mail addresses")
    return [_address(kind, f"{field}[{i}]", item) for i, item in enumerate(value)]


def _credential(kind: str, field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or _has_control(value):
        raise _bad(kind, field, "a non-empty string without control characters")
    return value


def _url(kind: str, field: str, value: Any) -> str:
    what = "an http:// or https:// URL with a host"
    if not isinstance(value, str) or re.search(r"[\s\x00-\x1f\x7f]", value.strip()):
        raise _bad(kind, field, what)
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _bad(kind, field, what) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(kind, field, what)
    return value.strip()


def _headers(kind: str, field: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(kind, field, "a mapping of header names to string values")
    out: dict[str, str] = {}
    for name, val in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise _bad(kind, field, f"a mapping with valid header names (not {name!r})")
        low = name.lower()
        if low in _RESERVED_HEADERS or low.startswith("x-hashwatch-"):
            raise _bad(kind, field, f"free of headers hashwatch sets itself (not {name!r})")
        if not isinstance(val, str) or not re.fullmatch(r"[\x20-\x7e]*", val):
            raise _bad(kind, field, f"a mapping to printable ASCII strings (not for {name!r})")
        out[name] = val
    return out


def _path(kind: str, field: str, value: Any) -> str:
    try:
        path = os.fspath(value)
    except TypeError:
        raise _bad(kind, field, "an absolute file path") from None
    if not isinstance(path, str) or "\x00" in path or not os.path.isabs(path):
        raise _bad(kind, field, "an absolute file path")
    return path


def _facility(kind: str, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise _bad(kind, field, "an integer 0-23")
    return value


def _app_name(kind: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[\x21-\x7e]{1,48}", value):
        raise _bad(kind, field, "1-48 printable ASCII characters without spaces")
    return value


def _secret(kind: str, field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(kind, field, "a non-empty string")
    return value


_SPECS: dict[str, dict[str, tuple[Any, _Check]]] = {
    "email": {
        "host": (_REQUIRED, _host),
        "port": (25, _port),
        "sender": (_REQUIRED, _address),
        "recipients": (_REQUIRED, _recipients),
        "security": ("none", _choice("none", "starttls", "tls")),
        "username": (None, _credential),
        "password": (None, _credential),
        "timeout": (DEFAULT_TIMEOUT, _timeout),
    },
    "webhook": {
        "url": (_REQUIRED, _url),
        "secret": (None, _secret),
        "timeout": (DEFAULT_TIMEOUT, _timeout),
        "verify_tls": (True, _flag),
        "headers": ({}, _headers),
    },
    "jsonl": {
        "path": (_REQUIRED, _path),
    },
    "syslog": {
        "host": ("127.0.0.1", _host),
        "port": (514, _port),
        "protocol": ("udp", _choice("udp", "tcp")),
        "facility": (13, _facility),
        "app_name": ("hashwatch", _app_name),
        "timeout": (DEFAULT_TIMEOUT, _timeout),
    },
}


def validate_target(kind: str, config: dict) -> dict:
    """Check a target's configuration; return a normalised copy with defaults filled in.

    Raises ValueError naming the unknown kind, the unknown fields or the offending field.
    """
    if not isinstance(kind, str) or kind not in _SPECS:
        raise ValueError(f"unknown target kind {kind!r}; expected one of: {', '.join(KINDS)}")
    if not isinstance(config, Mapping):
        raise ValueError(f"{kind} target: configuration must be a mapping of fields")
    spec = _SPECS[kind]
    unknown = sorted(repr(k) for k in config if k not in spec)
    if unknown:
        raise ValueError(f"{kind} target: unknown field(s) {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for field, (default, check) in spec.items():
        if field not in config or (config[field] is None and default is not _REQUIRED):
            if default is _REQUIRED:
                raise ValueError(f"{kind} target: '{field}' is required")
            out[field] = copy.deepcopy(default)
        else:
            out[field] = check(kind, field, config[field])
    if kind == "email" and (out["username"] is None) != (out["password"] is None):
        raise ValueError("email target: 'username' and 'password' must be given together")
    return out


# --------------------------------------------------------------------------- rendering

_INCIDENT_FIELDS = (
    ("Device", "device"),
    ("Site", "site"),
    ("Detected (UTC)", "detected_at"),
    ("Detected (device clock)", "detected_local"),
    ("Received by server", "received_at"),
    ("Trigger", "trigger"),
)
_INCIDENT_FLAGS = (
    ("Outside working hours", "outside_hours"),
    ("Off the company network", "off_network"),
    ("On removable media", "removable_media"),
)


def _show(value: Any, limit: int = 200) -> str:
    """A value as one safe line of text: no control or formatting characters, bounded length."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    bad = ("Cc", "Cf", "Zl", "Zp")
    return "".join(" " if unicodedata.category(ch) in bad else ch for ch in text).strip()


def _lines(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(label) for label, _ in rows), default=0) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in rows]


def _incident_subject(inc: Mapping[str, Any]) -> str:
    detail = f"list {_show(inc.get('list'), 64)}"
    if inc.get("category") is not None:
        detail += f", category {_show(inc.get('category'), 32)}"
    return f"{SUBJECT_PREFIX} New incident on {_show(inc.get('device'), 64)} ({detail})"


def _incident_rows(inc: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [(label, _show(inc.get(key))) for label, key in _INCIDENT_FIELDS]
    hash_list = _show(inc.get("list"))
    if inc.get("list_version") is not None:
        hash_list += f" (version {_show(inc.get('list_version'))})"
    rows.append(("Hash list", hash_list))
    rows.append(("Category", _show(inc.get("category"))))
    match = _show(inc.get("signal_type"))
    if inc.get("distance") is not None:
        match += f", distance {_show(inc.get('distance'))}"
    rows.append(("Match", match))
    rows += [(label, _show(inc.get(key))) for label, key in _INCIDENT_FLAGS]
    rows.append(("Incident ID", _show(inc.get("id"))))
    return rows


def _render_incident(payload: Mapping[str, Any], inc: Mapping[str, Any]) -> tuple[str, str]:
    body = ["hashwatch has recorded a new incident.", ""]
    body += _lines(_incident_rows(inc))
    body += ["", "Open the incident on the management server:", f"  {_show(inc.get('url'), 2000)}"]
    server = _show(payload.get("server"), 500)
    body += ["", CONTENT_NOTE, "", f"Sent by the hashwatch server {server}"]
    return _incident_subject(inc), "\n".join(body) + "\n"


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        rows: list[tuple[str, str]] = []
        for key in sorted(value, key=str):
            rows += _flatten(value[key], f"{prefix}{_show(key, 64)}.")
        return rows
    if isinstance(value, list | tuple):
        return [(prefix.rstrip("."), ", ".join(_show(v) for v in value) or "(none)")]
    return [(prefix.rstrip("."), _show(value))]


def _render_generic(payload: Mapping[str, Any]) -> tuple[str, str]:
    event = _show(payload.get("event"), 64)
    if payload.get("event") == "test":
        intro = "This is a test notification from hashwatch: this target works."
    else:
        intro = f"hashwatch event: {event}"
    details = {k: v for k, v in payload.items() if k != "event"}
    body = [intro, ""] + _lines(_flatten(details)[:100]) + ["", CONTENT_NOTE]
    return f"{SUBJECT_PREFIX} {event} notification", "\n".join(body) + "\n"


def render_text(payload: dict) -> tuple[str, str]:
    """Format a payload for people: (subject, body), both plain text.

    ``incident.new`` gets a dedicated layout listing only the known metadata fields; any
    other event is rendered generically as ``key: value`` lines.
    """
    incident = payload.get("incident")
    if payload.get("event") == "incident.new" and isinstance(incident, Mapping):
        return _render_incident(payload, incident)
    return _render_generic(payload)


# --------------------------------------------------------------------------- helpers


def _compact_json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _token(text: str, limit: int) -> str:
    """Printable ASCII without spaces (syslog MSGID/HOSTNAME, HTTP header values)."""
    return re.sub(r"[^\x21-\x7e]", "_", text)[:limit] or "-"


def _os_reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name ({exc.strerror})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- email


def _build_email(cfg: Mapping[str, Any], payload: Mapping[str, Any]) -> EmailMessage:
    subject, body = render_text(dict(payload))
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg["sender"]
    msg["To"] = ", ".join(cfg["recipients"])
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid("hashwatch", domain=parseaddr(cfg["sender"])[1].split("@")[-1])
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    return msg


def _smtp_connect(cfg: Mapping[str, Any]) -> smtplib.SMTP:
    host, port, timeout = cfg["host"], cfg["port"], cfg["timeout"]
    if cfg["security"] == "tls":
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    return smtplib.SMTP(host, port, timeout=timeout)


def _smtp_reason(exc: Exception, timeout: float) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"authentication failed ({exc.smtp_code} {_smtp_text(exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "all recipients refused: " + _refused(exc.recipients)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"server replied {exc.smtp_code} {_smtp_text(exc.smtp_error)}"
    if isinstance(exc, OSError):
        return _os_reason(exc, timeout)
    return str(exc) or type(exc).__name__


def _smtp_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _show(text, 300)


def _refused(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{r} ({code} {_smtp_text(text)})" for r, (code, text) in recipients.items())


def _send_email(cfg: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    _smtp_send(cfg, _build_email(cfg, payload), cfg["recipients"])


def _smtp_send(cfg: Mapping[str, Any], msg: EmailMessage, recipients: list[str]) -> None:
    where = _hostport(cfg["host"], cfg["port"])
    envelope_to = [parseaddr(r)[1] for r in recipients]
    try:
        with _smtp_connect(cfg) as smtp:
            if cfg["security"] == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if cfg["username"] is not None:
                smtp.login(cfg["username"], cfg["password"])
            refused = smtp.send_message(
                msg, from_addr=parseaddr(msg["From"])[1], to_addrs=envelope_to
            )
    except (smtplib.SMTPException, OSError) as exc:
        reason = _smtp_reason(exc, cfg["timeout"])
        raise DeliveryError(f"e-mail via {where}: {reason}") from exc
    if refused:
        raise DeliveryError(
            f"e-mail via {where}: some recipients refused (sent to the others): {_refused(refused)}"
        )


def send_mail(
    config: dict,
    *,
    to: list[str],
    subject: str,
    body: str,
    cc: list[str] | None = None,
    sender: str | None = None,
    reply_to: str | None = None,
) -> str:
    """Send one plain-text e-mail through an ``email`` target's SMTP server (its own
    recipients are not used) and return the Message-ID. Raises DeliveryError like
    :func:`deliver`, ValueError for a bad configuration or address."""
    cfg = validate_target("email", config)
    to = [_address("email", "to", a) for a in to]
    cc = [_address("email", "cc", a) for a in cc or []]
    if not to:
        raise ValueError("e-mail: no recipient")
    msg = EmailMessage()
    msg["Subject"] = _show(subject.replace("\r", " ").replace("\n", " "), 300)
    msg["From"] = _address("email", "sender", sender) if sender else cfg["sender"]
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = _address("email", "reply_to", reply_to)
    msg["Date"] = formatdate(usegmt=True)
    domain = parseaddr(str(msg["From"]))[1].split("@")[-1] or "hashwatch.invalid"
    msg["Message-ID"] = make_msgid("hashwatch", domain=domain)
    msg.set_content(body)
    _smtp_send(cfg, msg, to + cc)
    return str(msg["Message-ID"])


# --------------------------------------------------------------------------- webhook


def _origin(url: str) -> str:
    """scheme://host[:port] only: webhook paths and queries often embed secret tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _webhook_headers(cfg: Mapping[str, Any], payload: Mapping[str, Any], body: bytes) -> dict:
    headers = dict(cfg["headers"])
    headers["Content-Type"] = "application/json"
    headers.setdefault("User-Agent", f"hashwatch/{__version__}")
    headers["X-Hashwatch-Event"] = _token(str(payload.get("event", "")), 64)
    if cfg["secret"] is not None:
        digest = hmac.new(cfg["secret"].encode("utf-8"), body, hashlib.sha256).hexdigest()
        headers["X-Hashwatch-Signature"] = f"sha256={digest}"
    return headers


def _post(cfg: Mapping[str, Any], body: bytes, headers: dict) -> tuple[int, str, str]:
    """POST without following redirects; (status, reason, start of the body if not 2xx)."""
    options = {"timeout": cfg["timeout"], "verify": cfg["verify_tls"], "follow_redirects": False}
    with httpx.Client(**options) as client:
        with client.stream("POST", cfg["url"], content=body, headers=headers) as resp:
            if resp.is_success:
                return resp.status_code, resp.reason_phrase, ""
            snippet = b""
            for chunk in resp.iter_bytes():
                snippet += chunk
                if len(snippet) >= 200:
                    break
            return resp.status_code, resp.reason_phrase, snippet.decode("utf-8", "replace")


def _underlying_os_error(exc: BaseException) -> OSError | None:
    """httpx wraps socket and TLS errors (via httpcore); find the original one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _send_webhook(cfg: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    body = _compact_json(payload).encode("utf-8")
    where = _origin(cfg["url"])
    try:
        status, reason, snippet = _post(cfg, body, _webhook_headers(cfg, payload, body))
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"webhook {where}: timed out after {cfg['timeout']:g}s") from exc
    except httpx.HTTPError as exc:
        os_error = _underlying_os_error(exc)
        reason_text = _os_reason(os_error, cfg["timeout"]) if os_error else str(exc)
        raise DeliveryError(f"webhook {where}: {reason_text or type(exc).__name__}") from exc
    if 200 <= status < 300:
        return
    message = f"webhook {where}: HTTP {status} {reason}".rstrip()
    if 300 <= status < 400:
        message += " (redirects are not followed; check the URL)"
    elif snippet.strip():
        message += f": {_show(snippet, 200)}"
    raise DeliveryError(message)


# --------------------------------------------------------------------------- jsonl


def _open_append(path: str) -> tuple[int, bool]:
    """Open for appending; create with mode 0600 if missing. Returns (fd, created)."""
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    for _ in range(3):
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # whatever the umask
            return fd, True
        try:
            return os.open(path, flags), False
        except FileNotFoundError:
            continue  # removed in between: try creating again
    raise FileNotFoundError(f"{path} keeps disappearing")


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform; the file itself is synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _append_jsonl(cfg: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    line = (_compact_json(payload) + "\n").encode("utf-8")
    path = cfg["path"]
    try:
        fd, created = _open_append(path)
        try:
            view = memoryview(line)
            while view:  # one write(2) in practice; O_APPEND keeps it whole
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise DeliveryError(f"jsonl {path}: {exc.strerror or exc}") from exc
    if created:
        _fsync_dir(os.path.dirname(path))


# --------------------------------------------------------------------------- syslog


def _syslog_message(cfg: Mapping[str, Any], payload: Mapping[str, Any]) -> bytes:
    """RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID - MSG`` with MSG = JSON."""
    event = str(payload.get("event", ""))
    severity = 4 if event == "incident.new" else 6
    pri = cfg["facility"] * 8 + severity
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    hostname = _token(socket.gethostname(), 255)
    msgid = _token(event.replace(" ", "_"), 32)
    header = f"<{pri}>1 {stamp} {hostname} {cfg['app_name']} - {msgid} -"
    # ensure_ascii JSON is plain ASCII, so MSG needs no BOM (RFC 5424 MSG-ANY)
    return f"{header} {_compact_json(payload)}".encode("ascii")


def _syslog_send(cfg: Mapping[str, Any], message: bytes) -> None:
    address = (cfg["host"], cfg["port"])
    if cfg["protocol"] == "tcp":
        with socket.create_connection(address, timeout=cfg["timeout"]) as sock:
            sock.sendall(f"{len(message)} ".encode("ascii") + message)  # RFC 6587 octet counting
        return
    family, kind, proto, _, sockaddr = socket.getaddrinfo(*address, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(cfg["timeout"])
        sock.sendto(message, sockaddr)


def _send_syslog(cfg: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    message = _syslog_message(cfg, payload)
    try:
        _syslog_send(cfg, message)
    except OSError as exc:
        where = f"{cfg['protocol']}://{_hostport(cfg['host'], cfg['port'])}"
        raise DeliveryError(f"syslog {where}: {_os_reason(exc, cfg['timeout'])}") from exc


# --------------------------------------------------------------------------- dispatch

_SENDERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], None]] = {
    "email": _send_email,
    "webhook": _send_webhook,
    "jsonl": _append_jsonl,
    "syslog": _send_syslog,
}


def deliver(kind: str, config: dict, payload: dict) -> None:
    """Validate the target, then send ``payload`` to it.

    Raises ValueError for a bad configuration or a payload without a string ``event``, and
    DeliveryError when the target cannot be reached or refuses the notification.
    """
    cfg = validate_target(kind, config)
    if not isinstance(payload, Mapping) or not isinstance(payload.get("event"), str):
        raise ValueError("payload must be a mapping with a string 'event'")
    _SENDERS[kind](cfg, payload)

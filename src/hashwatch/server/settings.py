"""Organisation-wide settings kept in the database (key -> JSON), with their defaults and
validation. Per-site working hours live on the site itself."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from ..store.models import Setting
from .derive import SettingsError, validate_networks


def _int_range(v: object, key: str, low: int, high: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise SettingsError(f"{key} must be a whole number from {low} to {high}")
    return v


DEFAULTS: dict[str, object] = {
    "org_networks": [],  # CIDR blocks of the organisation's networks
    "heartbeat_seconds": 900,
    # a device not heard from for longer is flagged "silent" (72 h: a normal weekend off
    # is not flagged, a week is)
    "silent_after_seconds": 72 * 3600,
    # roles that see file paths masked (paths are evidence: shown in full by default)
    "mask_paths_for": [],
    # closed incidents (and device journals) older than this many days are deleted; None
    # keeps everything
    "retention_days": None,
    # ---- takedown tracker
    # the e-mail notification target whose SMTP server sends notices (None: not sent)
    "takedown_mail_target": None,
    # notices go out From this address (None: the target's own sender)
    "takedown_sender": None,
    "takedown_resend_hours": 24,  # a host's open URLs are noticed again after this long
    "takedown_escalate_after": 3,  # notices to a URL before the next one is an escalation
    "takedown_escalation_cc": [],  # who an escalation goes to besides the abuse contact
    # HTTP rechecks of reported URLs: only for deployments authorised to check such URLs
    "takedown_recheck": False,
    "takedown_recheck_hours": 12,
    # the weekly report flags a week-on-week change of at least this many per cent
    "report_change_threshold_pct": 50,
}
VALIDATORS = {
    "org_networks": validate_networks,
    "heartbeat_seconds": lambda v: _int_range(v, "heartbeat_seconds", 60, 86400),
    "silent_after_seconds": lambda v: _int_range(v, "silent_after_seconds", 300, 90 * 86400),
    "mask_paths_for": lambda v: _roles(v, "mask_paths_for"),
    "retention_days": lambda v: None if v is None else _int_range(v, "retention_days", 30, 36500),
    "takedown_mail_target": lambda v: _optional_text(v, "takedown_mail_target", 100),
    "takedown_sender": lambda v: _optional_address(v, "takedown_sender"),
    "takedown_resend_hours": lambda v: _int_range(v, "takedown_resend_hours", 1, 24 * 30),
    "takedown_escalate_after": lambda v: _int_range(v, "takedown_escalate_after", 1, 100),
    "takedown_escalation_cc": lambda v: _addresses(v, "takedown_escalation_cc"),
    "takedown_recheck": lambda v: _flag(v, "takedown_recheck"),
    "takedown_recheck_hours": lambda v: _int_range(v, "takedown_recheck_hours", 1, 24 * 30),
    "report_change_threshold_pct": lambda v: _int_range(v, "report_change_threshold_pct", 1, 1000),
}


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _flag(v: object, key: str) -> bool:
    if not isinstance(v, bool):
        raise SettingsError(f"{key} must be true or false")
    return v


def _optional_text(v: object, key: str, limit: int) -> str | None:
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v.strip()) > limit or not v.strip().isprintable():
        raise SettingsError(f"{key} must be a name of at most {limit} printable characters")
    return v.strip()


def _optional_address(v: object, key: str) -> str | None:
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) > 254 or not _EMAIL.match(v.strip()):
        raise SettingsError(f"{key} must be an e-mail address")
    return v.strip()


def _addresses(v: object, key: str) -> list[str]:
    if not isinstance(v, list) or len(v) > 20:
        raise SettingsError(f"{key} must be a list of at most 20 e-mail addresses")
    out = []
    for i, a in enumerate(v):
        if not isinstance(a, str) or len(a) > 254 or not _EMAIL.match(a.strip()):
            raise SettingsError(f"{key}[{i}] must be an e-mail address")
        out.append(a.strip())
    return out


def _roles(v: object, key: str) -> list[str]:
    from .auth import ROLES as roles

    if not isinstance(v, list) or any(r not in roles for r in v):
        raise SettingsError(f"{key} must be a list of roles out of {', '.join(roles)}")
    return sorted(set(v))


def get_setting(session: Session, key: str):
    row = session.get(Setting, key)
    return DEFAULTS[key] if row is None else row.value


def all_settings(session: Session) -> dict:
    return {k: get_setting(session, k) for k in DEFAULTS}


def set_setting(session: Session, key: str, value: object) -> object:
    if key not in DEFAULTS:
        raise SettingsError(f"unknown setting {key!r} (known: {', '.join(DEFAULTS)})")
    value = VALIDATORS[key](value)
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value
    return value

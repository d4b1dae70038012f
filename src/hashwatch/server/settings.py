"""Organisation-wide settings kept in the database (key -> JSON), with their defaults and
validation. Per-site working hours live on the site itself."""

from __future__ import annotations

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
}
VALIDATORS = {
    "org_networks": validate_networks,
    "heartbeat_seconds": lambda v: _int_range(v, "heartbeat_seconds", 60, 86400),
    "silent_after_seconds": lambda v: _int_range(v, "silent_after_seconds", 300, 90 * 86400),
    "mask_paths_for": lambda v: _roles(v, "mask_paths_for"),
    "retention_days": lambda v: None if v is None else _int_range(v, "retention_days", 30, 36500),
}


def _roles(v: object, key: str) -> list[str]:
    roles = ("admin", "investigator", "auditor")
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

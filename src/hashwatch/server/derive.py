"""What the server works out about an incident when it arrives: outside working hours (the
site's hours, weekends and holidays, in the site's time zone), off the organisation's
network, from removable media, how long delivery took, and the device-day group."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS = {d: [["08:00", "18:00"]] for d in DAYS[:5]}


class SettingsError(ValueError):
    pass


def validate_hours(hours: object) -> dict[str, list[list[str]]]:
    """``{"mon": [["08:00", "12:30"], ["13:30", "18:00"]], ...}``; other days are days off."""
    if not isinstance(hours, dict):
        raise SettingsError("working_hours must be an object of weekday -> list of [start, end]")
    out: dict[str, list[list[str]]] = {}
    for day, spans in hours.items():
        if day not in DAYS:
            raise SettingsError(f"working_hours: {day!r} is not one of {', '.join(DAYS)}")
        if not isinstance(spans, list):
            raise SettingsError(f"working_hours.{day}: must be a list of [start, end]")
        out[day] = []
        for i, span in enumerate(spans):
            if not (isinstance(span, list | tuple) and len(span) == 2):
                raise SettingsError(f"working_hours.{day}[{i}]: must be [start, end]")
            start, end = (_hhmm(s, f"working_hours.{day}[{i}]") for s in span)
            if start >= end:
                raise SettingsError(f"working_hours.{day}[{i}]: start must be before end")
            out[day].append([start.strftime("%H:%M"), end.strftime("%H:%M")])
    return out


def _hhmm(s: object, where: str) -> time:
    try:
        if s == "24:00":
            return time(23, 59, 59, 999999)
        return time.fromisoformat(str(s))
    except ValueError:
        raise SettingsError(f"{where}: {s!r} is not a time like 08:30") from None


def validate_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"timezone: {name!r} is not a known time zone") from None


def validate_holidays(days: object) -> list[str]:
    if not isinstance(days, list):
        raise SettingsError("holidays must be a list of dates like 2026-12-25")
    out = []
    for d in days:
        try:
            out.append(date.fromisoformat(str(d)).isoformat())
        except ValueError:
            raise SettingsError(f"holidays: {d!r} is not a date like 2026-12-25") from None
    return sorted(set(out))


def validate_networks(nets: object) -> list[str]:
    if not isinstance(nets, list):
        raise SettingsError("org_networks must be a list of CIDR blocks like 10.0.0.0/8")
    out = []
    for n in nets:
        try:
            out.append(str(ipaddress.ip_network(str(n), strict=False)))
        except ValueError:
            raise SettingsError(f"org_networks: {n!r} is not a CIDR block") from None
    return out


def local_time(detected_utc: datetime, tz: str | None, offset_min: int) -> datetime:
    """The detection time in the site's zone, or at the endpoint's own offset if no zone."""
    aware = detected_utc.replace(tzinfo=ZoneInfo("UTC"))
    if tz:
        try:
            return aware.astimezone(ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return aware + timedelta(minutes=offset_min)


def outside_hours(local: datetime, hours: dict, holidays: Iterable[str]) -> bool:
    if local.date().isoformat() in set(holidays):
        return True
    spans = hours.get(DAYS[local.weekday()], [])
    t = local.time().replace(tzinfo=None)
    return not any(_hhmm(a, "") <= t < _hhmm(b, "") for a, b in spans)


def off_network(
    online: bool | None,
    agent_says_on_org: bool | None,
    addresses: Sequence[str],
    org_networks: Sequence[str],
) -> bool | None:
    """True when the device was not on the organisation's network; None if unknown."""
    if online is False:
        return True
    if agent_says_on_org is not None:
        return not agent_says_on_org
    if not org_networks or not addresses:
        return None
    nets = [ipaddress.ip_network(n) for n in org_networks]
    for a in addresses:
        ip = ipaddress.ip_address(a)
        if any(ip.version == n.version and ip in n for n in nets):
            return False
    return True

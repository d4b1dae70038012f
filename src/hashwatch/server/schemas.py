"""What agents send, validated strictly: unknown fields, wrong types and oversize values are
refused with a 422 that names the field. Nothing here carries content, only metadata and hashes.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

_HEX = re.compile(r"^[0-9a-f]+$")
_SKEW = timedelta(days=1)

Str255 = Annotated[str, Field(max_length=255)]
Path_ = Annotated[str, Field(min_length=1, max_length=4096)]
Triggers = Literal[
    "realtime", "scheduled", "removable", "network", "container", "rematch", "manual"
]
VolumeKinds = Literal["removable", "network", "fixed", "optical", "unknown"]


def _hex(n: int):
    def check(v: str | None) -> str | None:
        if v is None:
            return None
        v = v.lower()
        if len(v) != n or not _HEX.match(v):
            raise ValueError(f"must be {n} hexadecimal digits")
        return v

    return AfterValidator(check)


def _aware(v: datetime) -> datetime:
    if v.tzinfo is None or v.utcoffset() is None:
        raise ValueError("must carry a UTC offset (e.g. 2026-11-21T23:14:05+01:00)")
    return v


Aware = Annotated[datetime, AfterValidator(_aware)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class EnrollIn(Strict):
    token: Annotated[str, Field(min_length=10, max_length=200)]
    hostname: Annotated[str, Field(min_length=1, max_length=255)]
    os: Annotated[str, Field(max_length=100)] | None = None
    agent_version: Annotated[str, Field(max_length=50)] | None = None


class DeviceEventIn(Strict):
    at: Aware
    kind: Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_.:-]+$")]
    detail: dict = Field(default_factory=dict)

    @field_validator("detail")
    @classmethod
    def _small(cls, v: dict) -> dict:
        if len(repr(v)) > 4000:
            raise ValueError("detail is larger than 4000 characters")
        return v


class HeartbeatIn(Strict):
    status: Literal["ok", "degraded", "error"] = "ok"
    agent_version: Annotated[str, Field(max_length=50)] | None = None
    hostname: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    os: Annotated[str, Field(max_length=100)] | None = None
    list_versions: dict[Annotated[str, Field(max_length=100)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=100
    )
    queue_depth: Annotated[int, Field(ge=0)] = 0
    last_full_scan: Aware | None = None
    watched_paths: list[Path_] = Field(default_factory=list, max_length=200)
    events: list[DeviceEventIn] = Field(default_factory=list, max_length=100)


class HostIn(Strict):
    hostname: Annotated[str, Field(min_length=1, max_length=255)]
    os_user: Str255 | None = None


class VolumeIn(Strict):
    kind: VolumeKinds = "unknown"
    label: Str255 | None = None
    serial: Str255 | None = None
    mount: Path_ | None = None


class FileIn(Strict):
    path: Path_
    inner: Path_ | None = None
    size: Annotated[int, Field(ge=0)] | None = None
    sha256: Annotated[str | None, _hex(64)] = None
    md5: Annotated[str | None, _hex(32)] = None
    sha1: Annotated[str | None, _hex(40)] = None
    pdq: Annotated[str | None, _hex(64)] = None
    mtime: Aware | None = None
    ctime: Aware | None = None
    volume: VolumeIn = Field(default_factory=VolumeIn)


class MatchIn(Strict):
    signal_type: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z0-9_]+$")]
    signal: Annotated[str, Field(min_length=1, max_length=20000)]
    distance: Annotated[int, Field(ge=0, le=256)] = 0
    list: Annotated[str, Field(min_length=1, max_length=100)]
    list_version: Annotated[int, Field(ge=0)] | None = None
    entry_id: Annotated[str, Field(max_length=255)] = ""
    category: Annotated[str, Field(max_length=100)] | None = None


class ContextIn(Strict):
    online: bool | None = None
    on_org_network: bool | None = None
    addresses: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=32
    )
    network_name: Str255 | None = None

    @field_validator("addresses")
    @classmethod
    def _ips(cls, v: list[str]) -> list[str]:
        for a in v:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise ValueError(f"{a!r} is not an IP address") from None
        return v


class TrailItemIn(Strict):
    path: Path_
    inner: Path_ | None = None
    signal_type: Annotated[str, Field(max_length=20)]
    distance: Annotated[int, Field(ge=0, le=256)] = 0
    list: Annotated[str, Field(max_length=100)]
    entry_id: Annotated[str, Field(max_length=255)] = ""


class IncidentIn(Strict):
    id: uuid.UUID
    detected_at: Aware
    trigger: Triggers
    host: HostIn
    file: FileIn
    match: MatchIn
    context: ContextIn = Field(default_factory=ContextIn)
    origin_url: Annotated[str, Field(max_length=4096)] | None = None
    trail: list[TrailItemIn] = Field(default_factory=list, max_length=100)

    @field_validator("detected_at")
    @classmethod
    def _not_future(cls, v: datetime) -> datetime:
        if v.astimezone(UTC) > datetime.now(UTC) + _SKEW:
            raise ValueError("is more than a day in the future (is the endpoint's clock wrong?)")
        return v


class IncidentBatchIn(Strict):
    incidents: list[IncidentIn] = Field(min_length=1, max_length=500)

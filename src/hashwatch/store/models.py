"""The server's tables (SQLAlchemy 2 declarative models).

Conventions: times are UTC, stored without a zone (``timestamp`` / SQLite text); an
incident keeps the endpoint's UTC offset beside its time. Ids handed to agents and users are
random UUID strings; secrets are never stored, only their hashes. The schema is created and
changed only by the Alembic migrations in ``store/migrations`` — a test checks that the
models and the migrations agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(36)


class Base(DeclarativeBase):
    pass


class Site(Base):
    """A place with its own time zone, working hours and holidays."""

    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: {"mon": [["08:00", "18:00"]], ...}; a missing day is a day off
    working_hours: Mapped[dict] = mapped_column(JSON, default=dict)
    holidays: Mapped[list] = mapped_column(JSON, default=list)  # ["2026-12-25", ...]


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin | investigator | auditor
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)


class UserSession(Base):
    """A browser session; ``id`` is the sha256 of the cookie value."""

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    """A personal API token ``hwu_<id>_<secret>``; only the secret's sha256 is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class LoginFailure(Base):
    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)


class EnrollToken(Base):
    """A one-time (or N-time) enrolment token ``hwe_<id>_<secret>`` made by an admin."""

    __tablename__ = "enroll_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Device(Base):
    """An enrolled agent (one computer)."""

    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(String(255), index=True)
    os: Mapped[str | None] = mapped_column(String(100))
    agent_version: Mapped[str | None] = mapped_column(String(50))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    enroll_token_id: Mapped[str | None] = mapped_column(String(32))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    last_ip: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(20))  # ok | degraded | error (agent's own)
    list_versions: Mapped[dict] = mapped_column(JSON, default=dict)
    queue_depth: Mapped[int] = mapped_column(Integer, default=0)
    last_full_scan_at: Mapped[datetime | None] = mapped_column(DateTime)
    watched_paths: Mapped[list] = mapped_column(JSON, default=list)


class DeviceEvent(Base):
    """The device's journal (agent start, list applied, watcher overflow, tamper...)."""

    __tablename__ = "device_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(50))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_device_events_device_at", "device_id", "at"),)


class HashListRow(Base):
    __tablename__ = "hash_lists"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)  # latest published version
    pdq_threshold: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ListVersion(Base):
    __tablename__ = "list_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(20))  # import | retire | restore
    source_name: Mapped[str | None] = mapped_column(String(255))
    source_format: Mapped[str | None] = mapped_column(String(20))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    added: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # entries per signal type
    __table_args__ = (UniqueConstraint("list_id", "version"),)


class ListEntryRow(Base):
    """One hash of a list, alive in versions ``added_version <= v < removed_version``."""

    __tablename__ = "list_entries"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(String(20))
    signal: Mapped[str] = mapped_column(Text)
    entry_id: Mapped[str] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    added_version: Mapped[int] = mapped_column(Integer)
    removed_version: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        Index("ix_list_entries_alive", "list_id", "removed_version"),
        Index("ix_list_entries_added", "list_id", "added_version"),
        Index("ix_list_entries_signal", "signal_type", "signal"),
    )


class RetiredHash(Base):
    """A hash retired as a false positive: left out of every list's next bundle."""

    __tablename__ = "retired_hashes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signal_type: Mapped[str] = mapped_column(String(20))
    signal: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    retired_by: Mapped[str] = mapped_column(String(64))
    retired_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("signal_type", "signal"),)


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the agent's UUID
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    detected_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    utc_offset_min: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(20))
    hostname: Mapped[str] = mapped_column(String(255))
    os_user: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    inner: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    pdq: Mapped[str | None] = mapped_column(String(64))
    file_mtime: Mapped[datetime | None] = mapped_column(DateTime)
    file_ctime: Mapped[datetime | None] = mapped_column(DateTime)
    volume_kind: Mapped[str | None] = mapped_column(String(20))
    volume_label: Mapped[str | None] = mapped_column(String(255))
    volume_serial: Mapped[str | None] = mapped_column(String(255))
    volume_mount: Mapped[str | None] = mapped_column(Text)
    signal_type: Mapped[str] = mapped_column(String(20))
    signal: Mapped[str] = mapped_column(Text)
    distance: Mapped[int] = mapped_column(Integer)
    list_name: Mapped[str] = mapped_column(String(100), index=True)
    list_version: Mapped[int | None] = mapped_column(Integer)
    entry_id: Mapped[str] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(100))
    online: Mapped[bool | None] = mapped_column(Boolean)
    addresses: Mapped[list] = mapped_column(JSON, default=list)
    network_name: Mapped[str | None] = mapped_column(String(255))
    origin_url: Mapped[str | None] = mapped_column(Text)
    trail: Mapped[list] = mapped_column(JSON, default=list)
    # derived on arrival
    outside_hours: Mapped[bool] = mapped_column(Boolean)
    off_network: Mapped[bool | None] = mapped_column(Boolean)
    removable_media: Mapped[bool] = mapped_column(Boolean)
    delivery_delay_s: Mapped[int] = mapped_column(Integer)
    group_key: Mapped[str] = mapped_column(String(64), index=True)
    # workflow
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    resolution: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class IncidentEvent(Base):
    """One step of an incident's workflow: who, when, from, to, note."""

    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    resolution: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only audit log; ``hash`` = sha256(prev_hash + canonical JSON of the entry)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    actor_kind: Mapped[str] = mapped_column(String(20))  # user | token | agent | system
    action: Mapped[str] = mapped_column(String(50), index=True)
    target_type: Mapped[str | None] = mapped_column(String(30))
    target_id: Mapped[str | None] = mapped_column(String(100), index=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON
    ip: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class NotificationTarget(Base):
    __tablename__ = "notification_targets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # email | webhook | jsonl | syslog
    config: Mapped[dict] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Notification(Base):
    """The notification outbox: written with the incident, delivered and retried apart."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("notification_targets.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)


# ---- takedown tracker ----------------------------------------------------------------------


class TakedownHost(Base):
    """One row of the host attribution table: a host name (or ``*.suffix``) -> its hosting
    provider, abuse contact and country. Edited by admins, imported and exported as CSV."""

    __tablename__ = "takedown_hosts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(260), unique=True)
    provider: Mapped[str] = mapped_column(String(200))
    abuse_email: Mapped[str | None] = mapped_column(String(254))
    country: Mapped[str | None] = mapped_column(String(2))
    notes: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class TakedownUrl(Base):
    """A reported URL, in its normalised form (one row per ``url_key``), and where it stands:
    reported -> notice_sent -> removed -> reappeared. Every change is a TakedownEvent."""

    __tablename__ = "takedown_urls"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    url_key: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(260), index=True)
    category: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(100))  # incident | manual | csv | api:<name>
    incident_id: Mapped[str | None] = mapped_column(String(36), index=True)
    #: [{"type": "pdq"|"md5"|"sha1"|"sha256", "value": "..."}]: what the recheck looks for
    hashes: Mapped[list] = mapped_column(JSON, default=list)
    reported_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    times_reported: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), index=True)
    status_at: Mapped[datetime] = mapped_column(DateTime)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)
    notices: Mapped[int] = mapped_column(Integer, default=0)
    last_notice_at: Mapped[datetime | None] = mapped_column(DateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_check_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_check: Mapped[str | None] = mapped_column(String(200))
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)


class TakedownEvent(Base):
    """The status history of a URL (and notes on it): who, when, from, to, why."""

    __tablename__ = "takedown_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    url_id: Mapped[str] = mapped_column(ForeignKey("takedown_urls.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    by: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # status | reported_again | check | note
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_takedown_events_url_at", "url_id", "at"),)


class TakedownNotice(Base):
    """One notice (e-mail) to a host's abuse contact, naming its open URLs at that time."""

    __tablename__ = "takedown_notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(260), index=True)
    provider: Mapped[str | None] = mapped_column(String(200))
    to_addresses: Mapped[list] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(20))  # notice | escalation
    sequence: Mapped[int] = mapped_column(Integer)  # the nth notice to this host
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    status: Mapped[str] = mapped_column(String(20))  # sent | failed
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))


class TakedownNoticeUrl(Base):
    __tablename__ = "takedown_notice_urls"
    notice_id: Mapped[int] = mapped_column(
        ForeignKey("takedown_notices.id", ondelete="CASCADE"), primary_key=True
    )
    url_id: Mapped[str] = mapped_column(
        ForeignKey("takedown_urls.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TakedownReply(Base):
    """A reply from a host (recorded by an analyst or posted by a mail gateway)."""

    __tablename__ = "takedown_replies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(260), index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("takedown_notices.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime)
    from_address: Mapped[str | None] = mapped_column(String(254))
    summary: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))


class TakedownTemplate(Base):
    """The editable text of a notice (``notice``) and of an escalation (``escalation``)."""

    __tablename__ = "takedown_templates"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(64))

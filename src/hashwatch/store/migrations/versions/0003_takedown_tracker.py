"""Takedown tracker: reported URLs, their status history, notices, replies, templates and
the host attribution table

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "takedown_hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=260), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("abuse_email", sa.String(length=254), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pattern"),
    )
    op.create_table(
        "takedown_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=260), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=True),
        sa.Column("to_addresses", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("takedown_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_takedown_notices_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_takedown_notices_host"), ["host"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_takedown_notices_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_takedown_notices_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "takedown_templates",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "takedown_urls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_key", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=260), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=True),
        sa.Column("hashes", sa.JSON(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("times_reported", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.Column("last_notice_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("last_check_at", sa.DateTime(), nullable=True),
        sa.Column("last_check", sa.String(length=200), nullable=True),
        sa.Column("next_check_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url_key"),
    )
    with op.batch_alter_table("takedown_urls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_takedown_urls_host"), ["host"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_takedown_urls_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_takedown_urls_next_check_at"), ["next_check_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_takedown_urls_reported_at"), ["reported_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_takedown_urls_status"), ["status"], unique=False)

    op.create_table(
        "takedown_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["url_id"], ["takedown_urls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("takedown_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_takedown_events_at"), ["at"], unique=False)
        batch_op.create_index("ix_takedown_events_url_at", ["url_id", "at"], unique=False)

    op.create_table(
        "takedown_notice_urls",
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("url_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["takedown_notices.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["url_id"], ["takedown_urls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("notice_id", "url_id"),
    )
    with op.batch_alter_table("takedown_notice_urls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_takedown_notice_urls_url_id"), ["url_id"], unique=False
        )

    op.create_table(
        "takedown_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=260), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("from_address", sa.String(length=254), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["takedown_notices.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("takedown_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_takedown_replies_host"), ["host"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("takedown_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_takedown_replies_host"))

    op.drop_table("takedown_replies")
    with op.batch_alter_table("takedown_notice_urls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_takedown_notice_urls_url_id"))

    op.drop_table("takedown_notice_urls")
    with op.batch_alter_table("takedown_events", schema=None) as batch_op:
        batch_op.drop_index("ix_takedown_events_url_at")
        batch_op.drop_index(batch_op.f("ix_takedown_events_at"))

    op.drop_table("takedown_events")
    with op.batch_alter_table("takedown_urls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_takedown_urls_status"))
        batch_op.drop_index(batch_op.f("ix_takedown_urls_reported_at"))
        batch_op.drop_index(batch_op.f("ix_takedown_urls_next_check_at"))
        batch_op.drop_index(batch_op.f("ix_takedown_urls_incident_id"))
        batch_op.drop_index(batch_op.f("ix_takedown_urls_host"))

    op.drop_table("takedown_urls")
    op.drop_table("takedown_templates")
    with op.batch_alter_table("takedown_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_takedown_notices_sent_at"))
        batch_op.drop_index(batch_op.f("ix_takedown_notices_message_id"))
        batch_op.drop_index(batch_op.f("ix_takedown_notices_host"))
        batch_op.drop_index(batch_op.f("ix_takedown_notices_created_at"))

    op.drop_table("takedown_notices")
    op.drop_table("takedown_hosts")

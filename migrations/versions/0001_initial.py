"""Initial schema: bookings with one-active-per-phone/NIK indexes, seat counters, message log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE_ONLY = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("session_name", sa.String(16), nullable=False),
        sa.Column("queue_seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(12), nullable=False, unique=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("nik_hash", sa.String(64), nullable=False),
        sa.Column("nik_masked", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint(
            "office_code", "booking_date", "queue_seq", name="queue_number_once_per_office_day"
        ),
    )
    # The rules the database enforces: one active booking per phone and per NIK,
    # across every office. A partial unique index lets any number of cancelled or
    # expired bookings share the phone or NIK.
    op.create_index(
        "one_active_booking_per_phone",
        "bookings",
        ["phone"],
        unique=True,
        sqlite_where=ACTIVE_ONLY,
        postgresql_where=ACTIVE_ONLY,
    )
    op.create_index(
        "one_active_booking_per_nik",
        "bookings",
        ["nik_hash"],
        unique=True,
        sqlite_where=ACTIVE_ONLY,
        postgresql_where=ACTIVE_ONLY,
    )
    op.create_index("ix_bookings_day", "bookings", ["booking_date", "office_code"])
    op.create_index("ix_bookings_phone", "bookings", ["phone"])
    op.create_index("ix_bookings_nik_hash", "bookings", ["nik_hash"])

    op.create_table(
        "session_slots",
        sa.Column("office_code", sa.String(8), primary_key=True),
        sa.Column("slot_date", sa.Date(), primary_key=True),
        sa.Column("session_name", sa.String(16), primary_key=True),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("quota_override", sa.Integer(), nullable=True),
        sa.CheckConstraint("booked >= 0", name="booked_not_negative"),
    )
    op.create_table(
        "office_days",
        sa.Column("office_code", sa.String(8), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("last_queue_seq", sa.Integer(), nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("gateway_number", sa.String(20), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reply_to_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Inbound only: a provider's retry is answered once; outbound provider ids must
    # never stop the gateway from recording that a reply went out.
    op.create_index(
        "one_message_per_provider_id",
        "messages",
        ["transport", "external_id"],
        unique=True,
        sqlite_where=sa.text("direction = 'in'"),
        postgresql_where=sa.text("direction = 'in'"),
    )
    op.create_index("ix_messages_phone", "messages", ["phone", "created_at"])
    op.create_table(
        "gateway_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_meta")
    op.drop_table("messages")
    op.drop_table("office_days")
    op.drop_table("session_slots")
    op.drop_table("bookings")

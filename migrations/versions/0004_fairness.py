"""Fairness: confirmations, reschedules, late cancels, the waitlist, booking attempts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WAITING = sa.text("status = 'waiting'")


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reschedules", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("late_cancel", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "waitlist",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("session_name", sa.String(16), nullable=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("nik_hash", sa.String(64), nullable=False),
        sa.Column("nik_masked", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("booking_id", sa.Integer(), sa.ForeignKey("bookings.id"), nullable=True),
    )
    op.create_index(
        "one_waiting_entry_per_phone",
        "waitlist",
        ["phone"],
        unique=True,
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    )
    op.create_index(
        "one_waiting_entry_per_nik",
        "waitlist",
        ["nik_hash"],
        unique=True,
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    )
    op.create_index("ix_waitlist_line", "waitlist", ["office_code", "day", "status", "id"])
    op.create_table(
        "booking_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("nik_hash", sa.String(64), nullable=False),
        sa.Column("nik_masked", sa.String(16), nullable=False),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
    )
    op.create_index("ix_booking_attempts_at", "booking_attempts", ["at"])
    op.create_index("ix_booking_attempts_phone", "booking_attempts", ["phone"])
    op.create_index("ix_booking_attempts_nik_hash", "booking_attempts", ["nik_hash"])


def downgrade() -> None:
    op.drop_table("booking_attempts")
    op.drop_table("waitlist")
    op.execute("UPDATE bookings SET status = 'cancelled' WHERE status = 'released'")
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("late_cancel")
        batch.drop_column("reschedules")
        batch.drop_column("confirmed_at")
        batch.drop_column("reminded_at")

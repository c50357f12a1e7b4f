"""Lottery allocation: one round per office day, and the applicants' entries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ENTERED_ONLY = sa.text("status = 'entered'")


def upgrade() -> None:
    op.create_table(
        "lottery_rounds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("secret", sa.String(64), nullable=True),
        sa.Column("seed", sa.String(64), nullable=True),
        sa.Column("entries_digest", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("office_code", "day", name="one_lottery_per_office_day"),
    )
    op.create_index("ix_lottery_rounds_due", "lottery_rounds", ["status", "closes_at"])
    op.create_table(
        "lottery_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("round_id", sa.Integer(), sa.ForeignKey("lottery_rounds.id"), nullable=False),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("session_name", sa.String(16), nullable=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("nik_hash", sa.String(64), nullable=False),
        sa.Column("nik_masked", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("draw_rank", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("booking_id", sa.Integer(), sa.ForeignKey("bookings.id"), nullable=True),
        sa.Column("waitlist_id", sa.Integer(), sa.ForeignKey("waitlist.id"), nullable=True),
    )
    for column in ("phone", "nik_hash"):
        op.create_index(
            f"one_lottery_entry_per_{column.split('_')[0]}",
            "lottery_entries",
            [column],
            unique=True,
            sqlite_where=ENTERED_ONLY,
            postgresql_where=ENTERED_ONLY,
        )
    op.create_index("ix_lottery_entries_round", "lottery_entries", ["round_id", "status"])


def downgrade() -> None:
    op.drop_table("lottery_entries")
    op.drop_table("lottery_rounds")

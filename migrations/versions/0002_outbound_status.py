"""Outbound sending status and delivery reports (Kannel DLR, later Twilio status callbacks).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("delivery_status", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("delivery_updated_at", sa.DateTime(timezone=True), nullable=True)
        )
    # Replies written before this revision went out inline in the HTTP response.
    op.execute("UPDATE messages SET status = 'sent' WHERE direction = 'out'")
    op.create_table(
        "delivery_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_delivery_reports_message_id", "delivery_reports", ["message_id"])


def downgrade() -> None:
    op.drop_table("delivery_reports")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("delivery_updated_at")
        batch.drop_column("delivery_status")
        batch.drop_column("error")
        batch.drop_column("status")

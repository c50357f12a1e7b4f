"""A closed day's seat counters say so; indexes for the NIKs-per-phone rule.

``session_slots.closed``: TUTUP sets it on every session of the day before it
reads the day's bookings, and a seat claim is conditional on it (as on
``booked < quota``). A booking racing with TUTUP then either commits before
TUTUP reads the bookings (and is cancelled with them, its seat returned) or
finds the counter closed and is refused: it can no longer slip in between and
stay active on a closed day. Days closed before this migration are marked.

``ix_waitlist_phone`` and ``ix_lottery_entries_phone``: the rules engine
(``sms_gateway/rules.py``) reads a phone's waitlist and lottery entries of the
last 30 days in its one facts query.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("session_slots") as batch:
        batch.add_column(
            sa.Column("closed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        """
        UPDATE session_slots SET closed = true
        WHERE EXISTS (SELECT 1 FROM office_closures AS c
                      WHERE c.office_code = session_slots.office_code
                        AND c.day = session_slots.slot_date)
        """
    )
    op.create_index("ix_waitlist_phone", "waitlist", ["phone", "created_at"])
    op.create_index("ix_lottery_entries_phone", "lottery_entries", ["phone", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_lottery_entries_phone", table_name="lottery_entries")
    op.drop_index("ix_waitlist_phone", table_name="waitlist")
    with op.batch_alter_table("session_slots") as batch:
        batch.drop_column("closed")

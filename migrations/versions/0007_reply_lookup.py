"""Index messages by the message they answer.

A provider retry is answered with the reply stored for its first delivery,
found by ``reply_to_id``. Without an index that lookup read the whole message
log: 5.7 ms at 36,000 messages in the flash-crowd benchmark, and it grows
with every SMS an office ever handled.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_reply_to", "messages", ["reply_to_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_reply_to", table_name="messages")

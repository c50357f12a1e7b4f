"""Staff, audit log, closures, blocks; check-in statuses; the outbox columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

HOLDING = sa.text("status IN ('active', 'checked_in', 'called')")
ACTIVE = sa.text("status = 'active'")

# The audit log is append-only: the database itself refuses UPDATE and DELETE.
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
PG_TRIGGERS = [
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]


def _replace_holding_indexes(where: sa.TextClause) -> None:
    for name, column in (
        ("one_active_booking_per_phone", "phone"),
        ("one_active_booking_per_nik", "nik_hash"),
    ):
        op.drop_index(name, table_name="bookings")
        op.create_index(
            name, "bookings", [column], unique=True, sqlite_where=where, postgresql_where=where
        )


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("called_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("served_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("counter", sa.String(8), nullable=True))
        # Room for the longest status, "cancelled_by_office".
        batch.alter_column(
            "status", type_=sa.String(24), existing_type=sa.String(16), existing_nullable=False
        )
    # Checked-in and called bookings still hold the phone's and NIK's one booking.
    _replace_holding_indexes(HOLDING)
    # Before this revision "expired" meant "the day passed without a check-in".
    op.execute("UPDATE bookings SET status = 'no_show' WHERE status = 'expired'")

    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_outbox", "messages", ["status", "next_attempt_at"])

    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("phone", sa.String(20), nullable=False, unique=True),
        sa.Column("office_code", sa.String(8), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("pin_hash", sa.String(255), nullable=False),
        sa.Column("failed_pins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("staff_name", sa.String(64), nullable=True),
        sa.Column("office_code", sa.String(8), nullable=True),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    bind = op.get_bind()
    for statement in PG_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)
    op.create_table(
        "office_closures",
        sa.Column("office_code", sa.String(8), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("closed_by", sa.String(20), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "blocks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("masked", sa.String(20), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_blocks_value", "blocks", ["kind", "value"])


def downgrade() -> None:
    op.drop_table("blocks")
    op.drop_table("office_closures")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("audit_log")
    op.drop_table("staff")
    op.drop_index("ix_messages_outbox", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("sent_at")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
    op.execute("UPDATE bookings SET status = 'expired' WHERE status = 'no_show'")
    op.execute(
        "UPDATE bookings SET status = 'no_show' WHERE status NOT IN "
        "('active', 'cancelled', 'expired')"
    )
    _replace_holding_indexes(ACTIVE)
    with op.batch_alter_table("bookings") as batch:
        batch.alter_column(
            "status", type_=sa.String(16), existing_type=sa.String(24), existing_nullable=False
        )
        batch.drop_column("counter")
        batch.drop_column("served_at")
        batch.drop_column("called_at")
        batch.drop_column("checked_in_at")

"""The tamper-evident audit chain: hash-linked records and the head they hang from.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The hash the first record links to.
GENESIS = "0" * 64

# Append-only, like audit_log: the database itself refuses UPDATE and DELETE. (Someone
# who can drop a trigger can still edit a record; `sms-gateway audit verify` finds it.)
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain "
    "BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END",
    "CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain "
    "BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END",
]
PG_TRIGGERS = [
    "CREATE FUNCTION audit_chain_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_chain is append-only'; END $$",
    "CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain "
    "FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_chain_subject", "audit_chain", ["subject"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="one_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    bind = op.get_bind()
    for statement in PG_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_chain_no_change ON audit_chain")
        op.execute("DROP FUNCTION audit_chain_append_only()")
    op.drop_table("audit_chain_head")
    op.drop_table("audit_chain")

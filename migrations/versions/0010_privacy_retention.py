"""Room for anonymised phones; indexes for the retention purge (UU PDP No. 27/2022).

When its retention period ends (``[privacy]``), or its owner sends HAPUS, a
row's phone is replaced by ``anon:`` and the audit chain's keyed hash of it
(69 characters, ``services/chain.py``): the phone columns that can hold one
grow from 20 to 80 characters.

``ix_*_unpurged``: partial indexes on each table's age column, holding only
the rows not anonymised yet, so the worker's purge finds what is due without
walking the years of rows it anonymised before.

SQLite changes a column type by copying the table (Alembic's batch mode). A
table other tables refer to by foreign key (bookings, messages, waitlist)
cannot simply be dropped and replaced while they hold rows: with foreign keys
enforced, the drop counts every referring row as a violation, and
``PRAGMA foreign_keys`` cannot be switched off inside the migration's
transaction. So its rows are set aside first, with the checks deferred to the
commit, and put back into the new table; by the commit every reference holds
again. PostgreSQL widens a varchar in place, without rewriting the table.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_LENGTH, NEW_LENGTH = 20, 80
# Each table with a phone that can be anonymised, and the column its age is read from.
AGE = {
    "bookings": "booking_date",
    "messages": "created_at",
    "waitlist": "day",
    "lottery_entries": "day",
    "booking_attempts": "at",
}
# Tables that other tables (or they themselves) refer to by foreign key.
REFERENCED = {"bookings", "messages", "waitlist"}
# As in models.NOT_ANONYMISED: the purge's queries repeat it word for word.
NOT_ANONYMISED = sa.text("substr(phone, 1, 5) <> 'anon:'")


def upgrade() -> None:
    _set_phone_length(OLD_LENGTH, NEW_LENGTH)
    for table, column in AGE.items():
        op.create_index(
            f"ix_{table}_unpurged",
            table,
            [column],
            sqlite_where=NOT_ANONYMISED,
            postgresql_where=NOT_ANONYMISED,
        )


def downgrade() -> None:
    for table in AGE:
        op.drop_index(f"ix_{table}_unpurged", table_name=table)
        # An anonymised phone keeps its first 20 characters: still no phone number,
        # but no longer the chain's hash, so `audit verify` reports those rows.
        op.execute(
            f"UPDATE {table} SET phone = substr(phone, 1, {OLD_LENGTH}) "
            f"WHERE length(phone) > {OLD_LENGTH}"
        )
    _set_phone_length(NEW_LENGTH, OLD_LENGTH)


def _set_phone_length(old: int, new: int) -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        # Foreign keys are checked at the commit, when every row is back in place.
        op.execute("PRAGMA defer_foreign_keys = ON")
    for table in AGE:
        set_aside = sqlite and table in REFERENCED
        if set_aside:
            columns = ", ".join(f'"{c["name"]}"' for c in sa.inspect(bind).get_columns(table))
            op.execute(f"CREATE TEMP TABLE set_aside_{table} AS SELECT * FROM {table}")
            op.execute(f"DELETE FROM {table}")
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "phone",
                type_=sa.String(new),
                existing_type=sa.String(old),
                existing_nullable=False,
            )
        if set_aside:
            op.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM temp.set_aside_{table}"
            )
            op.execute(f"DROP TABLE temp.set_aside_{table}")

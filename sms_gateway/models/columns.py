"""Column types and index helpers shared by the tables.

``UTCDateTime`` keeps datetimes aware on SQLite too; ``Redacted`` masks free
text on its way into the database; ``string_enum`` stores a closed set as a
plain VARCHAR; ``partial_index`` declares an index over some rows only, alike
on PostgreSQL and SQLite.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, Index, String, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator

from sms_gateway.redact import redact, redact_command


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always give them back aware.

    SQLite has no time zone type, so without this a value read back would be
    naive and comparisons with ``datetime.now(UTC)`` would fail.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Redacted(TypeDecorator[str]):
    """Text that is masked on its way into the database (``redact.redact``).

    The storage boundary for free text: whatever a handler, a service or a
    bulk statement binds to such a column, a NIK-length digit run never
    reaches the table in clear. With ``length``, the masked text is also cut
    to fit (NFKC folding can lengthen a ligature).
    """

    impl = Text
    cache_ok = True

    def __init__(self, length: int | None = None, *, command: bool = False) -> None:
        super().__init__()
        self.length = length
        self.command = command
        # The stored type itself, which Alembic compares with the migrations.
        self.impl = String(length) if length else Text()  # type: ignore[assignment]

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        masked = redact_command(value) if self.command else redact(value)
        return masked[: self.length] if self.length else masked


def string_enum(cls: type[enum.StrEnum], name: str, length: int = 16) -> Enum:
    """Return the column type of a closed set: its values, stored as a plain VARCHAR."""
    # Plain VARCHAR, no CHECK: later issues add statuses without a table rebuild.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


def partial_index(name: str, *columns: str, where: TextClause, unique: bool = False) -> Index:
    """Return an index over the rows ``where`` selects, the same on PostgreSQL and SQLite."""
    return Index(name, *columns, unique=unique, sqlite_where=where, postgresql_where=where)


# Rows whose phone the retention purge (services/retention.py) has not anonymised
# yet. A literal, not a bound parameter: the purge's queries repeat it word for
# word, so both databases use the partial "ix_*_unpurged" indexes that carry it.
NOT_ANONYMISED = text("substr(phone, 1, 5) <> 'anon:'")
# A phone column that may hold an anonymised phone ("anon:" + 64 hex digits)
# after its retention period or an applicant's HAPUS; an E.164 number needs 16.
PHONE_OR_PSEUDONYM = 80

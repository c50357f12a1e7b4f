"""The one facts query: every row any rule needs, in one statement, and its reading.

SQLAlchemy Core, the same on SQLite and PostgreSQL. The full path runs it
through a session (``read_facts``); the crowd lane runs the very same
statement (``FACTS``), compiled once, on the driver's connection, with
``facts_params`` and ``facts_from_rows``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Concatenate, ParamSpec

from sqlalchemy import (
    CompoundSelect,
    Date,
    Select,
    SQLColumnExpression,
    String,
    bindparam,
    case,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from sms_gateway.config import OfficeSpec
from sms_gateway.models import (
    HOLDING,
    Block,
    BlockKind,
    Booking,
    BookingStatus,
    EntryStatus,
    LotteryEntry,
    LotteryRound,
    OfficeClosure,
    SessionSlot,
    UTCDateTime,
    WaitlistEntry,
    WaitStatus,
)
from sms_gateway.rules.facts import EntryKind, Facts, facts_from_rows
from sms_gateway.rules.limits import NIK_WINDOW_DAYS, inbound_count
from sms_gateway.schedule import OfficeCalendar

P = ParamSpec("P")

# One statement, rows of several kinds with the same columns (UNION ALL): one
# round trip on either path. The first SELECT types the columns for every row.
_COLUMNS = (
    "id",
    "phone",
    "nik_hash",
    "office_code",
    "day",
    "name",
    "num",
    "num2",
    "code",
    "status",
    "flag",
    "at",
)

# Statuses and the direction are bound, not inlined: with a literal PostgreSQL
# may plan a prepared statement around a partial index whose predicate it
# matches, and read all of it (see migration 0008).
_P: dict[str, BindParameter[Any]] = {
    "phone": bindparam("phone", type_=String),
    # The phone's pseudonym (chain.pseudonym): its history after HAPUS or the purge.
    "pseudonym": bindparam("pseudonym", type_=String),
    "nik_hash": bindparam("nik_hash", type_=String),
    "office": bindparam("office", type_=String),
    "day": bindparam("day", type_=Date),
    "today": bindparam("today", type_=Date),
    "horizon": bindparam("horizon", type_=Date),
    "missed_since": bindparam("missed_since", type_=Date),
    "recent_since": bindparam("recent_since", type_=UTCDateTime()),
    "hour_ago": bindparam("hour_ago", type_=UTCDateTime()),
}


def _const(name: str, value: str) -> ColumnElement[Any]:
    return bindparam(name, value, type_=String)


def _status_in(column: SQLColumnExpression[Any], statuses: Iterable[str]) -> ColumnElement[bool]:
    # One named parameter each (not an "expanding" IN): the statement compiles
    # once, with every parameter named, for the crowd lane's driver.
    return type_coerce(column, String).in_([_const(f"st_{s}", s) for s in statuses])


def _row(kind: str, **columns: Any) -> list[ColumnElement[Any]]:
    # Short labels and inline kinds: the crowd lane's driver caches the parsing of
    # statements up to 4 kB only (psycopg's MAX_CACHED_STATEMENT_LENGTH).
    out: list[ColumnElement[Any]] = [literal_column(f"'{kind}'", String).label("k")]
    for n, name in enumerate(_COLUMNS):
        # A bare NULL takes its column's type from the first SELECT (the bookings'),
        # which has them all, on PostgreSQL and SQLite alike.
        value = columns.get(name)
        out.append((null() if value is None else value).label(f"c{n}"))
    return out


def _phone_or_pseudonym(column: Any) -> ColumnElement[bool]:
    return type_coerce(column, String).in_([_P["phone"], _P["pseudonym"]])


def _as_phone(column: Any) -> ColumnElement[Any]:
    # A row kept under the pseudonym is the phone's own for every rule.
    return case((column == _P["pseudonym"], _P["phone"]), else_=column)


def _request_row(kind: str, model: Any, day: Any, **more: Any) -> list[ColumnElement[Any]]:
    # A booking's or an entry's row: who asked, for which office day and session.
    return _row(
        kind,
        id=model.id,
        phone=_as_phone(model.phone),
        nik_hash=model.nik_hash,
        office_code=model.office_code,
        day=day,
        name=model.session_name,
        status=type_coerce(model.status, String),
        at=model.created_at,
        **more,
    )


def _bookings_of(by: str, *, recent: bool) -> Select[Any]:
    b = aliased(Booking, name="b")
    holding = _status_in(b.status, [s.value for s in HOLDING])
    missed = (_status_in(b.status, [BookingStatus.NO_SHOW.value]) | b.late_cancel.is_(True)) & (
        b.booking_date >= _P["missed_since"]
    )
    wanted = holding | missed
    if recent:
        wanted = wanted | (b.created_at >= _P["recent_since"])
    return select(
        *_request_row(
            "booking",
            b,
            b.booking_date,
            num=b.queue_seq,
            num2=b.reschedules,
            code=b.code,
            flag=b.late_cancel,
        )
    ).where(_phone_or_pseudonym(b.phone) if by == "phone" else b.nik_hash == _P[by], wanted)


def _entries_of(table: type[WaitlistEntry] | type[LotteryEntry], kind: EntryKind) -> Select[Any]:
    model: Any = aliased(table, name="e")
    pending = WaitStatus.WAITING.value if kind == EntryKind.WAITLIST else EntryStatus.ENTERED.value
    is_pending = _status_in(model.status, [pending])
    round_id = model.round_id if table is LotteryEntry else None
    return select(*_request_row(kind.value, model, model.day, num=round_id)).where(
        (_phone_or_pseudonym(model.phone) & (is_pending | (model.created_at >= _P["recent_since"])))
        | ((model.nik_hash == _P["nik_hash"]) & is_pending)
    )


def facts_statement() -> CompoundSelect[Any]:
    """Return the facts query: every row any rule needs, tagged by kind (one UNION ALL)."""
    blocks = select(
        *_row(
            "block",
            day=Block.until,
            name=Block.reason,
            status=type_coerce(Block.kind, String),
        )
    ).where(
        (
            (type_coerce(Block.kind, String) == _const("k_phone", BlockKind.PHONE.value))
            & (Block.value == _P["phone"])
        )
        | (
            (type_coerce(Block.kind, String) == _const("k_nik", BlockKind.NIK.value))
            & (Block.value == _P["nik_hash"])
        ),
        Block.lifted_at.is_(None),
        Block.until >= _P["today"],
    )
    closures = select(*_row("closure", day=OfficeClosure.day, name=OfficeClosure.reason)).where(
        OfficeClosure.office_code == _P["office"],
        OfficeClosure.day >= _P["today"],
        OfficeClosure.day <= _P["horizon"],
    )
    seats = select(
        *_row(
            "seat",
            day=SessionSlot.slot_date,
            name=SessionSlot.session_name,
            num=SessionSlot.booked,
            num2=SessionSlot.quota_override,
            flag=SessionSlot.closed,
        )
    ).where(
        SessionSlot.office_code == _P["office"],
        SessionSlot.slot_date >= _P["day"],
        SessionSlot.slot_date <= _P["horizon"],
    )
    draw = select(*_row("round", status=type_coerce(LotteryRound.status, String))).where(
        LotteryRound.office_code == _P["office"], LotteryRound.day == _P["day"]
    )
    recent = select(*_row("messages", num=inbound_count(_P["phone"], _P["hour_ago"])))
    return union_all(
        # Two SELECTs for the phone and the NIK, one per index: an OR across both
        # columns made PostgreSQL read the table.
        _bookings_of("phone", recent=True),
        _bookings_of("nik_hash", recent=False),
        _entries_of(WaitlistEntry, EntryKind.WAITLIST),
        _entries_of(LotteryEntry, EntryKind.LOTTERY),
        blocks,
        closures,
        seats,
        draw,
        recent,
    )


FACTS = facts_statement()


def facts_params(
    calendar: OfficeCalendar,
    office: OfficeSpec,
    phone: str,
    nik_hash: str,
    day: date,
    now: datetime,
    pseudonym: str,
) -> dict[str, Any]:
    """Return the parameters of the facts query for one request.

    ``pseudonym`` is the phone's anonymised form (``chain.pseudonym``): rows
    kept under it count as the phone's.
    """
    today = calendar.today(office, now)
    return {
        "phone": phone,
        "pseudonym": pseudonym,
        "nik_hash": nik_hash,
        "office": office.code,
        "day": day,
        "today": today,
        "horizon": calendar.bookable_range(today)[1],
        "missed_since": today - timedelta(days=office.rules.penalty_window_days),
        "recent_since": now - timedelta(days=NIK_WINDOW_DAYS),
        "hour_ago": now - timedelta(hours=1),
    }


def _reading(
    params: Callable[P, dict[str, Any]],
) -> Callable[Concatenate[Session | Connection, P], Facts]:
    """Return a reader: run ``FACTS`` with what ``params`` makes of its arguments, build Facts."""

    def read(session: Session | Connection, /, *args: P.args, **kwargs: P.kwargs) -> Facts:
        return facts_from_rows(session.execute(FACTS, params(*args, **kwargs)).all())

    return read


# The full path's reading: a session, then the very arguments of ``facts_params``.
read_facts = _reading(facts_params)
"""Read everything the rules need, in one query: ``read_facts(session, *facts_params_args)``."""

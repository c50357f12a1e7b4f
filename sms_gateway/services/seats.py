"""Seat counters and queue numbers: taking a seat, giving it back, numbering the day.

The quota is enforced by one atomic conditional update of the session's row
in ``session_slots`` (``booked < quota AND NOT closed``, ``claim_statement``):
on PostgreSQL the row lock makes concurrent claims queue behind each other and
re-check the condition; on SQLite the whole transaction holds the write lock
from its first statement. Queue numbers come from one upsert of the office
day's row in ``office_days`` and are never reused. The crowd lane runs the very
same statements (``crowd_lane_sql.py``).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Insert, Integer, func, literal, select, update
from sqlalchemy.orm import Session

from sms_gateway.config import OfficeSpec, SessionSpec
from sms_gateway.db import UpsertFactory, insert_for, insert_ignore, rowcount
from sms_gateway.models import OfficeDay, SessionSlot
from sms_gateway.rules import Facts, SeatCounter

log = logging.getLogger(__name__)


def counter_row(office_code: str, day: date, session_name: str) -> tuple[ColumnElement[bool], ...]:
    """Return the criteria of one session's seat counter on one office day."""
    return (
        SessionSlot.office_code == office_code,
        SessionSlot.slot_date == day,
        SessionSlot.session_name == session_name,
    )


def seat_is_free(quota: Any) -> ColumnElement[bool]:
    """The condition under which a seat counter may give one more seat."""
    return (SessionSlot.booked < func.coalesce(SessionSlot.quota_override, quota)) & (
        SessionSlot.closed.is_(False)
    )


def claim_first(
    session: Session, office: OfficeSpec, day: date, sessions: tuple[SessionSpec, ...]
) -> SessionSpec | None:
    """Claim a seat in the first of ``sessions`` that still has one; None if none has."""
    return next((s for s in sessions if claim(session, office, day, s)), None)


def claim(session: Session, office: OfficeSpec, day: date, spec: SessionSpec) -> bool:
    """Take one seat atomically; False when the session is full or the day closed.

    One statement (``claim_statement``); on PostgreSQL the row lock makes
    concurrent claims queue and re-check the condition.
    """
    if spec.quota < 1:
        # A new counter would start above the quota; only a staff override opens it.
        result = session.execute(
            update(SessionSlot)
            .where(*counter_row(office.code, day, spec.name), seat_is_free(spec.quota))
            .values(booked=SessionSlot.booked + 1)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1
    statement = claim_statement(insert_for(session), office.code, day, spec.name, spec.quota)
    return session.execute(statement).first() is not None


def return_seats(
    session: Session, office_code: str, day: date, session_name: str, count: int = 1
) -> None:
    """Give ``count`` seats back to a session's counter (never offering them to anyone).

    Callers return exactly the seats of the bookings whose change they made
    (``change_booking`` returned a row). A counter that would go below zero
    means a seat was returned twice somewhere: it is logged loudly and left at
    its value rather than corrupted further.
    """
    if count < 1:
        return
    result = session.execute(
        update(SessionSlot)
        .where(*counter_row(office_code, day, session_name), SessionSlot.booked >= count)
        .values(booked=SessionSlot.booked - count)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        log.error(
            "seat counter %s %s %s would go below zero returning %d seat(s); left as it is",
            office_code,
            day,
            session_name,
            count,
        )


def next_queue_seq(session: Session, office: OfficeSpec, day: date) -> int:
    """Return the next queue number of the office day; numbers are never reused."""
    statement = number_statement(insert_for(session), office.code, day)
    return int(session.execute(statement).scalar_one())


def seats_left(session: Session, office: OfficeSpec, day: date) -> list[SessionSpec]:
    """Return the day's sessions that have a free seat and are not closed (rules.Facts)."""
    rows = session.execute(
        select(
            SessionSlot.session_name,
            SessionSlot.booked,
            SessionSlot.quota_override,
            SessionSlot.closed,
        ).where(SessionSlot.office_code == office.code, SessionSlot.slot_date == day)
    ).all()
    seats = {(day, r.session_name): SeatCounter(r.booked, r.quota_override, r.closed) for r in rows}
    return Facts(seats=seats).free_sessions(office, day)


def ensure_slot(session: Session, office: OfficeSpec, day: date, spec: SessionSpec) -> None:
    """Create the seat counter row of one office session on one day, if missing."""
    insert_ignore(
        session,
        SessionSlot,
        office_code=office.code,
        slot_date=day,
        session_name=spec.name,
        booked=0,
    )


# -- the statements that take a seat and a number (the crowd lane runs them too) ----------


def claim_statement(
    insert: UpsertFactory, office_code: Any, day: Any, session_name: Any, quota: Any
) -> Insert:
    """Return the seat claim: create the day's counter at 1, or add one while a seat is free.

    INSERT .. ON CONFLICT DO UPDATE .. WHERE, RETURNING the new count (no row:
    no seat). Arguments may be values or bind parameters.
    """
    table = SessionSlot.__table__
    return (
        insert(table)
        .values(office_code=office_code, slot_date=day, session_name=session_name, booked=1)
        .on_conflict_do_update(
            index_elements=[table.c.office_code, table.c.slot_date, table.c.session_name],
            set_={"booked": table.c.booked + 1},
            where=seat_is_free(quota),
        )
        .returning(table.c.booked)
    )


def number_statement(
    insert: UpsertFactory, office_code: Any, day: Any, source: Any = None
) -> Insert:
    """Return the statement that hands out the office day's next queue number.

    ``source`` (a CTE) makes it hand one out only when that yields a row (the
    crowd lane chains it to the seat claim).
    """
    table = OfficeDay.__table__
    columns = {"office_code": office_code, "day": day, "last_queue_seq": literal(1, Integer)}
    if source is None:
        statement = insert(table).values(**columns)
    else:
        statement = insert(table).from_select(
            list(columns), select(*columns.values()).select_from(source)
        )
    return statement.on_conflict_do_update(
        index_elements=[table.c.office_code, table.c.day],
        set_={"last_queue_seq": table.c.last_queue_seq + 1},
    ).returning(table.c.last_queue_seq)

"""The one lock discipline of every booking state change.

Every change to a booking, a waitlist place or a lottery entry follows three steps:

1. **Lock what it changes.** A request about a phone or a NIK first takes the
   identity's advisory lock (``lock_identities``; the inbox takes the
   sender's for every message before anything else, so the messages of one
   phone take turns). Staff and background changes of one booking lock its
   row (``SELECT .. FOR UPDATE``); a seat is claimed by a conditional update
   of its counter row.
2. **Re-read** under the lock: never act on a row read before it.
3. **Change conditionally** (``change_booking``): ``UPDATE .. WHERE id = :id
   AND status IN (:expected)``, and act (give a seat back, offer it to the
   waitlist, send an SMS, record in the audit chain) only when a row changed.
   A concurrent or repeated command then finds nothing to change and gets the
   reply a sequential repeat would get.

On SQLite every transaction takes the write lock first (``db.py``), so the
locks here are PostgreSQL's; the conditional updates hold on both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from sms_gateway.db import rowcount
from sms_gateway.models import Booking, BookingStatus, LotteryEntry, WaitlistEntry
from sms_gateway.services.chain import note


def lock_identities(session: Session, *identities: str) -> None:
    """Serialise requests about the same phones and NIKs (PostgreSQL advisory locks).

    A phone or NIK may hold one booking *or* one waitlist place *or* one draw
    entry; three tables cannot share a unique index, so requests about one
    identity take turns. Locks are held to the end of the transaction and may
    be taken again (a no-op). SQLite needs nothing: its transactions take the
    write lock from the start.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    # One round trip; PostgreSQL evaluates the select list left to right.
    session.execute(
        select(*(func.pg_advisory_xact_lock(key) for key in identity_lock_keys(*identities)))
    )


def identity_lock_keys(*identities: str) -> list[int]:
    """Return the advisory lock keys of phones and NIK hashes, in the one order to take them.

    Sorted, so that every path takes them in the same order (the sender's own
    phone, taken first by the inbox, is held already and taken again at no cost).
    """
    return sorted(
        {
            int.from_bytes(hashlib.sha256(i.encode()).digest()[:8], "big", signed=True)
            for i in identities
        }
    )


def change_booking(
    session: Session,
    booking_id: int,
    expect: Iterable[BookingStatus],
    *,
    where: Iterable[ColumnElement[bool]] = (),
    **values: Any,
) -> Booking | None:
    """Change one booking if it is still in an expected status; return it, or None.

    One conditional UPDATE .. RETURNING: a concurrent change that came first
    makes this one change nothing (None), and the caller must not act. The
    returned object is the session's, refreshed with the row as changed; the
    audit chain records the change at commit.
    """
    statement = (
        update(Booking)
        .where(Booking.id == booking_id, Booking.status.in_(list(expect)), *where)
        .values(**values)
        .returning(Booking)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    changed = session.scalars(statement).first()
    if changed is not None:
        note(session, "booking", [booking_id])  # a Core UPDATE: the ORM never saw it
    return changed


def change_entry(
    session: Session,
    model: type[WaitlistEntry] | type[LotteryEntry],
    entry_id: int,
    expect: str,
    **values: Any,
) -> bool:
    """Change a waitlist place or a draw entry if it still has the status ``expect``.

    False when it moved on meanwhile (promoted, drawn): the caller must not act.
    """
    changed = session.execute(
        update(model)
        .where(model.id == entry_id, model.status == expect)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(changed) == 1


def locked_booking(session: Session, *criteria: ColumnElement[bool]) -> Booking | None:
    """Return the first booking matching ``criteria``, its row locked, read afresh."""
    return session.scalars(
        select(Booking)
        .where(*criteria)
        .order_by(Booking.id)
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


class Moved:
    """What a conditional change returns when its row moved on under it (see ``MOVED``)."""

    def __repr__(self) -> str:
        return "MOVED"


# A waitlist place or draw entry that changed between the look and the
# conditional update (promoted, drawn): the caller reads again.
MOVED = Moved()

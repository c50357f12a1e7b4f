"""The fraud report: the patterns behind fictitious and resold queue records.

Read before the day, not after it: phones that book for many NIKs (scalpers
with one phone), NIKs tried from many phones (identity numbers being traded),
phones and NIKs that keep not showing up or cancelling late (ghost bookings),
and bursts of bookings from consecutive numbers (SIM card farms). Read-only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from sms_gateway.models import Booking, BookingAttempt, BookingStatus

MANY_PHONES = 2  # a NIK tried from this many phones or more
MISS_RATE = 0.5  # share of no-shows and cancellations that stands out...
MISS_MIN = 2  # ...once a subject has at least this many bookings
BURST_PHONES = 3  # distinct phones in one number block within one hour
BLOCK_DIGITS = 3  # a "number block" is the E.164 number without its last digits


@dataclass(frozen=True)
class Finding:
    """One suspicious subject: which pattern, who (masked), how many, and details."""

    pattern: str  # "phone_many_niks" | "nik_many_phones" | "often_missing" | "number_burst"
    subject: str
    count: int
    detail: str


def fraud_report(
    session: Session, since: datetime, *, office: str | None = None, niks_per_phone: int = 3
) -> list[Finding]:
    """Return every finding since ``since`` (optionally for one office), strongest first."""
    findings = [
        *_phones_with_many_niks(session, since, office, niks_per_phone),
        *_niks_from_many_phones(session, since, office),
        *_often_missing(session, since, office),
        *_number_bursts(session, since, office),
    ]
    return sorted(findings, key=lambda f: (f.pattern, -f.count, f.subject))


def _attempts(since: datetime, office: str | None) -> Select[BookingAttempt]:
    query = select(BookingAttempt).where(BookingAttempt.at >= since)
    return query.where(BookingAttempt.office_code == office) if office else query


def _phones_with_many_niks(
    session: Session, since: datetime, office: str | None, limit: int
) -> list[Finding]:
    attempts = _attempts(since, office).subquery()
    rows = session.execute(
        select(attempts.c.phone, func.count(func.distinct(attempts.c.nik_hash)))
        .group_by(attempts.c.phone)
        .having(func.count(func.distinct(attempts.c.nik_hash)) >= limit)
    ).all()
    return [Finding("phone_many_niks", phone, n, f"{n} different NIKs tried") for phone, n in rows]


def _niks_from_many_phones(session: Session, since: datetime, office: str | None) -> list[Finding]:
    attempts = _attempts(since, office).subquery()
    rows = session.execute(
        select(attempts.c.nik_masked, func.count(func.distinct(attempts.c.phone)))
        .group_by(attempts.c.nik_hash, attempts.c.nik_masked)
        .having(func.count(func.distinct(attempts.c.phone)) >= MANY_PHONES)
    ).all()
    return [Finding("nik_many_phones", masked, n, f"tried from {n} phones") for masked, n in rows]


def _often_missing(session: Session, since: datetime, office: str | None) -> list[Finding]:
    query = select(Booking.phone, Booking.nik_masked, Booking.status, Booking.late_cancel).where(
        Booking.created_at >= since
    )
    if office:
        query = query.where(Booking.office_code == office)
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    missed_statuses = (BookingStatus.NO_SHOW, BookingStatus.RELEASED, BookingStatus.CANCELLED)
    for phone, masked, status, late in session.execute(query):
        missed = status in missed_statuses or late
        for key in (("phone", phone), ("nik", masked)):
            totals[key][0] += 1
            totals[key][1] += int(missed)
    return [
        Finding("often_missing", subject, missed, f"{missed} of {total} bookings not used ({kind})")
        for (kind, subject), (total, missed) in totals.items()
        if total >= MISS_MIN and missed / total >= MISS_RATE
    ]


def _number_bursts(session: Session, since: datetime, office: str | None) -> list[Finding]:
    query = select(Booking.phone, Booking.created_at).where(Booking.created_at >= since)
    if office:
        query = query.where(Booking.office_code == office)
    blocks: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for phone, created in session.execute(query):
        blocks[phone[:-BLOCK_DIGITS] + "x" * BLOCK_DIGITS].append((created, phone))
    findings = []
    for block, bookings in blocks.items():
        bookings.sort()
        best = 0
        for i, (start, _) in enumerate(bookings):
            window = {p for t, p in bookings[i:] if t - start <= timedelta(hours=1)}
            best = max(best, len(window))
        if best >= BURST_PHONES:
            findings.append(
                Finding(
                    "number_burst",
                    block,
                    best,
                    f"{best} phones of one number block booked within an hour",
                )
            )
    return findings

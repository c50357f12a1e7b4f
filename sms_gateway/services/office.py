"""What staff do to an office day: check in, call, serve, count, set quotas, close, block.

Runs inside the caller's transaction and never commits, like the booking
service. Every SMS a change causes goes into the outbox in that same
transaction (``Outbound.enqueue``): a closed day and its notices commit
together or not at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from sms_gateway import replies
from sms_gateway.config import OfficeSpec, SessionSpec
from sms_gateway.db import insert_for, insert_ignore, rowcount
from sms_gateway.errors import StaffRefusal
from sms_gateway.models import (
    HOLDING,
    Block,
    BlockKind,
    Booking,
    BookingStatus,
    OfficeClosure,
    SessionSlot,
)
from sms_gateway.nik import Nik
from sms_gateway.services import chain
from sms_gateway.services.booking import BookingService, parse_queue_number
from sms_gateway.services.core import Core, SeatEvents
from sms_gateway.services.outbound import Outbound
from sms_gateway.services.seats import counter_row, ensure_slot, return_seats
from sms_gateway.services.transitions import change_booking, locked_booking
from sms_gateway.summary import DaySummary

NIK_TAIL = 4


@dataclass(eq=False)
class OfficeService:
    """Staff operations on one office's days."""

    core: Core
    bookings: BookingService
    outbound: Outbound
    seats: SeatEvents  # told of seats a quota increase or a reopened day frees

    # -- the counter -------------------------------------------------------------------------

    def find_by_code(self, session: Session, code: str, *, lock: bool = False) -> Booking | None:
        """Return the booking with this code (any case), in any office or day.

        ``lock`` reads it afresh with its row locked, for a change that follows.
        """
        if lock:
            return locked_booking(session, Booking.code == code.upper())
        return session.scalars(select(Booking).where(Booking.code == code.upper())).first()

    def check_in(
        self,
        session: Session,
        office: OfficeSpec,
        today: date,
        code: str,
        nik_text: str,
        now: datetime,
    ) -> tuple[Booking, bool]:
        """Check in today's booking with ``code`` if the NIK from the KTP matches.

        ``nik_text`` is the whole NIK or its last four digits. Return the booking and
        whether it was already checked in (a repeated HADIR changes nothing).
        """
        booking = self.find_by_code(session, code, lock=True)
        if booking is None:
            raise StaffRefusal("hadir_unknown", code=code.upper())
        if booking.office_code != office.code:
            raise StaffRefusal(
                "hadir_wrong_office",
                code=booking.code,
                other=booking.office_code,
                office_code=office.code,
            )
        if booking.booking_date != today:
            raise StaffRefusal("hadir_wrong_day", code=booking.code, day=booking.booking_date)
        if not self._nik_matches(booking, nik_text):
            raise StaffRefusal("hadir_nik_mismatch", queue=booking.queue_number)
        if booking.status in (BookingStatus.CHECKED_IN, BookingStatus.CALLED):
            return booking, True
        checked_in = change_booking(
            session,
            booking.id,
            [BookingStatus.ACTIVE],
            status=BookingStatus.CHECKED_IN,
            checked_in_at=now,
        )
        if checked_in is None:
            raise StaffRefusal(
                "hadir_not_active", queue=booking.queue_number, status=booking.status.value
            )
        return checked_in, False

    def _nik_matches(self, booking: Booking, nik_text: str) -> bool:
        # ASCII only: str.isdigit also takes other scripts' digits, which no KTP has.
        digits = "".join(c for c in nik_text if c in "0123456789")
        if len(digits) == NIK_TAIL:
            return booking.nik_masked.endswith(digits)
        # A full NIK is compared through its HMAC: the NIK itself is never stored.
        return (
            len(digits) == 16 and Nik(digits).keyed_hash(self.core.nik_secret) == booking.nik_hash
        )

    def call_next(
        self, session: Session, office: OfficeSpec, today: date, counter: str, now: datetime
    ) -> tuple[Booking | None, int]:
        """Call the next checked-in applicant in queue order; return it and how many wait.

        Two counters calling at once never get the same applicant: the status
        change is conditional, and the loser simply takes the next one.
        """
        waiting = (
            select(Booking.id)
            .where(
                Booking.office_code == office.code,
                Booking.booking_date == today,
                Booking.status == BookingStatus.CHECKED_IN,
            )
            .order_by(Booking.queue_seq)
        )
        for booking_id in session.scalars(waiting).all():
            claimed = session.execute(
                update(Booking)
                .where(Booking.id == booking_id, Booking.status == BookingStatus.CHECKED_IN)
                .values(status=BookingStatus.CALLED, called_at=now, counter=counter)
                .execution_options(synchronize_session=False)
            )
            if rowcount(claimed) == 1:
                chain.note(session, "booking", [booking_id])  # a bulk UPDATE: the ORM never saw it
                booking = session.get_one(Booking, booking_id, populate_existing=True)
                left = session.scalar(select(func.count()).select_from(waiting.subquery()))
                self.outbound.enqueue(
                    session, booking.phone, _calling_text(booking, counter, office), now
                )
                return booking, int(left or 0)
        return None, 0

    def serve(
        self, session: Session, office: OfficeSpec, today: date, reference: str, now: datetime
    ) -> Booking:
        """Mark a checked-in or called booking of today as served (by code or number)."""
        ref = reference.upper()
        criteria = (Booking.office_code == office.code, Booking.booking_date == today)
        booking = locked_booking(session, *criteria, Booking.code == ref)
        seq = parse_queue_number(ref, office.code) if booking is None else None
        if seq is not None:
            booking = locked_booking(session, *criteria, Booking.queue_seq == seq)
        if booking is None:
            raise StaffRefusal("selesai_unknown", ref=ref, office_code=office.code)
        if booking.status == BookingStatus.SERVED:
            return booking
        served = change_booking(
            session,
            booking.id,
            [BookingStatus.CHECKED_IN, BookingStatus.CALLED],
            status=BookingStatus.SERVED,
            served_at=now,
        )
        if served is None:
            raise StaffRefusal(
                "selesai_not_here", queue=booking.queue_number, status=booking.status.value
            )
        return served

    def summary(self, session: Session, office: OfficeSpec, day: date) -> DaySummary:
        """Count the day's bookings by status and the free seats per session."""
        rows = session.execute(
            select(Booking.status, func.count())
            .where(Booking.office_code == office.code, Booking.booking_date == day)
            .group_by(Booking.status)
        ).all()
        counts: Counter[BookingStatus] = Counter({BookingStatus(r[0]): r[1] for r in rows})
        slots = {
            r.session_name: r
            for r in session.scalars(
                select(SessionSlot).where(
                    SessionSlot.office_code == office.code, SessionSlot.slot_date == day
                )
            )
        }
        free = {}
        for spec in office.sessions:
            slot = slots.get(spec.name)
            quota = spec.quota_with(slot.quota_override if slot else None)
            free[spec.name] = max(quota - (slot.booked if slot else 0), 0)
        return DaySummary(counts, free)

    # -- the office head ---------------------------------------------------------------------

    def set_quota(
        self,
        session: Session,
        office: OfficeSpec,
        day: date,
        spec: SessionSpec,
        amount: int,
        now: datetime,
    ) -> tuple[int, int]:
        """Set one session's quota for one day; return (old quota, seats booked).

        Never below the seats already booked: the counter row is locked first, so
        a booking racing with it waits and then sees the new quota.
        """
        ensure_slot(session, office, day, spec)
        slot = session.scalars(
            select(SessionSlot).where(*counter_row(office.code, day, spec.name)).with_for_update()
        ).one()
        old = spec.quota_with(slot.quota_override)
        if amount < slot.booked:
            raise StaffRefusal(
                "kuota_below", amount=amount, booked=slot.booked, session=spec.name, day=day
            )
        slot.quota_override = amount
        booked = slot.booked
        if amount > old and self.seats.heard:
            session.flush()
            # New seats go first to the applicants already waiting for that day.
            self.seats.seat_freed(session, office, day, now)
        return old, booked

    def close_day(
        self, session: Session, office: OfficeSpec, day: date, reason: str, by: str, now: datetime
    ) -> tuple[bool, int]:
        """Close the office on ``day``: cancel its bookings and tell each applicant.

        Return (closed now, bookings cancelled). Closing a closed day again changes
        nothing and sends nothing. The day's seat counters are marked closed
        (and so locked) before its bookings are read: a booking racing with the
        closure either committed before that read, and is cancelled here with
        its seat returned, or finds the counter closed and is refused.
        """
        if not insert_ignore(
            session,
            OfficeClosure,
            office_code=office.code,
            day=day,
            reason=reason[:64],
            closed_by=by,
            closed_at=now,
        ):
            return False, 0
        self._mark_closed(session, office, day, closed=True)
        bookings = session.scalars(_holding(Booking.id, office, day)).all()
        returned: Counter[str] = Counter()
        for booking_id in bookings:
            booking = change_booking(
                session,
                booking_id,
                HOLDING,
                status=BookingStatus.CANCELLED_BY_OFFICE,
                cancelled_at=now,
            )
            if booking is None:
                continue  # cancelled by its applicant a moment ago: its seat went back then
            returned[booking.session_name] += 1
            self.outbound.enqueue(
                session, booking.phone, _closing_text(booking, office, reason), now
            )
        for session_name, count in returned.items():
            return_seats(session, office.code, day, session_name, count)
        return True, returned.total()

    def reopen_day(
        self, session: Session, office: OfficeSpec, day: date, now: datetime | None = None
    ) -> bool:
        """Reopen a day closed by TUTUP; return False if it was not closed that way.

        Its free seats go first to the applicants already waiting for that day.
        """
        closure = session.get(OfficeClosure, (office.code, day), with_for_update=True)
        if closure is None:
            return False
        session.delete(closure)
        self._mark_closed(session, office, day, closed=False)
        if now is not None and self.seats.heard:
            session.flush()
            self.seats.seat_freed(session, office, day, now)
        return True

    @staticmethod
    def _mark_closed(session: Session, office: OfficeSpec, day: date, *, closed: bool) -> None:
        """Mark every session counter of the day closed or open, creating missing ones."""
        table = SessionSlot.__table__
        session.execute(
            insert_for(session)(table)
            .values(
                [
                    {
                        "office_code": office.code,
                        "slot_date": day,
                        "session_name": spec.name,
                        "booked": 0,
                        "closed": closed,
                    }
                    for spec in office.sessions
                ]
            )
            .on_conflict_do_update(
                index_elements=[table.c.office_code, table.c.slot_date, table.c.session_name],
                set_={"closed": closed},
            )
        )

    def block(
        self,
        session: Session,
        kind: BlockKind,
        value: str,
        masked: str,
        days: int,
        reason: str,
        by: str,
        today: date,
        now: datetime,
    ) -> Block:
        """Bar a phone or NIK (HMAC) from booking for ``days`` days, today included."""
        block = Block(
            kind=kind,
            value=value,
            masked=masked,
            until=today + timedelta(days=days - 1),
            reason=reason[:64],
            created_by=by,
            created_at=now,
        )
        session.add(block)
        return block

    def unblock(self, session: Session, kind: BlockKind, value: str, now: datetime) -> int:
        """Lift every block in force on a phone or NIK; return how many."""
        result = session.execute(
            update(Block)
            .where(Block.kind == kind, Block.value == value, Block.lifted_at.is_(None))
            .values(lifted_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result)

    def broadcast(
        self, session: Session, office: OfficeSpec, day: date, text: str, now: datetime
    ) -> int:
        """Send ``text`` to every applicant still holding a booking that day; return count."""
        phones = session.scalars(_holding(Booking.phone, office, day)).all()
        for phone in phones:
            self.outbound.enqueue(session, phone, text, now)
        return len(phones)


def _holding(column: Any, office: OfficeSpec, day: date) -> Select[Any]:
    """Select ``column`` of the bookings still holding a seat on an office day, in queue order."""
    return (
        select(column)
        .where(
            Booking.office_code == office.code,
            Booking.booking_date == day,
            Booking.status.in_(HOLDING),
        )
        .order_by(Booking.queue_seq)
    )


def _calling_text(booking: Booking, counter: str, office: OfficeSpec) -> str:
    return replies.render(
        "panggil_sms", queue=booking.queue_number, counter=counter, office=office.name
    )


def _closing_text(booking: Booking, office: OfficeSpec, reason: str) -> str:
    return replies.closing_notice(booking, office, reason)

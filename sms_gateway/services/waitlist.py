"""The waitlist: a place in line for a full day, and the seat when one frees up.

``backfill`` runs in the very transaction that frees a seat (BATAL, a release
for want of confirmation, UBAH away, a quota increase), so a freed seat is
never left empty while someone waits, and two freed seats never go to the
same person. Promotion follows the order of joining; an entry for a given
session waits for that session, an entry for any session takes the first one
free.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sms_gateway import replies
from sms_gateway.config import OfficeSpec
from sms_gateway.errors import DomainError, NikHasBooking, NotWaitlistable, PhoneHasBooking
from sms_gateway.models import Booking, WaitlistEntry, WaitStatus
from sms_gateway.services.booking import BookingRequest, BookingService, lock_identities
from sms_gateway.services.outbound import Outbound


class Waitlist:
    """Join, leave and promote waitlist entries, within the caller's transaction."""

    def __init__(self, bookings: BookingService, outbound: Outbound) -> None:
        self.bookings = bookings
        self.outbound = outbound

    def position(self, session: Session, entry: WaitlistEntry) -> int:
        """Return the entry's place in line for its office day (1 = next)."""
        ahead = session.scalar(
            select(func.count())
            .select_from(WaitlistEntry)
            .where(
                WaitlistEntry.office_code == entry.office_code,
                WaitlistEntry.day == entry.day,
                WaitlistEntry.status == WaitStatus.WAITING,
                WaitlistEntry.id < entry.id,
            )
        )
        return int(ahead or 0) + 1

    def join(
        self, session: Session, request: BookingRequest, now: datetime
    ) -> tuple[WaitlistEntry, bool]:
        """Put the applicant in line for a full day; return the entry and if it existed."""
        bookings = self.bookings
        office = request.office
        today = bookings.calendar.today(office, now)
        nik_hash = request.nik.keyed_hash(bookings.nik_secret)
        lock_identities(session, request.phone, nik_hash)
        bookings.check_day(session, office, request.day, today)
        bookings.check_allocation(session, office, request.day, now, booked=False)

        mine = bookings.waiting_entry(session, phone=request.phone)
        if mine is not None and mine.nik_hash == nik_hash and mine.day == request.day:
            return mine, True
        held = bookings.active_booking(session, now, phone=request.phone)
        if held is not None:
            raise PhoneHasBooking(held)
        bookings.check_eligible(session, office, request.phone, nik_hash, today, now)
        theirs = bookings.active_booking(session, now, nik_hash=nik_hash)
        if theirs is not None:
            raise NikHasBooking(theirs)
        bookings.check_not_waiting(session, request.phone, nik_hash)
        free = bookings.sessions_with_seats(session, office, request.day)
        if (request.session is None and free) or request.session in free:
            raise NotWaitlistable(office, request.day)
        entry = WaitlistEntry(
            office_code=office.code,
            day=request.day,
            session_name=request.session.name if request.session else None,
            phone=request.phone,
            nik_hash=nik_hash,
            nik_masked=request.nik.masked,
            status=WaitStatus.WAITING,
            created_at=now,
        )
        session.add(entry)
        session.flush()  # the one-waiting-entry indexes speak now
        return entry, False

    def leave(self, session: Session, phone: str, now: datetime) -> WaitlistEntry | None:
        """Take the phone out of line (BATAL); return the entry it had, if any."""
        entry = self.bookings.waiting_entry(session, phone=phone)
        if entry is not None:
            entry.status = WaitStatus.CANCELLED
            entry.updated_at = now
        return entry

    def backfill(
        self, session: Session, office: OfficeSpec, day: date, now: datetime
    ) -> list[Booking]:
        """Give the day's free seats to the waiting, in order; tell each one by SMS."""
        if day < self.bookings.calendar.today(office, now):
            return []
        promoted: list[Booking] = []
        waiting = (
            select(WaitlistEntry)
            .where(
                WaitlistEntry.office_code == office.code,
                WaitlistEntry.day == day,
                WaitlistEntry.status == WaitStatus.WAITING,
            )
            .order_by(WaitlistEntry.id)
        )
        for entry in session.scalars(waiting.with_for_update()).all():
            wanted = (
                [office.session(entry.session_name)]
                if entry.session_name
                else list(office.sessions)
            )
            spec = next(
                (
                    s
                    for s in wanted
                    if s is not None and self.bookings.claim(session, office, day, s)
                ),
                None,
            )
            if spec is None:
                if not self.bookings.sessions_with_seats(session, office, day):
                    break  # the day is full again
                continue  # this one waits for another session
            try:
                with session.begin_nested():
                    self.bookings.check_eligible(
                        session,
                        office,
                        entry.phone,
                        entry.nik_hash,
                        self.bookings.calendar.today(office, now),
                        now,
                    )
                    booking = self.bookings.new_booking(
                        session,
                        office,
                        day,
                        spec,
                        entry.phone,
                        entry.nik_hash,
                        entry.nik_masked,
                        now,
                    )
            except DomainError:
                # Blocked or penalised since joining: the seat goes to the next one.
                self.bookings.return_seat(session, office, day, spec.name)
                entry.status = WaitStatus.EXPIRED
                entry.updated_at = now
                continue
            entry.status = WaitStatus.PROMOTED
            entry.updated_at = now
            entry.booking_id = booking.id
            # Waiting for the seat was asking for it: no YA needed. Late in the day
            # before, the promotion SMS is the reminder too.
            booking.confirmed_at = now
            reminder_time = datetime.combine(
                day - timedelta(days=1), office.rules.reminder_at, tzinfo=office.timezone
            )
            if now >= reminder_time:
                booking.reminded_at = now
            self.outbound.enqueue(session, booking.phone, replies.promoted(booking, office), now)
            promoted.append(booking)
        return promoted

    def expire(self, session: Session, office: OfficeSpec, last_day: date, now: datetime) -> int:
        """Close the line for days up to ``last_day``; tell each waiting applicant."""
        entries = session.scalars(
            select(WaitlistEntry).where(
                WaitlistEntry.office_code == office.code,
                WaitlistEntry.day <= last_day,
                WaitlistEntry.status == WaitStatus.WAITING,
            )
        ).all()
        for entry in entries:
            entry.status = WaitStatus.EXPIRED
            entry.updated_at = now
            self.outbound.enqueue(session, entry.phone, replies.wait_expired(entry, office), now)
        return len(entries)

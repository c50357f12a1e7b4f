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
from sms_gateway.booking_request import BookingRequest
from sms_gateway.config import OfficeSpec, SessionSpec
from sms_gateway.errors import Blocked, Penalized
from sms_gateway.models import Booking, WaitlistEntry, WaitStatus
from sms_gateway.rules import Ask, Join, Refuse, Repeat, Seat, Want
from sms_gateway.services.booking import BookingService
from sms_gateway.services.core import SeatEvents
from sms_gateway.services.entries import add_entry, asked, withdraw_entry
from sms_gateway.services.outbound import Outbound
from sms_gateway.services.seats import claim_first, seats_left
from sms_gateway.services.transitions import Moved


class Waitlist:
    """Join, leave and promote waitlist entries, within the caller's transaction."""

    def __init__(self, bookings: BookingService, outbound: Outbound, seats: SeatEvents) -> None:
        self.bookings = bookings
        self.outbound = outbound
        # A freed seat goes to the first applicant waiting for it, in the same transaction.
        seats.subscribe(self.backfill)

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
        ask = self.bookings.locked_ask(session, request, Want.WAIT, now)
        decision = self.bookings.granted(session, ask)
        if isinstance(decision, Repeat) and decision.entry is not None:
            return session.get_one(WaitlistEntry, decision.entry.id), True
        assert isinstance(decision, Join), decision
        requested = asked(ask, request.nik.masked)
        return add_entry(session, WaitlistEntry, requested, now, status=WaitStatus.WAITING), False

    def leave(self, session: Session, phone: str, now: datetime) -> WaitlistEntry | Moved | None:
        """Take the phone out of line (BATAL); return the entry it had, if any.

        ``MOVED`` when the entry was promoted (or expired) while this looked: the
        caller reads again and finds what it became.
        """
        entry = self.bookings.waiting_entry(session, phone=phone)
        if entry is None:
            return None
        return withdraw_entry(session, entry, WaitStatus.WAITING, WaitStatus.CANCELLED, now)

    def backfill(
        self, session: Session, office: OfficeSpec, day: date, now: datetime
    ) -> list[Booking]:
        """Give the day's free seats to the waiting, in order; tell each one by SMS.

        The line is locked (``FOR UPDATE``) for the whole promotion: a BATAL of a
        waiting applicant waits for it, then finds the booking it became. Each
        promotion is decided by the rules (sms_gateway/rules, "promotion"): a block, a
        penalty or a closure since joining stops it.
        """
        bookings = self.bookings
        if day < bookings.core.calendar.today(office, now):
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
            if not seats_left(session, office, day):
                break  # the day is full again (or closed)
            spec = self._promotion_seat(session, office, entry, now)
            if spec is None:
                continue
            booking = bookings.new_booking(
                session,
                office,
                day,
                spec,
                entry.phone,
                entry.nik_hash,
                entry.nik_masked,
                now,
            )
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

    def _promotion_seat(
        self, session: Session, office: OfficeSpec, entry: WaitlistEntry, now: datetime
    ) -> SessionSpec | None:
        """Claim a seat for a waiting entry if the rules allow it; expire it if they never will."""
        wanted = office.session(entry.session_name) if entry.session_name else None
        ask = Ask(Want.PROMOTE, entry.phone, entry.nik_hash, office, entry.day, wanted, now)
        decision = self.bookings.assess(session, ask)
        if isinstance(decision, Seat):
            return claim_first(session, office, entry.day, decision.sessions)
        assert isinstance(decision, Refuse), decision
        if isinstance(decision.error, Blocked | Penalized):
            # Blocked or penalised since joining: the seat goes to the next one.
            entry.status = WaitStatus.EXPIRED
            entry.updated_at = now
        return None  # its session is full (it waits on), or the day closed

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

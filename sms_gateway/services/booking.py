"""Book, find, move and cancel seats. Runs inside the caller's transaction; never commits.

Who may have what is decided in one place, ``sms_gateway/rules``: one facts
query, one pure ``decide()``. This service carries the decision out under the
lock discipline of ``services/transitions.py``: the identity locks before the
facts are read, every change conditional on the state it expects. Seats and
queue numbers are taken with the statements of ``services/seats.py``. The
partial unique indexes on ``bookings`` make one active booking per phone and
per NIK a database rule.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sms_gateway.booking_request import BookingRequest
from sms_gateway.config import OfficeSpec, SessionSpec
from sms_gateway.errors import (
    CannotMove,
    NoActiveBooking,
    SessionFull,
    WrongBookingCode,
)
from sms_gateway.models import (
    HOLDING,
    Booking,
    BookingStatus,
    OfficeClosure,
    WaitlistEntry,
    WaitStatus,
)
from sms_gateway.rules import (
    Ask,
    Decision,
    HeldBooking,
    Refuse,
    Repeat,
    Seat,
    Want,
    day_end_status,
    decide,
    read_facts,
    stale_bookings,
)
from sms_gateway.services.chain import note
from sms_gateway.services.chain_records import pseudonym
from sms_gateway.services.core import Core, SeatEvents
from sms_gateway.services.seats import claim_first, next_queue_seq, return_seats
from sms_gateway.services.transitions import change_booking, lock_identities, locked_booking

# Booking codes avoid look-alikes (0/O, 1/I/L, 2/Z, 5/S, 8/B) so they survive
# being read aloud at the counter or copied from a basic phone's screen.
CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"
CODE_LENGTH = 6
# A queue number has at most this many digits (PMK-999999999): far more than any
# office day holds, and always within the INTEGER column on PostgreSQL.
QUEUE_DIGITS = 9
# A claim refused after the facts showed a free seat (the session filled or the
# day was closed meanwhile) reads the facts again, this many times at most.
DECISIONS = 3


@dataclass(frozen=True)
class BookingOutcome:
    booking: Booking
    office: OfficeSpec
    existing: bool  # True when a repeated DAFTAR found the booking it made before


def parse_queue_number(reference: str, office_code: str) -> int | None:
    """Return the sequence of a queue number of ``office_code`` (``PMK-007`` -> 7), or None.

    ``None`` for anything else, including numbers no queue can have: only ASCII
    digits (``str.isdigit`` also takes superscripts and other digits ``int``
    refuses), at most ``QUEUE_DIGITS`` of them, so the lookup never overflows the
    INTEGER column.
    """
    prefix = f"{office_code.upper()}-"
    if not reference.upper().startswith(prefix):
        return None
    digits = reference[len(prefix) :]
    if not (digits.isascii() and digits.isdigit()) or len(digits) > QUEUE_DIGITS:
        return None
    return int(digits)


def new_booking_code() -> str:
    """Return a random booking code such as ``K7MXQ4``."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def held_booking(booking: Booking) -> HeldBooking:
    """Return a booking as the rules see it."""
    return HeldBooking(
        booking.id,
        booking.phone,
        booking.nik_hash,
        booking.office_code,
        booking.booking_date,
        booking.session_name,
        booking.queue_seq,
        booking.code,
        booking.status,
        booking.late_cancel,
        booking.reschedules,
        booking.created_at,
    )


class BookingService:
    """The booking rules, applied within a session the caller owns."""

    def __init__(self, core: Core, seats: SeatEvents) -> None:
        self.core = core
        # Told whenever a seat frees up, in the same transaction: the waitlist
        # subscribes (services/waitlist.py) to give it to the next in line.
        self.seats = seats

    # -- the rules --------------------------------------------------------------------

    def ask(self, request: BookingRequest, want: Want, now: datetime) -> Ask:
        """Return the rules' view of a request."""
        return Ask(
            want,
            request.phone,
            request.nik.keyed_hash(self.core.nik_secret),
            request.office,
            request.day,
            request.session,
            now,
        )

    def locked_ask(
        self, session: Session, request: BookingRequest, want: Want, now: datetime
    ) -> Ask:
        """Return the rules' view of a request, its phone and NIK locked (transitions.py)."""
        ask = self.ask(request, want, now)
        lock_identities(session, ask.phone, ask.nik_hash)
        return ask

    def granted(self, session: Session, ask: Ask) -> Decision:
        """Return the rules' decision on ``ask`` (``assess``); raise the error of a refusal."""
        decision = self.assess(session, ask)
        if isinstance(decision, Refuse):
            raise decision.error
        return decision

    def assess(self, session: Session, ask: Ask) -> Decision:
        """Read the facts and decide (sms_gateway/rules); close bookings whose day is over first.

        The caller holds the identity locks of ``ask``, so nothing the facts say
        about this phone and NIK changes before it acts on the decision.
        """
        facts = read_facts(
            session,
            self.core.calendar,
            ask.office,
            ask.phone,
            ask.nik_hash,
            ask.day,
            ask.now,
            pseudonym(self.core.nik_secret, ask.phone),
        )
        for stale in stale_bookings(facts, self.core.calendar, ask.now):
            self.close_stale(session, stale.id, stale.status)
        return decide(ask, facts, self.core.calendar)

    # -- queries ----------------------------------------------------------------------

    def office_of(self, booking: Booking) -> OfficeSpec:
        """Return the office a booking belongs to (the first one if it left the config)."""
        return self.core.settings.office(booking.office_code) or self.core.settings.offices[0]

    def active_booking(
        self, session: Session, now: datetime, *, phone: str, lock: bool = False
    ) -> Booking | None:
        """Return the booking a phone holds, closing it if its day passed.

        A booking whose date has passed no longer counts; it gets its day-end status
        here (the one the day-end sweep gives), so it never blocks a new booking
        even before the sweep ran. ``lock`` reads it afresh with its row locked.
        """
        criteria = (Booking.phone == phone, Booking.status.in_(HOLDING))
        if lock:
            booking = locked_booking(session, *criteria)
        else:
            booking = session.scalars(select(Booking).where(*criteria)).first()
        if booking is None:
            return None
        if booking.booking_date < self.core.calendar.today(self.office_of(booking), now):
            self.close_stale(session, booking.id, booking.status)
            return None
        return booking

    def close_stale(self, session: Session, booking_id: int, status: BookingStatus) -> None:
        """Give a holding booking whose day is over its day-end status (as the sweep does)."""
        change_booking(session, booking_id, [status], status=day_end_status(status))

    @staticmethod
    def bookings_on(
        session: Session,
        day: date,
        *,
        office: str | None = None,
        status: BookingStatus | None = None,
    ) -> list[Booking]:
        """Return every booking of ``day`` in queue order, optionally filtered."""
        query = select(Booking).where(Booking.booking_date == day)
        if office:
            query = query.where(Booking.office_code == office.upper())
        if status:
            query = query.where(Booking.status == status)
        return list(session.scalars(query.order_by(Booking.office_code, Booking.queue_seq)))

    def sweep(self, session: Session, now: datetime, through: date | None = None) -> int:
        """Close the books of finished days; return how many bookings changed.

        Bookings never checked in become ``no_show``; checked-in or called ones that
        were never marked served become ``expired``. A day is finished once it is
        past, or, for today, once the office's last session has ended. ``through``
        limits the sweep to days up to that date. Running it again changes nothing.
        """
        total = 0
        for office in self.core.settings.offices:
            last_done = self.core.calendar.last_finished_day(office, now)
            if through is not None:
                last_done = min(last_done, through)
            for status in HOLDING:
                closed = session.scalars(
                    update(Booking)
                    .where(
                        Booking.status == status,
                        Booking.office_code == office.code,
                        Booking.booking_date <= last_done,
                    )
                    .values(status=day_end_status(status))
                    .returning(Booking.id)
                    .execution_options(synchronize_session=False)
                ).all()
                note(session, "booking", closed)  # a bulk UPDATE: the ORM never saw it
                total += len(closed)
        return total

    def closures(
        self, session: Session, office: OfficeSpec, start: date, end: date
    ) -> dict[date, str]:
        """Return the days in [start, end] that the office head closed, with reasons."""
        rows = session.execute(
            select(OfficeClosure.day, OfficeClosure.reason).where(
                OfficeClosure.office_code == office.code,
                OfficeClosure.day >= start,
                OfficeClosure.day <= end,
            )
        ).all()
        return {row.day: row.reason or "kantor tutup" for row in rows}

    def waiting_entry(self, session: Session, *, phone: str) -> WaitlistEntry | None:
        """Return the waitlist entry a phone holds, if any."""
        query = select(WaitlistEntry).where(
            WaitlistEntry.status == WaitStatus.WAITING, WaitlistEntry.phone == phone
        )
        return session.scalars(query).first()

    # -- booking ----------------------------------------------------------------------

    def book(self, session: Session, request: BookingRequest, now: datetime) -> BookingOutcome:
        """Give the applicant a seat, or raise the domain error that explains why not."""
        ask = self.locked_ask(session, request, Want.SEAT, now)
        for _ in range(DECISIONS):
            decision = self.granted(session, ask)
            if isinstance(decision, Repeat) and decision.booking is not None:
                mine = session.get_one(Booking, decision.booking.id)
                return BookingOutcome(mine, self.office_of(mine), existing=True)
            assert isinstance(decision, Seat), decision
            spec = claim_first(session, ask.office, ask.day, decision.sessions)
            if spec is not None:
                booking = self.new_booking(
                    session,
                    ask.office,
                    ask.day,
                    spec,
                    ask.phone,
                    ask.nik_hash,
                    request.nik.masked,
                    now,
                )
                return BookingOutcome(booking, ask.office, existing=False)
            # The seats went, or the day was closed, since the facts: read them again.
        raise SessionFull(ask.office, ask.day, ask.session, None, None)

    def new_booking(
        self,
        session: Session,
        office: OfficeSpec,
        day: date,
        spec: SessionSpec,
        phone: str,
        nik_hash: str,
        nik_masked: str,
        now: datetime,
    ) -> Booking:
        """Record a booking for a seat already taken; number it; check the unique indexes."""
        booking = Booking(
            office_code=office.code,
            booking_date=day,
            session_name=spec.name,
            queue_seq=next_queue_seq(session, office, day),
            code=new_booking_code(),
            phone=phone,
            nik_hash=nik_hash,
            nik_masked=nik_masked,
            status=BookingStatus.ACTIVE,
            created_at=now,
            reschedules=0,
            late_cancel=False,
        )
        session.add(booking)
        session.flush()  # hits the unique indexes now, inside this transaction
        return booking

    # -- changing a booking ----------------------------------------------------------------

    def confirmation_deadline(self, office: OfficeSpec, day: date) -> datetime:
        """Return the instant by which a booking for ``day`` must be confirmed (YA)."""
        return datetime.combine(
            day - timedelta(days=1), office.rules.confirm_deadline, tzinfo=office.timezone
        )

    def release_seat(
        self, session: Session, office: OfficeSpec, day: date, session_name: str, now: datetime
    ) -> None:
        """Give one seat back and offer it to the waitlist, in this transaction."""
        return_seats(session, office.code, day, session_name)
        self.seats.seat_freed(session, office, day, now)

    def mine(self, session: Session, phone: str, now: datetime) -> Booking | None:
        """Return the phone's booking, under its identity lock, its row locked and fresh."""
        lock_identities(session, phone)
        return self.active_booking(session, now, phone=phone, lock=True)

    def cancel(
        self, session: Session, phone: str, now: datetime, code: str | None = None
    ) -> Booking:
        """Cancel the phone's active booking; its seat goes back (to the waitlist) at once."""
        booking = self.mine(session, phone, now)
        if booking is None:
            raise NoActiveBooking(for_cancel=True)
        if code and code.upper() != booking.code:
            raise WrongBookingCode(code, booking)
        office = self.office_of(booking)
        day, session_name = booking.booking_date, booking.session_name
        cancelled = change_booking(
            session,
            booking.id,
            HOLDING,
            status=BookingStatus.CANCELLED,
            cancelled_at=now,
            # Too late to give the seat to someone who can still plan for it.
            late_cancel=office.rules.require_confirmation
            and now >= self.confirmation_deadline(office, day),
        )
        if cancelled is None:
            raise NoActiveBooking(for_cancel=True)
        self.release_seat(session, office, day, session_name, now)
        return cancelled

    def confirm(
        self, session: Session, phone: str, now: datetime, code: str | None = None
    ) -> Booking:
        """Record that the applicant is coming (YA)."""
        booking = self.mine(session, phone, now)
        if booking is None:
            raise NoActiveBooking()
        if code and code.upper() != booking.code:
            raise WrongBookingCode(code, booking)
        if booking.status == BookingStatus.ACTIVE and booking.confirmed_at is None:
            confirmed = change_booking(
                session,
                booking.id,
                [BookingStatus.ACTIVE],
                where=[Booking.confirmed_at.is_(None)],
                confirmed_at=now,
            )
            return confirmed or booking
        return booking

    def move(
        self, session: Session, phone: str, day: date, wanted: SessionSpec | None, now: datetime
    ) -> Booking:
        """Move the phone's booking to another day or session (UBAH), atomically.

        The new seat is taken before the old one is given back, in one
        transaction: if the new one is not available, nothing changes.
        """
        booking = self.mine(session, phone, now)
        if booking is None:
            raise NoActiveBooking()
        office = self.office_of(booking)
        moving = held_booking(booking)
        ask = Ask(Want.MOVE, phone, booking.nik_hash, office, day, wanted, now, moving=moving)
        for _ in range(DECISIONS):
            decision = self.granted(session, ask)
            assert isinstance(decision, Seat), decision
            spec = claim_first(session, office, day, decision.sessions)
            if spec is not None:
                break
        else:
            raise SessionFull(office, day, wanted, None, None)
        moved = change_booking(
            session,
            booking.id,
            [BookingStatus.ACTIVE],
            where=[Booking.reschedules == moving.reschedules],
            booking_date=day,
            session_name=spec.name,
            queue_seq=next_queue_seq(session, office, day),
            reschedules=moving.reschedules + 1,
            reminded_at=None,
            confirmed_at=None,
        )
        if moved is None:  # under the locks this cannot happen; never act on it if it does
            raise CannotMove("checked_in", booking)
        self.release_seat(session, office, moving.booking_date, moving.session_name, now)
        return moved

"""Book, find, move and cancel seats. Runs inside the caller's transaction; never commits.

Who may have what is decided in one place, ``sms_gateway/rules.py``: one facts
query, one pure ``decide()``. This service carries the decision out under the
lock discipline of ``services/transitions.py``: the identity locks before the
facts are read, every change conditional on the state it expects.

The quota is enforced by one atomic conditional update of the session's row
in ``session_slots`` (``booked < quota AND NOT closed``, ``claim_statement``):
on PostgreSQL the row lock makes concurrent claims queue behind each other and
re-check the condition; on SQLite the whole transaction holds the write lock
from its first statement. The partial unique indexes on ``bookings`` make one
active booking per phone and per NIK a database rule.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Insert, Integer, func, literal, select, update
from sqlalchemy.orm import Session

from sms_gateway.config import OfficeSpec, SessionSpec, Settings
from sms_gateway.db import rowcount
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
    OfficeDay,
    SessionSlot,
    WaitlistEntry,
    WaitStatus,
)
from sms_gateway.nik import Nik
from sms_gateway.rules import (
    Ask,
    Decision,
    Facts,
    HeldBooking,
    Refuse,
    Repeat,
    Seat,
    SeatCounter,
    Want,
    day_end_status,
    decide,
    read_facts,
    stale_bookings,
)
from sms_gateway.schedule import OfficeCalendar
from sms_gateway.services import chain
from sms_gateway.services.transitions import (
    UpsertFactory,
    change_booking,
    insert_for,
    insert_ignore,
    lock_identities,
    locked_booking,
    return_seats,
)

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
class BookingRequest:
    """What an applicant asked for, already validated."""

    phone: str
    nik: Nik
    day: date
    office: OfficeSpec
    session: SessionSpec | None  # None: the first session with a free seat


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

    def __init__(self, settings: Settings, calendar: OfficeCalendar, nik_secret: bytes) -> None:
        self.settings = settings
        self.calendar = calendar
        self.nik_secret = nik_secret
        # Called whenever a seat frees up, in the same transaction: the waitlist
        # service hooks in here (see gateway.py) to give it to the next in line.
        self.on_seat_freed: Callable[[Session, OfficeSpec, date, datetime], object] | None = None

    # -- the rules --------------------------------------------------------------------

    def ask(self, request: BookingRequest, want: Want, now: datetime) -> Ask:
        """Return the rules' view of a request."""
        return Ask(
            want,
            request.phone,
            request.nik.keyed_hash(self.nik_secret),
            request.office,
            request.day,
            request.session,
            now,
        )

    def assess(self, session: Session, ask: Ask) -> Decision:
        """Read the facts and decide (rules.py); close bookings whose day is over first.

        The caller holds the identity locks of ``ask``, so nothing the facts say
        about this phone and NIK changes before it acts on the decision.
        """
        facts = read_facts(
            session,
            self.calendar,
            ask.office,
            ask.phone,
            ask.nik_hash,
            ask.day,
            ask.now,
            chain.pseudonym(self.nik_secret, ask.phone),
        )
        for stale in stale_bookings(facts, self.calendar, ask.now):
            self.close_stale(session, stale.id, stale.status)
        return decide(ask, facts, self.calendar)

    # -- queries ----------------------------------------------------------------------

    def office_of(self, booking: Booking) -> OfficeSpec:
        """Return the office a booking belongs to (the first one if it left the config)."""
        return self.settings.office(booking.office_code) or self.settings.offices[0]

    def active_booking(
        self,
        session: Session,
        now: datetime,
        *,
        phone: str | None = None,
        nik_hash: str | None = None,
        lock: bool = False,
    ) -> Booking | None:
        """Return the booking a phone or NIK holds, closing it if its day passed.

        A booking whose date has passed no longer counts; it gets its day-end status
        here (the one the day-end sweep gives), so it never blocks a new booking
        even before the sweep ran. ``lock`` reads it afresh with its row locked.
        """
        who = Booking.phone == phone if phone else Booking.nik_hash == nik_hash
        criteria = (who, Booking.status.in_(HOLDING))
        if lock:
            booking = locked_booking(session, *criteria)
        else:
            booking = session.scalars(select(Booking).where(*criteria)).first()
        if booking is None:
            return None
        if booking.booking_date < self.calendar.today(self.office_of(booking), now):
            self.close_stale(session, booking.id, booking.status)
            return None
        return booking

    def close_stale(self, session: Session, booking_id: int, status: BookingStatus) -> None:
        """Give a holding booking whose day is over its day-end status (as the sweep does)."""
        change_booking(session, booking_id, [status], status=day_end_status(status))

    def bookings_on(
        self,
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
        for office in self.settings.offices:
            last_done = self.calendar.last_finished_day(office, now)
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
                chain.note(session, "booking", closed)  # a bulk UPDATE: the ORM never saw it
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

    def waiting_entry(
        self, session: Session, *, phone: str | None = None, nik_hash: str | None = None
    ) -> WaitlistEntry | None:
        """Return the waitlist entry a phone or NIK holds, if any."""
        query = select(WaitlistEntry).where(WaitlistEntry.status == WaitStatus.WAITING)
        query = (
            query.where(WaitlistEntry.phone == phone)
            if phone
            else query.where(WaitlistEntry.nik_hash == nik_hash)
        )
        return session.scalars(query).first()

    # -- booking ----------------------------------------------------------------------

    def book(self, session: Session, request: BookingRequest, now: datetime) -> BookingOutcome:
        """Give the applicant a seat, or raise the domain error that explains why not."""
        ask = self.ask(request, Want.SEAT, now)
        lock_identities(session, ask.phone, ask.nik_hash)
        for _ in range(DECISIONS):
            decision = self.assess(session, ask)
            if isinstance(decision, Refuse):
                raise decision.error
            if isinstance(decision, Repeat) and decision.booking is not None:
                mine = session.get_one(Booking, decision.booking.id)
                return BookingOutcome(mine, self.office_of(mine), existing=True)
            assert isinstance(decision, Seat), decision
            spec = self.claim_first(session, ask.office, ask.day, decision.sessions)
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
            queue_seq=self.next_queue_seq(session, office, day),
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
        if self.on_seat_freed is not None:
            self.on_seat_freed(session, office, day, now)

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
            decision = self.assess(session, ask)
            if isinstance(decision, Refuse):
                raise decision.error
            assert isinstance(decision, Seat), decision
            spec = self.claim_first(session, office, day, decision.sessions)
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
            queue_seq=self.next_queue_seq(session, office, day),
            reschedules=moving.reschedules + 1,
            reminded_at=None,
            confirmed_at=None,
        )
        if moved is None:  # under the locks this cannot happen; never act on it if it does
            raise CannotMove("checked_in", booking)
        self.release_seat(session, office, moving.booking_date, moving.session_name, now)
        return moved

    # -- seats and numbers ------------------------------------------------------------

    def claim_first(
        self, session: Session, office: OfficeSpec, day: date, sessions: tuple[SessionSpec, ...]
    ) -> SessionSpec | None:
        """Claim a seat in the first of ``sessions`` that still has one; None if none has."""
        return next((s for s in sessions if self.claim(session, office, day, s)), None)

    def claim(self, session: Session, office: OfficeSpec, day: date, spec: SessionSpec) -> bool:
        """Take one seat atomically; False when the session is full or the day closed.

        One statement (``claim_statement``); on PostgreSQL the row lock makes
        concurrent claims queue and re-check the condition.
        """
        if spec.quota < 1:
            # A new counter would start above the quota; only a staff override opens it.
            return self._increment_booked(session, office, day, spec)
        statement = claim_statement(insert_for(session), office.code, day, spec.name, spec.quota)
        return session.execute(statement).first() is not None

    def _increment_booked(
        self, session: Session, office: OfficeSpec, day: date, spec: SessionSpec
    ) -> bool:
        result = session.execute(
            update(SessionSlot)
            .where(
                SessionSlot.office_code == office.code,
                SessionSlot.slot_date == day,
                SessionSlot.session_name == spec.name,
                seat_is_free(spec.quota),
            )
            .values(booked=SessionSlot.booked + 1)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    def next_queue_seq(self, session: Session, office: OfficeSpec, day: date) -> int:
        """Return the next queue number of the office day; numbers are never reused."""
        statement = number_statement(insert_for(session), office.code, day)
        return int(session.execute(statement).scalar_one())

    def seats_left(self, session: Session, office: OfficeSpec, day: date) -> list[SessionSpec]:
        """Return the day's sessions that have a free seat and are not closed (rules.Facts)."""
        rows = session.execute(
            select(
                SessionSlot.session_name,
                SessionSlot.booked,
                SessionSlot.quota_override,
                SessionSlot.closed,
            ).where(SessionSlot.office_code == office.code, SessionSlot.slot_date == day)
        ).all()
        seats = {
            (day, r.session_name): SeatCounter(r.booked, r.quota_override, r.closed) for r in rows
        }
        return Facts(seats=seats).free_sessions(office, day)


# -- the statements that take a seat and a number (the crowd lane runs them too) ----------


def seat_is_free(quota: Any) -> ColumnElement[bool]:
    """The condition under which a seat counter may give one more seat."""
    return (SessionSlot.booked < func.coalesce(SessionSlot.quota_override, quota)) & (
        SessionSlot.closed.is_(False)
    )


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

"""Book, find and cancel seats. Runs inside the caller's transaction; never commits.

The quota is enforced by one atomic conditional update on the session's row in
``session_slots`` (``booked < quota``): on PostgreSQL the row lock makes
concurrent bookings queue behind each other and re-check the condition; on
SQLite the whole transaction holds the write lock from its first statement.
The partial unique indexes on ``bookings`` make one active booking per phone
and per NIK a database rule; a request that loses that race is retried by the
inbox service and then sees the winner.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sms_gateway.config import OfficeSpec, SessionSpec, Settings
from sms_gateway.errors import (
    AlreadyEntered,
    AlreadyWaiting,
    Blocked,
    CannotMove,
    NikHasBooking,
    NoActiveBooking,
    Penalized,
    PhoneHasBooking,
    SessionFull,
    TooManyNiks,
    WrongBookingCode,
)
from sms_gateway.models import (
    HOLDING,
    Block,
    BlockKind,
    Booking,
    BookingStatus,
    EntryStatus,
    LotteryEntry,
    OfficeClosure,
    OfficeDay,
    SessionSlot,
    WaitlistEntry,
    WaitStatus,
)
from sms_gateway.nik import Nik
from sms_gateway.schedule import NO_CLOSURES, OfficeCalendar
from sms_gateway.services import chain

# Booking codes avoid look-alikes (0/O, 1/I/L, 2/Z, 5/S, 8/B) so they survive
# being read aloud at the counter or copied from a basic phone's screen.
CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"
CODE_LENGTH = 6
# The window for [limits] niks_per_phone.
NIK_WINDOW_DAYS = 30


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


@dataclass
class _History:
    """What one query found about a phone and a NIK (see BookingService._history)."""

    mine: Booking | None = None  # the booking the phone holds
    theirs: Booking | None = None  # the booking the NIK holds from another phone
    penalty_until: date | None = None
    phone_niks: set[str] = field(default_factory=set)  # NIK hashes booked in 30 days


def day_end_status(status: BookingStatus) -> BookingStatus:
    """Return what a still-holding booking becomes when its day is over."""
    return BookingStatus.NO_SHOW if status == BookingStatus.ACTIVE else BookingStatus.EXPIRED


def new_booking_code() -> str:
    """Return a random booking code such as ``K7MXQ4``."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class BookingService:
    """The booking rules, applied within a session the caller owns."""

    def __init__(self, settings: Settings, calendar: OfficeCalendar, nik_secret: bytes) -> None:
        self.settings = settings
        self.calendar = calendar
        self.nik_secret = nik_secret
        # Called whenever a seat frees up, in the same transaction: the waitlist
        # service hooks in here (see gateway.py) to give it to the next in line.
        self.on_seat_freed: Callable[[Session, OfficeSpec, date, datetime], object] | None = None
        # Refuses first-come seats of a lottery day before its draw (services/lottery.py).
        self.lottery_gate: Callable[..., None] | None = None

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
    ) -> Booking | None:
        """Return the booking a phone or NIK hash holds, closing it if its day passed.

        A booking whose date has passed no longer counts; it gets its day-end status
        here, lazily (the same one the day-end sweep gives), so it never blocks a
        new booking even before the sweep ran.
        """
        query = select(Booking).where(Booking.status.in_(HOLDING))
        query = (
            query.where(Booking.phone == phone)
            if phone
            else query.where(Booking.nik_hash == nik_hash)
        )
        booking = session.scalars(query).first()
        if booking is None:
            return None
        if booking.booking_date < self.calendar.today(self.office_of(booking), now):
            booking.status = day_end_status(booking.status)
            session.flush()
            return None
        return booking

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

    def check_day(
        self, session: Session, office: OfficeSpec, day: date, today: date
    ) -> dict[date, str]:
        """Refuse a day that cannot be booked; return the office's closures in the window."""
        horizon = today + timedelta(days=self.settings.booking.max_days_ahead)
        closed = self.closures(session, office, today, horizon)
        self.calendar.check_bookable(office, day, today, closed)
        return closed

    def check_allocation(
        self, session: Session, office: OfficeSpec, day: date, now: datetime, *, booked: bool
    ) -> None:
        """Refuse a first-come seat on a lottery office's day whose draw has not run."""
        if office.allocation == "lottery" and self.lottery_gate is not None:
            self.lottery_gate(session, office, day, now, booked=booked)

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

    def book(self, session: Session, request: BookingRequest, now: datetime) -> BookingOutcome:
        """Give the applicant a seat, or raise the domain error that explains why not."""
        office = request.office
        today = self.calendar.today(office, now)
        nik_hash = request.nik.keyed_hash(self.nik_secret)
        lock_identities(session, request.phone, nik_hash)
        closed = self.check_day(session, office, request.day, today)
        self.check_allocation(session, office, request.day, now, booked=False)

        # One query reads everything the rules need about this phone and NIK: the
        # booking each holds, no-shows for the penalty, NIKs booked from the phone.
        known = self.history(session, office, request.phone, nik_hash, today, now)
        if known.mine is not None:
            mine = known.mine
            if mine.nik_hash == nik_hash and mine.booking_date == request.day:
                return BookingOutcome(mine, self.office_of(mine), existing=True)
            raise PhoneHasBooking(mine)
        block = self._block(session, request.phone, nik_hash, today)
        if block is not None:
            raise Blocked(block.kind.value, block.until, block.reason)
        if known.penalty_until is not None:
            raise Penalized(
                known.penalty_until, office.rules.max_no_shows, office.rules.penalty_window_days
            )
        if known.theirs is not None:
            raise NikHasBooking(known.theirs)
        self.check_not_waiting(session, request.phone, nik_hash)
        if nik_hash not in known.phone_niks and len(known.phone_niks) >= (
            office.rules.niks_per_phone
        ):
            raise TooManyNiks(office.rules.niks_per_phone)

        spec = self._take_seat(session, office, request.day, request.session, today, closed)
        booking = self.new_booking(
            session, office, request.day, spec, request.phone, nik_hash, request.nik.masked, now
        )
        return BookingOutcome(booking, office, existing=False)

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
            queue_seq=self._next_queue_seq(session, office, day),
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

    # -- who may book ------------------------------------------------------------------------

    def history(
        self,
        session: Session,
        office: OfficeSpec,
        phone: str,
        nik_hash: str,
        today: date,
        now: datetime,
    ) -> _History:
        """Read, in one query, what the booking rules need to know about a phone and NIK."""
        rules = office.rules
        window_start = today - timedelta(days=rules.penalty_window_days)
        nik_window = now - timedelta(days=NIK_WINDOW_DAYS)
        missed = (Booking.status == BookingStatus.NO_SHOW) | Booking.late_cancel.is_(True)
        rows = session.scalars(
            select(Booking).where(
                (Booking.phone == phone) | (Booking.nik_hash == nik_hash),
                Booking.status.in_(HOLDING)
                | (missed & (Booking.booking_date >= window_start))
                | (Booking.created_at >= nik_window),
            )
        ).all()
        known = _History()
        missed_days: dict[str, list[date]] = {"phone": [], "nik": []}
        for booking in rows:
            if booking.status in HOLDING:
                if booking.booking_date < self.calendar.today(self.office_of(booking), now):
                    # Its day is over: close it lazily, as the sweep would.
                    booking.status = day_end_status(booking.status)
                elif booking.phone == phone:
                    known.mine = booking
                elif booking.nik_hash == nik_hash:
                    known.theirs = booking
            if booking.phone == phone and booking.created_at >= nik_window:
                known.phone_niks.add(booking.nik_hash)
            if (booking.status == BookingStatus.NO_SHOW or booking.late_cancel) and (
                booking.booking_date >= window_start
            ):
                if booking.phone == phone:
                    missed_days["phone"].append(booking.booking_date)
                if booking.nik_hash == nik_hash:
                    missed_days["nik"].append(booking.booking_date)
        latest = [max(days) for days in missed_days.values() if len(days) >= rules.max_no_shows]
        if latest:
            until = max(latest) + timedelta(days=rules.ban_days)
            known.penalty_until = until if until >= today else None
        return known

    def _block(self, session: Session, phone: str, nik_hash: str, today: date) -> Block | None:
        """Return a block in force on the phone or the NIK (one query for both)."""
        return session.scalars(
            select(Block)
            .where(
                ((Block.kind == BlockKind.PHONE) & (Block.value == phone))
                | ((Block.kind == BlockKind.NIK) & (Block.value == nik_hash)),
                Block.lifted_at.is_(None),
                Block.until >= today,
            )
            .order_by(Block.until.desc())
        ).first()

    def check_eligible(
        self,
        session: Session,
        office: OfficeSpec,
        phone: str,
        nik_hash: str,
        today: date,
        now: datetime,
    ) -> None:
        """Refuse a blocked or penalised phone or NIK (BLOKIR, or too many no-shows)."""
        block = self._block(session, phone, nik_hash, today)
        if block is not None:
            raise Blocked(block.kind.value, block.until, block.reason)
        until = self.history(session, office, phone, nik_hash, today, now).penalty_until
        if until is not None:
            raise Penalized(until, office.rules.max_no_shows, office.rules.penalty_window_days)

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

    def check_not_waiting(self, session: Session, phone: str, nik_hash: str) -> None:
        """Refuse when the phone or NIK already waits for a seat or a draw: its one request."""
        if self.settings.uses_lottery:
            entered = session.scalars(
                select(LotteryEntry).where(
                    LotteryEntry.status == EntryStatus.ENTERED,
                    (LotteryEntry.phone == phone) | (LotteryEntry.nik_hash == nik_hash),
                )
            ).all()
            if entered:
                entry = next((e for e in entered if e.phone == phone), entered[0])
                raise AlreadyEntered(entry, same_phone=entry.phone == phone)
        entries = session.scalars(
            select(WaitlistEntry).where(
                WaitlistEntry.status == WaitStatus.WAITING,
                (WaitlistEntry.phone == phone) | (WaitlistEntry.nik_hash == nik_hash),
            )
        ).all()
        if entries:
            # The phone's own entry explains best; else the one the NIK holds elsewhere.
            entry = next((e for e in entries if e.phone == phone), entries[0])
            raise AlreadyWaiting(entry, same_phone=entry.phone == phone)

    # -- giving seats back ------------------------------------------------------------------

    def confirmation_deadline(self, office: OfficeSpec, day: date) -> datetime:
        """Return the instant by which a booking for ``day`` must be confirmed (YA)."""
        return datetime.combine(
            day - timedelta(days=1), office.rules.confirm_deadline, tzinfo=office.timezone
        )

    def return_seat(
        self, session: Session, office: OfficeSpec, day: date, session_name: str
    ) -> None:
        """Give one seat back to the quota (without offering it to anyone)."""
        session.execute(
            update(SessionSlot)
            .where(
                SessionSlot.office_code == office.code,
                SessionSlot.slot_date == day,
                SessionSlot.session_name == session_name,
                SessionSlot.booked > 0,
            )
            .values(booked=SessionSlot.booked - 1)
            .execution_options(synchronize_session=False)
        )

    def release_seat(
        self, session: Session, office: OfficeSpec, day: date, session_name: str, now: datetime
    ) -> None:
        """Give one seat back and offer it to the waitlist, in this transaction."""
        self.return_seat(session, office, day, session_name)
        if self.on_seat_freed is not None:
            self.on_seat_freed(session, office, day, now)

    def cancel(
        self, session: Session, phone: str, now: datetime, code: str | None = None
    ) -> Booking:
        """Cancel the phone's active booking; its seat goes back (to the waitlist) at once."""
        booking = self.active_booking(session, now, phone=phone)
        if booking is None:
            raise NoActiveBooking(for_cancel=True)
        if code and code.upper() != booking.code:
            raise WrongBookingCode(code, booking)
        office = self.office_of(booking)
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        # Too late to give the seat to someone who can still plan for it.
        booking.late_cancel = office.rules.require_confirmation and (
            now >= self.confirmation_deadline(office, booking.booking_date)
        )
        session.flush()
        self.release_seat(session, office, booking.booking_date, booking.session_name, now)
        return booking

    def confirm(
        self, session: Session, phone: str, now: datetime, code: str | None = None
    ) -> Booking:
        """Record that the applicant is coming (YA)."""
        booking = self.active_booking(session, now, phone=phone)
        if booking is None:
            raise NoActiveBooking()
        if code and code.upper() != booking.code:
            raise WrongBookingCode(code, booking)
        if booking.status == BookingStatus.ACTIVE and booking.confirmed_at is None:
            booking.confirmed_at = now
        return booking

    def move(
        self, session: Session, phone: str, day: date, wanted: SessionSpec | None, now: datetime
    ) -> Booking:
        """Move the phone's booking to another day or session (UBAH), atomically.

        The new seat is taken before the old one is given back, in one
        transaction: if the new one is not available, nothing changes.
        """
        booking = self.active_booking(session, now, phone=phone)
        if booking is None:
            raise NoActiveBooking()
        lock_identities(session, booking.phone, booking.nik_hash)
        office = self.office_of(booking)
        if booking.status != BookingStatus.ACTIVE:
            raise CannotMove("checked_in", booking)
        if booking.reschedules >= office.rules.max_reschedules:
            raise CannotMove("too_many", booking, office.rules.max_reschedules)
        if day == booking.booking_date and (wanted is None or wanted.name == booking.session_name):
            raise CannotMove("same", booking)
        today = self.calendar.today(office, now)
        closed = self.check_day(session, office, day, today)
        self.check_allocation(session, office, day, now, booked=True)
        self.check_eligible(session, office, booking.phone, booking.nik_hash, today, now)
        sessions = (
            [wanted]
            if wanted
            else [
                s
                for s in office.sessions
                if day != booking.booking_date or s.name != booking.session_name
            ]
        )
        spec = next((s for s in sessions if self.claim(session, office, day, s)), None)
        if spec is None:
            free = [
                s
                for s in self.sessions_with_seats(session, office, day)
                if day != booking.booking_date or s.name != booking.session_name
            ]
            other = next((s for s in free if wanted is None or s.name != wanted.name), None)
            next_day = (
                None
                if other
                else self.next_day_with_seats(session, office, today, after=day, closures=closed)
            )
            raise SessionFull(office, day, wanted, other, next_day)
        old_day, old_session = booking.booking_date, booking.session_name
        # Number first: changing the date before would let autoflush write the old
        # number under the new date, where another booking may already hold it.
        seq = self._next_queue_seq(session, office, day)
        booking.booking_date = day
        booking.session_name = spec.name
        booking.queue_seq = seq
        booking.reschedules += 1
        booking.reminded_at = None
        booking.confirmed_at = None
        session.flush()
        self.release_seat(session, office, old_day, old_session, now)
        return booking

    # -- seats and numbers ------------------------------------------------------------

    def _take_seat(
        self,
        session: Session,
        office: OfficeSpec,
        day: date,
        wanted: SessionSpec | None,
        today: date,
        closed: Mapping[date, str],
    ) -> SessionSpec:
        # Look first, without a lock: when a quota opens, most requests find the day
        # full, and a claim on a full session would still lock its counter row until
        # commit, queueing every one of them behind each other. Only sessions that
        # look free are claimed (the claim re-checks under the lock: never oversold).
        free_today = self.sessions_with_seats(session, office, day)
        for spec in [wanted] if wanted else office.sessions:
            if spec in free_today:
                if self.claim(session, office, day, spec):
                    return spec
                free_today.remove(spec)  # its last seat went a moment ago
        other = next((s for s in free_today if wanted is None or s.name != wanted.name), None)
        next_day = None
        if other is None:
            next_day = self.next_day_with_seats(session, office, today, after=day, closures=closed)
        raise SessionFull(office, day, wanted, other, next_day)

    def claim(self, session: Session, office: OfficeSpec, day: date, spec: SessionSpec) -> bool:
        """Take one seat atomically; False when the session is full.

        One statement: create the day's counter at 1, or add one to it while it is
        below the quota (INSERT .. ON CONFLICT DO UPDATE .. WHERE). On PostgreSQL
        the row lock makes concurrent claims queue and re-check the condition.
        """
        if spec.quota < 1:
            # A new counter would start above the quota; only a staff override opens it.
            return self._increment_booked(session, office, day, spec)
        table = SessionSlot.__table__
        statement = (
            insert_for(session)(table)
            .values(office_code=office.code, slot_date=day, session_name=spec.name, booked=1)
            .on_conflict_do_update(
                index_elements=[table.c.office_code, table.c.slot_date, table.c.session_name],
                set_={"booked": table.c.booked + 1},
                where=table.c.booked < func.coalesce(table.c.quota_override, spec.quota),
            )
            .returning(table.c.booked)
        )
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
                SessionSlot.booked < func.coalesce(SessionSlot.quota_override, spec.quota),
            )
            .values(booked=SessionSlot.booked + 1)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def _next_queue_seq(self, session: Session, office: OfficeSpec, day: date) -> int:
        """Return the next queue number of the office day; numbers are never reused."""
        table = OfficeDay.__table__
        statement = (
            insert_for(session)(table)
            .values(office_code=office.code, day=day, last_queue_seq=1)
            .on_conflict_do_update(
                index_elements=[table.c.office_code, table.c.day],
                set_={"last_queue_seq": table.c.last_queue_seq + 1},
            )
            .returning(table.c.last_queue_seq)
        )
        return int(session.execute(statement).scalar_one())

    def _free_seats(
        self, session: Session, office: OfficeSpec, days: Iterable[date]
    ) -> dict[tuple[date, str], int]:
        wanted = list(days)
        if not wanted:
            return {}
        rows = session.execute(
            select(
                SessionSlot.slot_date,
                SessionSlot.session_name,
                SessionSlot.booked,
                SessionSlot.quota_override,
            ).where(
                SessionSlot.office_code == office.code,
                SessionSlot.slot_date >= min(wanted),
                SessionSlot.slot_date <= max(wanted),
            )
        ).all()
        taken = {(r.slot_date, r.session_name): (r.booked, r.quota_override) for r in rows}
        free = {}
        for day in wanted:
            for spec in office.sessions:
                booked, override = taken.get((day, spec.name), (0, None))
                free[(day, spec.name)] = spec.quota_with(override) - booked
        return free

    def sessions_with_seats(
        self, session: Session, office: OfficeSpec, day: date
    ) -> list[SessionSpec]:
        free = self._free_seats(session, office, [day])
        return [s for s in office.sessions if free[(day, s.name)] > 0]

    def next_day_with_seats(
        self,
        session: Session,
        office: OfficeSpec,
        today: date,
        after: date,
        closures: Mapping[date, str] = NO_CLOSURES,
    ) -> date | None:
        """Return the first bookable open day after ``after`` with a free seat, or None."""
        days = list(self.calendar.bookable_days(office, today, closures=closures))
        days = [d for d in days if d > after]
        free = self._free_seats(session, office, days)
        return next((d for d in days if any(free[(d, s.name)] > 0 for s in office.sessions)), None)


def lock_identities(session: Session, *identities: str) -> None:
    """Serialise requests about the same phones and NIKs (PostgreSQL advisory locks).

    A phone or NIK may hold one booking *or* one waitlist entry; two tables cannot
    share a unique index, so concurrent requests for one identity take turns.
    SQLite needs nothing: its transactions take the write lock from the start.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    # One round trip; PostgreSQL evaluates the select list left to right.
    session.execute(
        select(*(func.pg_advisory_xact_lock(key) for key in identity_lock_keys(*identities)))
    )


def identity_lock_keys(*identities: str) -> list[int]:
    """Return the advisory lock keys of phones and NIK hashes, in the one order to take them.

    Sorted, so that every path takes them in the same order: no lock-order deadlocks.
    """
    return sorted(
        {
            int.from_bytes(hashlib.sha256(i.encode()).digest()[:8], "big", signed=True)
            for i in identities
        }
    )


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


def insert_for(session: Session):  # type: ignore[no-untyped-def]
    """Return the dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_ignore(session: Session, model: type, **values: object) -> bool:
    """Insert a row unless its primary key exists; return True if this call inserted it."""
    insert = insert_for(session)
    # RETURNING tells reliably whether a row went in; the ORM-level rowcount of an
    # INSERT .. ON CONFLICT can be -1 ("unknown") on PostgreSQL, which reads as true.
    table = model.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(**values).on_conflict_do_nothing()
    inserted = session.execute(statement.returning(*table.primary_key.columns)).first()
    return inserted is not None

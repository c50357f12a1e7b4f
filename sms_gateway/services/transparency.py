"""Read-only figures for the public pages: how each office day went, and the call board.

Nothing personal leaves this module: only counts, queue numbers (``PMK-007``),
counter names and the lottery's public commitments. No phone number, NIK (not
even masked) or booking code is ever selected. Each public method runs one short
read transaction and ends it with a rollback: it never writes.

What the day figures mean (the pages show the same definitions):

- ``quota``: the seats of the day's sessions as configured, with a KUOTA override
  where the office head set one; 0 when the office was closed that day.
- ``booked``: bookings that hold or used a seat: active, checked in, called,
  served, no-show, expired. This equals ``session_slots.booked``. REKAP's
  "daftar" also counts released bookings; here they are only in ``released``,
  so a seat given back and given again is not counted twice.
- ``checked_in``: bookings with a check-in (HADIR), whatever happened next.
- ``no_show``, ``released``, ``served``, ``cancelled`` (BATAL),
  ``cancelled_by_office`` (TUTUP): bookings in that status.
- ``from_waitlist``: waitlist entries for the day that got a seat (promoted).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from itertools import groupby

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sms_gateway.config import OfficeSpec
from sms_gateway.db import read_only_session
from sms_gateway.models import (
    Booking,
    BookingStatus,
    LotteryRound,
    LotteryStatus,
    SessionSlot,
    WaitlistEntry,
    WaitStatus,
    format_queue_number,
)
from sms_gateway.services.booking import BookingService
from sms_gateway.services.core import Core
from sms_gateway.services.tally import Tally

DEFAULT_DAYS_BACK = 14
DEFAULT_DAYS_AHEAD = 14
# A range longer than this is refused: one page stays small on a cheap phone,
# and one request stays a cheap query.
MAX_RANGE_DAYS = 92
RECENT_CALLS = 6


# Bookings that hold or used a seat (the seat counter counts exactly these).
SEAT_USED = (
    BookingStatus.ACTIVE,
    BookingStatus.CHECKED_IN,
    BookingStatus.CALLED,
    BookingStatus.SERVED,
    BookingStatus.NO_SHOW,
    BookingStatus.EXPIRED,
)


@dataclass(frozen=True)
class Counts(Tally):
    """The figures of one office day, or their sum over several days (always all of them)."""

    quota: int
    booked: int
    checked_in: int
    no_show: int
    released: int
    from_waitlist: int
    served: int
    cancelled: int
    cancelled_by_office: int

    @classmethod
    def zero(cls) -> Counts:
        """Return the figures of no day at all: where a sum starts."""
        return cls(*(0 for _ in fields(cls)))

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


COUNT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True)
class LotteryInfo:
    """The public side of an office day's lottery round."""

    status: LotteryStatus
    commitment: str  # SHA-256 of the secret, published before the window opened
    opens_at: datetime
    closes_at: datetime
    secret: str | None  # revealed at the draw
    seed: str | None  # None until drawn
    entries_digest: str | None
    entries: int | None  # None until drawn
    winners: int | None
    verify_command: str | None  # how anyone re-runs the draw, once drawn


@dataclass(frozen=True)
class DayFigures:
    """One office day as the transparency page shows it."""

    day: date
    closed_reason: str | None  # None when the office was open
    counts: Counts
    lottery: LotteryInfo | None


@dataclass(frozen=True)
class Week:
    """The shown days of one ISO week, for the weekly chart."""

    year: int
    number: int
    days: tuple[DayFigures, ...]


@dataclass(frozen=True)
class OfficeReport:
    """An office's days from ``start`` to ``end`` (closed weekends without activity left out)."""

    code: str
    name: str
    start: date
    end: date
    today: date
    days: tuple[DayFigures, ...]

    @property
    def totals(self) -> Counts:
        """Return the sum of every shown day's figures."""
        return sum((d.counts for d in self.days), Counts.zero())

    @property
    def weeks(self) -> list[Week]:
        """Return the shown days grouped by ISO week, oldest first."""
        grouped = groupby(self.days, key=lambda d: d.day.isocalendar()[:2])
        return [Week(year, number, tuple(days)) for (year, number), days in grouped]

    @property
    def lotteries(self) -> list[DayFigures]:
        """Return the shown days that have a lottery round."""
        return [d for d in self.days if d.lottery is not None]


@dataclass(frozen=True)
class Call:
    """A queue number called to a counter (PANGGIL)."""

    number: str  # e.g. PMK-007
    counter: str
    called_at: datetime  # in the office's time zone


@dataclass(frozen=True)
class CounterState:
    """What a counter shows: its latest call today, or None once that one was served."""

    counter: str
    call: Call | None


@dataclass(frozen=True)
class CallBoard:
    """The waiting-room display of one office, now."""

    code: str
    name: str
    now: datetime  # in the office's time zone
    counters: tuple[CounterState, ...]
    recent: tuple[Call, ...]  # newest first
    waiting: int  # checked in, not yet called


def verify_command(office_code: str, day: date) -> str:
    """Return the command that re-runs an office day's lottery draw."""
    return f"sms-gateway lottery verify --office {office_code} --date {day.isoformat()}"


class Transparency:
    """Read the public figures, one short read transaction per call."""

    def __init__(self, core: Core, bookings: BookingService) -> None:
        self.core = core
        self.bookings = bookings

    def today(self, office: OfficeSpec | None = None) -> date:
        """Return today at ``office`` (or in the booking time zone) by the gateway clock."""
        zone = office.timezone if office else self.core.settings.booking.timezone
        return self.core.clock().astimezone(zone).date()

    def default_range(self, office: OfficeSpec | None = None) -> tuple[date, date]:
        """Return the range shown without ``from``/``to``: two weeks back to two weeks ahead."""
        today = self.today(office)
        return today - timedelta(days=DEFAULT_DAYS_BACK), today + timedelta(days=DEFAULT_DAYS_AHEAD)

    def reports(self, offices: list[OfficeSpec], start: date, end: date) -> list[OfficeReport]:
        """Return each office's figures from ``start`` to ``end``, read in one transaction."""
        with self._read() as session:
            return [self._report(session, office, start, end) for office in offices]

    def report(self, office: OfficeSpec, start: date, end: date) -> OfficeReport:
        """Return one office's figures from ``start`` to ``end``."""
        return self.reports([office], start, end)[0]

    def call_board(self, office: OfficeSpec) -> CallBoard:
        """Return what the waiting-room display shows now: counters, recent calls, waiting."""
        now = self.core.clock().astimezone(office.timezone)
        today = now.date()
        with self._read() as session:
            rows = session.execute(
                select(Booking.queue_seq, Booking.counter, Booking.called_at, Booking.status)
                .where(
                    Booking.office_code == office.code,
                    Booking.booking_date == today,
                    Booking.called_at.is_not(None),
                )
                .order_by(Booking.called_at.desc(), Booking.queue_seq.desc())
            ).all()
            waiting = session.scalar(
                select(func.count()).where(
                    Booking.office_code == office.code,
                    Booking.booking_date == today,
                    Booking.status == BookingStatus.CHECKED_IN,
                )
            )
        calls = [
            (
                Call(
                    format_queue_number(office.code, r.queue_seq),
                    r.counter or "?",
                    r.called_at.astimezone(office.timezone),
                ),
                BookingStatus(r.status),
            )
            for r in rows
        ]
        latest: dict[str, CounterState] = {}
        for call, status in calls:  # newest first: the first call seen per counter is its latest
            if call.counter not in latest:
                shown = call if status == BookingStatus.CALLED else None
                latest[call.counter] = CounterState(call.counter, shown)
        counters = tuple(sorted(latest.values(), key=lambda c: _counter_key(c.counter)))
        return CallBoard(
            code=office.code,
            name=office.name,
            now=now,
            counters=counters,
            recent=tuple(call for call, _ in calls[:RECENT_CALLS]),
            waiting=int(waiting or 0),
        )

    # -- inside the read transaction -----------------------------------------------------

    def _read(self) -> Session:
        """Open a session for one read; closing it rolls the transaction back."""
        # One snapshot for every query of the page, and no write lock on SQLite: a
        # waiting-room TV polling every few seconds never queues behind a booking rush.
        return read_only_session(self.core.sessions)

    def _report(self, session: Session, office: OfficeSpec, start: date, end: date) -> OfficeReport:
        in_range = (Booking.office_code == office.code, Booking.booking_date.between(start, end))
        by_status: dict[date, dict[BookingStatus, int]] = defaultdict(dict)
        checked_in: dict[date, int] = defaultdict(int)
        for day, status, n, arrived in session.execute(
            select(
                Booking.booking_date,
                Booking.status,
                func.count(),
                func.count(Booking.checked_in_at),
            )
            .where(*in_range)
            .group_by(Booking.booking_date, Booking.status)
        ):
            by_status[day][BookingStatus(status)] = n
            checked_in[day] += arrived
        overrides = {
            (r.slot_date, r.session_name): r.quota_override
            for r in session.execute(
                select(
                    SessionSlot.slot_date, SessionSlot.session_name, SessionSlot.quota_override
                ).where(
                    SessionSlot.office_code == office.code,
                    SessionSlot.slot_date.between(start, end),
                )
            )
        }
        promoted: dict[date, int] = {
            day: n
            for day, n in session.execute(
                select(WaitlistEntry.day, func.count())
                .where(
                    WaitlistEntry.office_code == office.code,
                    WaitlistEntry.day.between(start, end),
                    WaitlistEntry.status == WaitStatus.PROMOTED,
                )
                .group_by(WaitlistEntry.day)
            )
        }
        rounds = {
            r.day: r
            for r in session.scalars(
                select(LotteryRound).where(
                    LotteryRound.office_code == office.code,
                    LotteryRound.day.between(start, end),
                )
            )
        }
        closures = self.bookings.closures(session, office, start, end)

        days = []
        # Counted, not stepped past ``end``: a range ending on 9999-12-31 must not
        # compute the day after it (OverflowError).
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            reason = self.core.calendar.closed_reason(office, day, closures)
            statuses = by_status.get(day, {})
            active = statuses or promoted.get(day) or day in rounds
            if reason is None or active or day.weekday() in office.open_days:
                quota = 0
                if reason is None:
                    quota = sum(s.quota_with(overrides.get((day, s.name))) for s in office.sessions)
                counts = Counts(
                    quota=quota,
                    booked=sum(statuses.get(s, 0) for s in SEAT_USED),
                    checked_in=checked_in.get(day, 0),
                    no_show=statuses.get(BookingStatus.NO_SHOW, 0),
                    released=statuses.get(BookingStatus.RELEASED, 0),
                    from_waitlist=promoted.get(day, 0),
                    served=statuses.get(BookingStatus.SERVED, 0),
                    cancelled=statuses.get(BookingStatus.CANCELLED, 0),
                    cancelled_by_office=statuses.get(BookingStatus.CANCELLED_BY_OFFICE, 0),
                )
                lottery = rounds.get(day)
                days.append(
                    DayFigures(day, reason, counts, _lottery(office, lottery) if lottery else None)
                )
        return OfficeReport(
            code=office.code,
            name=office.name,
            start=start,
            end=end,
            today=self.today(office),
            days=tuple(days),
        )


def _lottery(office: OfficeSpec, row: LotteryRound) -> LotteryInfo:
    drawn = row.status == LotteryStatus.DRAWN
    return LotteryInfo(
        status=LotteryStatus(row.status),
        commitment=row.commitment,
        opens_at=row.opens_at.astimezone(office.timezone),
        closes_at=row.closes_at.astimezone(office.timezone),
        secret=row.secret if drawn else None,
        seed=row.seed if drawn else None,
        entries_digest=row.entries_digest if drawn else None,
        entries=row.entries if drawn else None,
        winners=row.winners if drawn else None,
        verify_command=verify_command(office.code, row.day) if drawn else None,
    )


def _counter_key(counter: str) -> tuple[int, int, str]:
    """Sort counters naturally: 1, 2, 10, then named ones (A, VIP)."""
    return (0, int(counter), "") if counter.isdigit() else (1, 0, counter)

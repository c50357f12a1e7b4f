"""Time-driven jobs as one function of "now": ``tick``.

Each run does whatever is due at that moment, once: reminders the day before,
releases of unconfirmed seats after the deadline (each freed seat going to the
waitlist in the same transaction), closing the waitlist of finished days,
the day-end sweep, and the retention purge (``services/retention.py``). Every
job marks what it did (``reminded_at``, a status, an anonymised phone), so
running ``tick`` twice for the same moment changes nothing the second time.
``sms-gateway tick --now`` replays a day for tests, drills and training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sms_gateway import replies
from sms_gateway.config import OfficeSpec
from sms_gateway.models import Booking, BookingStatus
from sms_gateway.services.booking import BookingService
from sms_gateway.services.core import Core
from sms_gateway.services.lottery import Lottery
from sms_gateway.services.lottery_draw import DrawResult, LotteryDraws
from sms_gateway.services.outbound import Outbound
from sms_gateway.services.retention import TICK_BATCHES, PurgeResult, Retention
from sms_gateway.services.seats import return_seats
from sms_gateway.services.transitions import change_booking
from sms_gateway.services.waitlist import Waitlist

# Nobody is released who had less than this to answer the reminder.
MIN_TIME_TO_CONFIRM = timedelta(hours=1)


@dataclass
class TickResult:
    """What one tick did, in the order it does it."""

    draws: DrawResult = field(default_factory=DrawResult)
    rounds_opened: int = 0  # lottery rounds whose commitment was recorded
    reminded: int = 0
    released: int = 0
    promoted: int = 0
    waitlist_closed: int = 0
    closed: int = 0  # bookings given their day-end status
    purged: PurgeResult = field(default_factory=PurgeResult)  # past [privacy] retention

    def __str__(self) -> str:
        text = (
            f"{self.reminded} reminded, {self.released} released, {self.promoted} promoted "
            f"from the waitlist, {self.waitlist_closed} waitlist entries closed, "
            f"{self.closed} booking(s) closed"
        )
        if self.rounds_opened or self.draws.rounds:
            text += (
                f"; lottery: {self.rounds_opened} round(s) committed, {self.draws.rounds} "
                f"drawn ({self.draws.winners} won, {self.draws.waitlisted} waitlisted, "
                f"{self.draws.refused} refused)"
            )
        if self.purged:
            text += f"; anonymised past retention: {self.purged}"
        return text


@dataclass(eq=False)
class Jobs:
    """Run the jobs that are due."""

    core: Core
    bookings: BookingService
    waitlist: Waitlist
    outbound: Outbound
    lottery: Lottery
    draws: LotteryDraws
    retention: Retention = field(init=False)

    def __post_init__(self) -> None:
        # Keyed by the NIK secret, like the gateway's audit chain: the same phone hashes.
        self.retention = Retention(self.core.settings, self.core.nik_secret)

    def tick(self, now: datetime) -> TickResult:
        """Do everything due at ``now``; safe to repeat."""
        result = TickResult()
        # Draws first: a draw that closed at 20:00 hands out seats before anything
        # else looks at that day.
        result.draws = self.draws.draw_due(self.core.sessions, now)
        for office in self.core.settings.offices:
            if office.allocation == "lottery":
                with self.core.sessions.begin() as session:
                    result.rounds_opened += self.lottery.prepare(session, office, now)
            local = now.astimezone(office.timezone)
            with self.core.sessions.begin() as session:
                result.reminded += self._remind(session, office, local, now)
            if office.rules.require_confirmation:
                for day in (local.date(), local.date() + timedelta(days=1)):
                    with self.core.sessions.begin() as session:
                        released, promoted = self._release(session, office, day, now)
                    result.released += released
                    result.promoted += promoted
            with self.core.sessions.begin() as session:
                result.waitlist_closed += self.waitlist.expire(
                    session, office, self.core.calendar.last_finished_day(office, now), now
                )
        with self.core.sessions.begin() as session:
            result.closed = self.bookings.sweep(session, now)
        # Last, and a bounded share per tick: a backlog waits for the next minutes
        # rather than delaying the reminders and releases above.
        result.purged = self.retention.purge(self.core.sessions, now, max_batches=TICK_BATCHES)
        return result

    def _remind(self, session: Session, office: OfficeSpec, local: datetime, now: datetime) -> int:
        if local.time() < office.rules.reminder_at:
            return 0
        due = session.scalars(
            select(Booking)
            .where(
                Booking.office_code == office.code,
                Booking.booking_date == local.date() + timedelta(days=1),
                Booking.status == BookingStatus.ACTIVE,
                Booking.reminded_at.is_(None),
            )
            .order_by(Booking.queue_seq)
            .with_for_update()
        ).all()
        for booking in due:
            booking.reminded_at = now
            self.outbound.enqueue(session, booking.phone, replies.reminder(booking, office), now)
        return len(due)

    def _release(
        self, session: Session, office: OfficeSpec, day: date, now: datetime
    ) -> tuple[int, int]:
        deadline = self.bookings.confirmation_deadline(office, day)
        if now <= deadline:  # a YA at the deadline itself still counts
            return 0, 0
        due = session.scalars(
            select(Booking)
            .where(
                Booking.office_code == office.code,
                Booking.booking_date == day,
                Booking.status == BookingStatus.ACTIVE,
                Booking.confirmed_at.is_(None),
                Booking.reminded_at <= deadline - MIN_TIME_TO_CONFIRM,
            )
            .order_by(Booking.queue_seq)
            .with_for_update()
        ).all()
        released = 0
        for due_booking in due:
            booking = change_booking(
                session,
                due_booking.id,
                [BookingStatus.ACTIVE],
                where=[Booking.confirmed_at.is_(None)],
                status=BookingStatus.RELEASED,
                cancelled_at=now,
            )
            if booking is None:
                continue  # confirmed or cancelled a moment ago
            released += 1
            self.outbound.enqueue(session, booking.phone, replies.released(booking, office), now)
            return_seats(session, office.code, day, booking.session_name)
        promoted = self.waitlist.backfill(session, office, day, now) if released else []
        return released, len(promoted)

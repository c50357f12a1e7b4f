"""The pure decision: ``decide(ask, facts, calendar)`` and what it may answer.

No database, no clock: the rules of the package docstring, in their order,
applied to one request and the facts read for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sms_gateway.config import OfficeSpec, SessionSpec
from sms_gateway.errors import (
    AlreadyEntered,
    AlreadyWaiting,
    Blocked,
    CannotMove,
    DateNotBookable,
    DomainError,
    LotteryDrawing,
    LotteryNotOpen,
    LotteryPending,
    NikHasBooking,
    NotWaitlistable,
    Penalized,
    PhoneHasBooking,
    SessionFull,
    TooManyNiks,
)
from sms_gateway.models import HOLDING, BookingStatus, LotteryEntry, LotteryStatus
from sms_gateway.rules.asks import ONE_REQUEST, Ask, Want
from sms_gateway.rules.facts import EntryKind, Facts, HeldBooking, HeldEntry
from sms_gateway.rules.limits import NIK_WINDOW_DAYS
from sms_gateway.schedule import OfficeCalendar


@dataclass(frozen=True)
class Refuse:
    """The request is refused; ``error`` explains why and what to send instead."""

    error: DomainError


@dataclass(frozen=True)
class Repeat:
    """The very same request was granted before: answer it again, change nothing."""

    booking: HeldBooking | None = None
    entry: HeldEntry | None = None


@dataclass(frozen=True)
class Seat:
    """Claim a seat in the first of these sessions that still has one (DAFTAR, UBAH)."""

    sessions: tuple[SessionSpec, ...]


@dataclass(frozen=True)
class Join:
    """Put the applicant on the day's waitlist (TUNGGU)."""


@dataclass(frozen=True)
class Enter:
    """Enter the applicant into the day's lottery draw."""


Decision = Refuse | Repeat | Seat | Join | Enter


def lottery_window(office: OfficeSpec, day: date) -> tuple[datetime, datetime]:
    """Return when lottery entries for ``day`` open and when they close (the draw)."""
    rules = office.lottery
    opens = datetime.combine(
        day - timedelta(days=rules.opens_days_before), datetime.min.time(), office.timezone
    )
    closes = datetime.combine(
        day - timedelta(days=rules.closes_days_before), rules.closes_at, office.timezone
    )
    return opens, closes


def day_end_status(status: BookingStatus) -> BookingStatus:
    """Return what a still-holding booking becomes when its day is over."""
    return BookingStatus.NO_SHOW if status == BookingStatus.ACTIVE else BookingStatus.EXPIRED


def stale_bookings(facts: Facts, calendar: OfficeCalendar, now: datetime) -> list[HeldBooking]:
    """Return the holding bookings whose day is over (by their own office's clock).

    They no longer hold anything; the caller gives them their day-end status
    (as the sweep would) before it writes, so they never block a unique index.
    """
    return [b for b in facts.bookings if b.status in HOLDING and _over(b, calendar, now)]


def _over(booking: HeldBooking, calendar: OfficeCalendar, now: datetime) -> bool:
    office = calendar.settings.office(booking.office_code) or calendar.settings.offices[0]
    return booking.booking_date < calendar.today(office, now)


def decide(ask: Ask, facts: Facts, calendar: OfficeCalendar) -> Decision:
    """Apply the rules, in order, to one request; return the first refusal or the allocation."""
    try:
        return _decide(ask, facts, calendar)
    except DomainError as err:
        return Refuse(err)


def _decide(ask: Ask, facts: Facts, calendar: OfficeCalendar) -> Decision:
    office, now, want = ask.office, ask.now, ask.want
    today = calendar.today(office, now)
    rules = office.rules
    # What each booking is now: a holding one whose day is over counts as what
    # the sweep makes of it (a no-show, for the penalty), and holds nothing.
    status = {
        b.id: day_end_status(b.status)
        if b.status in HOLDING and _over(b, calendar, now)
        else b.status
        for b in facts.bookings
    }
    held = [b for b in facts.bookings if status[b.id] in HOLDING]
    mine = next((b for b in held if b.phone == ask.phone), None)
    theirs = next((b for b in held if b.nik_hash == ask.nik_hash and b.phone != ask.phone), None)
    pending = [e for e in facts.entries if e.pending]

    if want == Want.MOVE:
        moving = ask.moving
        assert moving is not None, "UBAH decides about the booking it moves"
        if moving.status != BookingStatus.ACTIVE:
            raise CannotMove("checked_in", moving.as_booking())
        if moving.reschedules >= rules.max_reschedules:
            raise CannotMove("too_many", moving.as_booking(), rules.max_reschedules)
        if ask.day == moving.booking_date and (
            ask.session is None or ask.session.name == moving.session_name
        ):
            raise CannotMove("same", moving.as_booking())

    # 1. The day can be booked (a promotion: the office is open that day).
    if want == Want.PROMOTE:
        reason = calendar.closed_reason(office, ask.day, facts.closures)
        if reason is not None:
            raise DateNotBookable("closed", ask.day, office, None, reason=reason)
    else:
        calendar.check_bookable(office, ask.day, today, facts.closures)
    # 2. Lottery days.
    if office.allocation == "lottery" and want != Want.PROMOTE:
        _check_lottery(ask, facts.round_status)

    # 3. The same request again.
    if want == Want.SEAT:
        if mine is not None and mine.nik_hash == ask.nik_hash and mine.booking_date == ask.day:
            return Repeat(booking=mine)
    elif want in (Want.WAIT, Want.ENTER):
        kind = EntryKind.WAITLIST if want == Want.WAIT else EntryKind.LOTTERY
        again = next(
            (
                e
                for e in pending
                if e.kind == kind
                and e.phone == ask.phone
                and e.nik_hash == ask.nik_hash
                and e.day == ask.day
                and e.office_code == office.code
            ),
            None,
        )
        if again is not None:
            return Repeat(entry=again)

    # 5. One request per phone.
    if want in ONE_REQUEST and mine is not None:
        raise PhoneHasBooking(mine.as_booking())
    # 6. Blocks.
    nik_hash = ask.moving.nik_hash if ask.moving is not None else ask.nik_hash
    block = next(iter(facts.blocks), None)
    if block is not None:
        raise Blocked(block.kind.value, block.until, block.reason)
    # 7. No-shows.
    until = _penalty_until(facts, status, ask.phone, nik_hash, today, office)
    if until is not None:
        raise Penalized(until, rules.max_no_shows, rules.penalty_window_days)

    if want in ONE_REQUEST:
        # 8. One request per NIK.
        if theirs is not None:
            raise NikHasBooking(theirs.as_booking())
        # 9, 10. No other request waiting: a draw entry, then a place in line.
        for kind in (EntryKind.LOTTERY, EntryKind.WAITLIST):
            found = [e for e in pending if e.kind == kind]
            if found:
                # The phone's own entry explains best; else the one the NIK holds.
                entry = next((e for e in found if e.phone == ask.phone), found[0])
                same_phone = entry.phone == ask.phone
                model = entry.as_entry()  # a LotteryEntry for a draw entry
                if isinstance(model, LotteryEntry):
                    raise AlreadyEntered(model, same_phone=same_phone)
                raise AlreadyWaiting(model, same_phone=same_phone)
        # 11. NIKs per phone.
        since = now - timedelta(days=NIK_WINDOW_DAYS)
        used = {
            b.nik_hash for b in facts.bookings if b.phone == ask.phone and b.created_at >= since
        }
        used |= {
            e.nik_hash for e in facts.entries if e.phone == ask.phone and e.created_at >= since
        }
        if ask.nik_hash not in used and len(used) >= rules.niks_per_phone:
            raise TooManyNiks(rules.niks_per_phone)

    free = facts.free_sessions(office, ask.day)
    if want == Want.WAIT:
        # 13. The waitlist is for full days (or a full session asked for by name).
        if (ask.session is None and free) or ask.session in free:
            raise NotWaitlistable(office, ask.day)
        return Join()
    if want == Want.ENTER:
        return Enter()

    # 12. A free seat.
    wanted = [ask.session] if ask.session else list(office.sessions)
    if want == Want.MOVE:
        assert ask.moving is not None
        here = (ask.moving.booking_date, ask.moving.session_name)
        wanted = [s for s in wanted if (ask.day, s.name) != here]
        free = [s for s in free if (ask.day, s.name) != here]
    sessions = tuple(s for s in wanted if s in free)
    if sessions:
        return Seat(sessions)
    raise full_error(ask, facts, calendar, free)


def full_error(
    ask: Ask, facts: Facts, calendar: OfficeCalendar, free: Sequence[SessionSpec]
) -> SessionFull:
    """Return the refusal for a full session: another session that day, or the next day."""
    office = ask.office
    other = next((s for s in free if ask.session is None or s.name != ask.session.name), None)
    next_day = None
    if other is None:
        today = calendar.today(office, ask.now)
        later = (
            d for d in calendar.bookable_days(office, today, closures=facts.closures) if d > ask.day
        )
        next_day = next((d for d in later if facts.free_sessions(office, d)), None)
    return SessionFull(office, ask.day, ask.session, other, next_day)


def _check_lottery(ask: Ask, round_status: LotteryStatus | None) -> None:
    opens, closes = lottery_window(ask.office, ask.day)
    if ask.now < opens:
        raise LotteryNotOpen(ask.office, ask.day, opens)
    if ask.want == Want.ENTER:
        if round_status is not None and round_status != LotteryStatus.OPEN:
            raise LotteryDrawing(ask.office, ask.day)  # drawn a moment ago: try again
        return
    if ask.now < closes:
        raise LotteryPending(ask.office, ask.day, closes, has_booking=ask.want == Want.MOVE)
    if round_status == LotteryStatus.OPEN:
        raise LotteryDrawing(ask.office, ask.day)


def _penalty_until(
    facts: Facts,
    status: Mapping[int, BookingStatus],
    phone: str,
    nik_hash: str,
    today: date,
    office: OfficeSpec,
) -> date | None:
    rules = office.rules
    window_start = today - timedelta(days=rules.penalty_window_days)
    missed: dict[str, list[date]] = {"phone": [], "nik": []}
    for b in facts.bookings:
        if (status[b.id] == BookingStatus.NO_SHOW or b.late_cancel) and (
            b.booking_date >= window_start
        ):
            if b.phone == phone:
                missed["phone"].append(b.booking_date)
            if b.nik_hash == nik_hash:
                missed["nik"].append(b.booking_date)
    latest = [max(days) for days in missed.values() if len(days) >= rules.max_no_shows]
    if not latest:
        return None
    until = max(latest) + timedelta(days=rules.ban_days)
    return until if until >= today else None

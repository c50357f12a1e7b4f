"""Lottery allocation: DAFTAR enters a draw, and the draw is reproducible by anyone.

First-come release times reward whoever is fastest: bots and scalpers. An
office with ``allocation = "lottery"`` gives each day's seats by lot instead.
From ``opens_days_before`` the day until ``closes_at`` on ``closes_days_before``,
DAFTAR for that day enters a draw (one entry per phone and per NIK, like a
booking); at the close ``tick`` runs the draw; afterwards, seats left over are
first come again and a full day has its waitlist as usual.

How the draw is made fair and checkable:

- Each round has a secret, HMAC(NIK secret, office and day), so it is fixed
  long before the window opens and cannot be chosen later. Its SHA-256, the
  *commitment*, is written with the round and recorded in the audit chain
  before the first entry.
- At the draw the secret is revealed. The seed is
  SHA-256(secret | office | day | digest of the entries), so it depends on
  every entry and nobody (operator included) knew it while entries came in.
  ``lottery_proof.py`` holds this arithmetic and its check.
- The order is the entries sorted by SHA-256(seed | entry id). Winners get
  seats in that order, in their session when they named one; the rest go onto
  the waitlist in that order (``lottery_draw.py``). ``sms-gateway lottery
  verify`` recomputes it all.

What it does not stop: someone holding the NIK secret could, in principle,
add sham entries until the seed favours a friend. The audit chain records
every entry, so such a burst is visible afterwards, and an office that wants
more can mix a public random value (a published lottery result) into the
seed; see README "Lottery allocation".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sms_gateway.booking_request import BookingRequest
from sms_gateway.config import OfficeSpec
from sms_gateway.db import insert_ignore
from sms_gateway.errors import LotteryDrawing
from sms_gateway.models import EntryStatus, LotteryEntry, LotteryRound, LotteryStatus
from sms_gateway.rules import Enter, Repeat, Want, lottery_window
from sms_gateway.services import chain
from sms_gateway.services.booking import DECISIONS, BookingService
from sms_gateway.services.core import Core
from sms_gateway.services.entries import add_entry, asked, withdraw_entry
from sms_gateway.services.lottery_proof import (
    Verification,
    commitment_of,
    round_secret,
    verify_round,
)
from sms_gateway.services.transitions import Moved


@dataclass(eq=False)
class Lottery:
    """Enter and withdraw, within the caller's transaction; open rounds; check a draw."""

    core: Core
    bookings: BookingService

    # -- the window ---------------------------------------------------------------------

    @staticmethod
    def window(office: OfficeSpec, day: date) -> tuple[datetime, datetime]:
        """Return when entries for ``day`` open and when they close (the draw)."""
        return lottery_window(office, day)

    def takes_entries(self, office: OfficeSpec, day: date, now: datetime) -> bool:
        """Return True when DAFTAR for this office day is a lottery entry rather than a seat."""
        if office.allocation != "lottery":
            return False
        # A past day's draw closed before the day began, so it never takes entries.
        # Saying so first also keeps the window's arithmetic off days near year 1
        # (DAFTAR <NIK> 0001-01-01), where counting the days back leaves the calendar
        # (OverflowError); the booking rules then refuse the past date as usual.
        if day < self.core.calendar.today(office, now):
            return False
        return now < self.window(office, day)[1]

    # -- entering ------------------------------------------------------------------------

    def entry_of(self, session: Session, phone: str) -> LotteryEntry | None:
        """Return the entry this phone has in a draw not yet drawn, if any."""
        return session.scalars(
            select(LotteryEntry).where(
                LotteryEntry.phone == phone, LotteryEntry.status == EntryStatus.ENTERED
            )
        ).first()

    def closes_of(self, entry: LotteryEntry) -> datetime:
        """Return when the entry's draw runs."""
        office = self.core.settings.office(entry.office_code) or self.core.settings.offices[0]
        return self.window(office, entry.day)[1]

    def enter(
        self, session: Session, request: BookingRequest, now: datetime
    ) -> tuple[LotteryEntry, bool]:
        """Put the applicant into the day's draw; return the entry and whether it existed."""
        office = request.office
        ask = self.bookings.locked_ask(session, request, Want.ENTER, now)
        for _ in range(DECISIONS):
            decision = self.bookings.granted(session, ask)
            if isinstance(decision, Repeat) and decision.entry is not None:
                return session.get_one(LotteryEntry, decision.entry.id), True
            assert isinstance(decision, Enter), decision
            draw = self._open_round(session, office, request.day, now)
            if draw.status == LotteryStatus.OPEN:
                break
            # Drawn between the facts and the round's lock: the next decision says so.
        else:
            raise LotteryDrawing(office, request.day)
        requested = asked(ask, request.nik.masked)
        entry = add_entry(
            session, LotteryEntry, requested, now, round_id=draw.id, status=EntryStatus.ENTERED
        )
        return entry, False

    def withdraw(self, session: Session, phone: str, now: datetime) -> LotteryEntry | Moved | None:
        """Take the phone's entry out of its draw (BATAL); return it, if there was one.

        ``MOVED`` when the draw took the entry while this looked: the caller reads
        again and finds what it became (a booking, a place in line).
        """
        entry = self.entry_of(session, phone)
        if entry is None:
            return None
        withdrawn = withdraw_entry(session, entry, EntryStatus.ENTERED, EntryStatus.WITHDRAWN, now)
        if withdrawn is entry:
            chain.note(session, "lottery_entry", [entry.id])
        return withdrawn

    def _open_round(
        self, session: Session, office: OfficeSpec, day: date, now: datetime
    ) -> LotteryRound:
        """Return the day's round, creating it (with its commitment) if need be.

        The shared lock keeps the draw, which takes the row for update, from
        running while an entry is being written: an entry is in the draw or
        it is refused, never lost in between.
        """
        self._create_round(session, office, day, now)
        draw = session.scalars(
            select(LotteryRound)
            .where(LotteryRound.office_code == office.code, LotteryRound.day == day)
            .with_for_update(read=True)
        ).one()
        chain.note(session, "lottery_round", [draw.id])  # recorded once, when it is new
        return draw

    def _create_round(self, session: Session, office: OfficeSpec, day: date, now: datetime) -> bool:
        opens, closes = self.window(office, day)
        return insert_ignore(
            session,
            LotteryRound,
            office_code=office.code,
            day=day,
            opens_at=opens,
            closes_at=closes,
            commitment=commitment_of(round_secret(self.core.nik_secret, office.code, day)),
            status=LotteryStatus.OPEN,
            entries=0,
            winners=0,
            created_at=now,
        )

    def prepare(self, session: Session, office: OfficeSpec, now: datetime) -> int:
        """Create the round of every open day up to a day past the window's reach.

        Run by every tick, so a round (and its commitment, in the audit chain)
        exists a day before its window opens; when an office switches to the
        lottery, the rounds of windows already open are created at once, still
        before anyone can enter them. Return how many were new.
        """
        if office.allocation != "lottery":
            return 0
        today = self.core.calendar.today(office, now)
        horizon = today + timedelta(days=office.lottery.opens_days_before + 1)
        closed = self.bookings.closures(session, office, today, horizon)
        existing = set(
            session.scalars(
                select(LotteryRound.day).where(
                    LotteryRound.office_code == office.code,
                    LotteryRound.day > today,
                    LotteryRound.day <= horizon,
                )
            )
        )
        made = 0
        day = today + timedelta(days=1)
        while day <= horizon:
            if (
                day not in existing
                and self.core.calendar.closed_reason(office, day, closed) is None
                and now < self.window(office, day)[1]
            ):
                made += self._create_round(session, office, day, now)
            day += timedelta(days=1)
        if made:
            # Written by Core INSERTs, which the ORM never sees: have the chain record them.
            new = session.scalars(
                select(LotteryRound.id).where(
                    LotteryRound.office_code == office.code, LotteryRound.created_at == now
                )
            )
            chain.note(session, "lottery_round", list(new))
        return made

    # -- checking ------------------------------------------------------------------------

    def find_round(self, session: Session, office: OfficeSpec, day: date) -> LotteryRound | None:
        """Return the round of an office day, if there is one."""
        return session.scalars(
            select(LotteryRound).where(
                LotteryRound.office_code == office.code, LotteryRound.day == day
            )
        ).first()

    def verify(self, session: Session, draw: LotteryRound) -> Verification:
        """Re-run a drawn round from its revealed secret and recorded entries (lottery_proof)."""
        return verify_round(session, draw)

    def summary(self, session: Session, draw: LotteryRound) -> dict[str, int]:
        """Count a round's entries by status."""
        rows = session.execute(
            select(LotteryEntry.status, func.count())
            .where(LotteryEntry.round_id == draw.id)
            .group_by(LotteryEntry.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

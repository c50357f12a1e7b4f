"""The lottery's draw: at a round's close, seats in draw order, the rest to the waitlist.

``draw_due`` runs every round whose window has closed, one transaction each.
A draw reveals the round's secret, fixes the seed from it and every entry
(``lottery_proof.py``), and goes down the draw order: each entry gets a seat
in its session while one is left, else a place in line; a block, a penalty or
a closure since the entry refuses it. Every entrant is told by SMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sms_gateway import replies
from sms_gateway.config import OfficeSpec
from sms_gateway.errors import DomainError, SessionFull
from sms_gateway.models import (
    EntryStatus,
    LotteryEntry,
    LotteryRound,
    LotteryStatus,
    WaitlistEntry,
    WaitStatus,
)
from sms_gateway.rules import Ask, Refuse, Seat, Want
from sms_gateway.services.booking import BookingService
from sms_gateway.services.core import Core
from sms_gateway.services.entries import add_entry, same_request
from sms_gateway.services.lottery_proof import (
    commitment_of,
    draw_order,
    entries_digest,
    round_secret,
    seed_of,
)
from sms_gateway.services.outbound import Outbound
from sms_gateway.services.seats import claim_first
from sms_gateway.services.waitlist import Waitlist


@dataclass
class DrawResult:
    """What the draws due at one moment did."""

    rounds: int = 0
    winners: int = 0
    waitlisted: int = 0
    refused: int = 0

    def __bool__(self) -> bool:
        return self.rounds > 0


@dataclass(eq=False)
class LotteryDraws:
    """Run the draws that are due, each in its own transaction."""

    core: Core
    bookings: BookingService
    waitlist: Waitlist
    outbound: Outbound

    def draw_due(self, sessions: sessionmaker[Session], now: datetime) -> DrawResult:
        """Run every draw whose window has closed, one transaction per round."""
        result = DrawResult()
        with sessions() as session:
            due = list(
                session.scalars(
                    select(LotteryRound.id)
                    .where(LotteryRound.status == LotteryStatus.OPEN, LotteryRound.closes_at <= now)
                    .order_by(LotteryRound.closes_at, LotteryRound.id)
                )
            )
        for round_id in due:
            with sessions.begin() as session:
                self.draw(session, round_id, now, result)
        return result

    def draw(
        self, session: Session, round_id: int, now: datetime, result: DrawResult | None = None
    ) -> DrawResult:
        """Draw one round: winners get seats in draw order, the rest the waitlist; SMS each."""
        result = result if result is not None else DrawResult()
        draw = session.scalars(
            select(LotteryRound).where(LotteryRound.id == round_id).with_for_update()
        ).one()
        if draw.status != LotteryStatus.OPEN or now < draw.closes_at:
            return result  # drawn by another worker, or not due
        office = self.core.settings.office(draw.office_code)
        if office is None:
            return result  # the office left the config: nothing to give out
        secret = round_secret(self.core.nik_secret, office.code, draw.day)
        if commitment_of(secret) != draw.commitment:
            raise RuntimeError(
                f"lottery {office.code} {draw.day}: the secret does not match the commitment; "
                "was the NIK secret changed?"
            )
        entries = list(
            session.scalars(
                select(LotteryEntry)
                .where(LotteryEntry.round_id == draw.id, LotteryEntry.status == EntryStatus.ENTERED)
                .order_by(LotteryEntry.id)
                .with_for_update()
            )
        )
        digest = entries_digest([(e.id, e.session_name) for e in entries])
        seed = seed_of(secret, office.code, draw.day, digest)
        by_id = {e.id: e for e in entries}
        order = [by_id[i] for i in draw_order(seed, list(by_id))]

        winners = 0
        for rank, entry in enumerate(order, start=1):
            entry.draw_rank = rank
            entry.updated_at = now
            try:
                with session.begin_nested():
                    text = self._seat_or_wait(session, office, entry, now)
            except (DomainError, IntegrityError) as err:
                entry.status = EntryStatus.REFUSED
                result.refused += 1
                if isinstance(err, DomainError):
                    self.outbound.enqueue(session, entry.phone, replies.refusal(err), now)
                continue
            if entry.status == EntryStatus.WON:
                winners += 1
                result.winners += 1
            else:
                result.waitlisted += 1
            self.outbound.enqueue(session, entry.phone, text, now)

        draw.secret = secret
        draw.entries_digest = digest
        draw.seed = seed
        draw.entries = len(entries)
        draw.winners = winners
        draw.status = LotteryStatus.DRAWN
        draw.drawn_at = now
        result.rounds += 1
        return result

    def _seat_or_wait(
        self, session: Session, office: OfficeSpec, entry: LotteryEntry, now: datetime
    ) -> str:
        """Give the entry a seat if one is left in its session, else a waitlist place.

        The rules decide (sms_gateway/rules, "promotion, draw"): a block, a penalty or a
        closure since the entry refuses it (raised); a full session waitlists it.
        """
        wanted = office.session(entry.session_name) if entry.session_name else None
        ask = Ask(Want.PROMOTE, entry.phone, entry.nik_hash, office, entry.day, wanted, now)
        decision = self.bookings.assess(session, ask)
        spec = None
        if isinstance(decision, Seat):
            spec = claim_first(session, office, entry.day, decision.sessions)
        elif isinstance(decision, Refuse) and not isinstance(decision.error, SessionFull):
            raise decision.error
        # The entry leaves "entered" first: its phone and NIK are then free for the
        # booking or waitlist entry that replaces it.
        if spec is not None:
            entry.status = EntryStatus.WON
            booking = self.bookings.new_booking(
                session,
                office,
                entry.day,
                spec,
                entry.phone,
                entry.nik_hash,
                entry.nik_masked,
                now,
            )
            entry.booking_id = booking.id
            return replies.lottery_won(booking, office)
        entry.status = EntryStatus.WAITLISTED
        requested = same_request(entry)
        waiting = add_entry(session, WaitlistEntry, requested, now, status=WaitStatus.WAITING)
        entry.waitlist_id = waiting.id
        return replies.lottery_waitlisted(entry, self.waitlist.position(session, waiting))

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
- The order is the entries sorted by SHA-256(seed | entry id). Winners get
  seats in that order, in their session when they named one; the rest go onto
  the waitlist in that order. ``sms-gateway lottery verify`` recomputes it all.

What it does not stop: someone holding the NIK secret could, in principle,
add sham entries until the seed favours a friend. The audit chain records
every entry, so such a burst is visible afterwards, and an office that wants
more can mix a public random value (a published lottery result) into the
seed; see README "Lottery allocation".
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sms_gateway import replies
from sms_gateway.config import OfficeSpec, Settings
from sms_gateway.errors import DomainError, LotteryDrawing, SessionFull
from sms_gateway.models import (
    Booking,
    EntryStatus,
    LotteryEntry,
    LotteryRound,
    LotteryStatus,
    WaitlistEntry,
    WaitStatus,
)
from sms_gateway.rules import Ask, Enter, Refuse, Repeat, Seat, Want, lottery_window
from sms_gateway.schedule import OfficeCalendar
from sms_gateway.services import chain
from sms_gateway.services.booking import DECISIONS, BookingRequest, BookingService
from sms_gateway.services.outbound import Outbound
from sms_gateway.services.transitions import (
    MOVED,
    Moved,
    change_entry,
    insert_ignore,
    lock_identities,
)
from sms_gateway.services.waitlist import Waitlist


def commitment_of(secret: str) -> str:
    """Return the commitment published for a round's secret (SHA-256, hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def entries_digest(entries: list[tuple[int, str | None]]) -> str:
    """Digest of the entries in the draw: their ids and sessions, in id order."""
    lines = "\n".join(f"{entry_id}:{name or '*'}" for entry_id, name in sorted(entries))
    return hashlib.sha256(lines.encode()).hexdigest()


def seed_of(secret: str, office_code: str, day: date, digest: str) -> str:
    """Return the draw's seed: it depends on the committed secret and every entry."""
    text = f"{secret}|{office_code}|{day.isoformat()}|{digest}"
    return hashlib.sha256(text.encode()).hexdigest()


def draw_order(seed: str, entry_ids: list[int]) -> list[int]:
    """Return the entry ids in draw order: sorted by SHA-256(seed | id)."""
    return sorted(entry_ids, key=lambda i: hashlib.sha256(f"{seed}|{i}".encode()).hexdigest())


@dataclass
class DrawResult:
    """What the draws due at one moment did."""

    rounds: int = 0
    winners: int = 0
    waitlisted: int = 0
    refused: int = 0

    def __bool__(self) -> bool:
        return self.rounds > 0


@dataclass
class Verification:
    """What ``Lottery.verify`` found for one round; ``ok`` when everything matches."""

    round: LotteryRound
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when the commitment, seed and order all check out."""
        return not self.problems


class Lottery:
    """Enter, withdraw, draw and verify, within the caller's transaction (draws: their own)."""

    def __init__(
        self,
        settings: Settings,
        calendar: OfficeCalendar,
        bookings: BookingService,
        waitlist: Waitlist,
        outbound: Outbound,
        secret: bytes,
    ) -> None:
        self.settings = settings
        self.calendar = calendar
        self.bookings = bookings
        self.waitlist = waitlist
        self.outbound = outbound
        self._key = hmac.new(secret, b"lottery round secret", hashlib.sha256).digest()

    # -- the window ---------------------------------------------------------------------

    def round_secret(self, office_code: str, day: date) -> str:
        """Return the secret of an office day's round (revealed only at its draw)."""
        message = f"{office_code}|{day.isoformat()}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

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
        if day < self.calendar.today(office, now):
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
        office = self.settings.office(entry.office_code) or self.settings.offices[0]
        return self.window(office, entry.day)[1]

    def enter(
        self, session: Session, request: BookingRequest, now: datetime
    ) -> tuple[LotteryEntry, bool]:
        """Put the applicant into the day's draw; return the entry and whether it existed."""
        bookings, office = self.bookings, request.office
        ask = bookings.ask(request, Want.ENTER, now)
        lock_identities(session, ask.phone, ask.nik_hash)
        for _ in range(DECISIONS):
            decision = bookings.assess(session, ask)
            if isinstance(decision, Refuse):
                raise decision.error
            if isinstance(decision, Repeat) and decision.entry is not None:
                return session.get_one(LotteryEntry, decision.entry.id), True
            assert isinstance(decision, Enter), decision
            draw = self._open_round(session, office, request.day, now)
            if draw.status == LotteryStatus.OPEN:
                break
            # Drawn between the facts and the round's lock: the next decision says so.
        else:
            raise LotteryDrawing(office, request.day)
        entry = LotteryEntry(
            round_id=draw.id,
            office_code=office.code,
            day=request.day,
            session_name=request.session.name if request.session else None,
            phone=ask.phone,
            nik_hash=ask.nik_hash,
            nik_masked=request.nik.masked,
            status=EntryStatus.ENTERED,
            created_at=now,
        )
        session.add(entry)
        session.flush()  # the one-entry-per-phone/NIK indexes speak now
        return entry, False

    def withdraw(self, session: Session, phone: str, now: datetime) -> LotteryEntry | Moved | None:
        """Take the phone's entry out of its draw (BATAL); return it, if there was one.

        ``MOVED`` when the draw took the entry while this looked: the caller reads
        again and finds what it became (a booking, a place in line).
        """
        entry = self.entry_of(session, phone)
        if entry is None:
            return None
        if not change_entry(
            session,
            LotteryEntry,
            entry.id,
            EntryStatus.ENTERED,
            status=EntryStatus.WITHDRAWN,
            updated_at=now,
        ):
            return MOVED
        session.refresh(entry)
        chain.note(session, "lottery_entry", [entry.id])
        return entry

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
            commitment=commitment_of(self.round_secret(office.code, day)),
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
        today = self.calendar.today(office, now)
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
                and self.calendar.closed_reason(office, day, closed) is None
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

    # -- drawing -------------------------------------------------------------------------

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
        office = self.settings.office(draw.office_code)
        if office is None:
            return result  # the office left the config: nothing to give out
        secret = self.round_secret(office.code, draw.day)
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

        The rules decide (rules.py, "promotion, draw"): a block, a penalty or a
        closure since the entry refuses it (raised); a full session waitlists it.
        """
        wanted = office.session(entry.session_name) if entry.session_name else None
        ask = Ask(Want.PROMOTE, entry.phone, entry.nik_hash, office, entry.day, wanted, now)
        decision = self.bookings.assess(session, ask)
        spec = None
        if isinstance(decision, Seat):
            spec = self.bookings.claim_first(session, office, entry.day, decision.sessions)
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
        waiting = WaitlistEntry(
            office_code=office.code,
            day=entry.day,
            session_name=entry.session_name,
            phone=entry.phone,
            nik_hash=entry.nik_hash,
            nik_masked=entry.nik_masked,
            status=WaitStatus.WAITING,
            created_at=now,
        )
        session.add(waiting)
        session.flush()
        entry.waitlist_id = waiting.id
        return replies.lottery_waitlisted(entry, self.waitlist.position(session, waiting))

    # -- checking ------------------------------------------------------------------------

    def find_round(self, session: Session, office: OfficeSpec, day: date) -> LotteryRound | None:
        """Return the round of an office day, if there is one."""
        return session.scalars(
            select(LotteryRound).where(
                LotteryRound.office_code == office.code, LotteryRound.day == day
            )
        ).first()

    def verify(self, session: Session, draw: LotteryRound) -> Verification:
        """Re-run a drawn round from its revealed secret and recorded entries.

        Checks that the secret matches the commitment made before the window
        opened, that the seed follows from the secret and the entries, that the
        recorded ranks are the draw order, and that the winners are exactly
        the first entries in that order who got a seat.
        """
        report = Verification(draw)
        if draw.status != LotteryStatus.DRAWN or draw.secret is None or draw.seed is None:
            report.problems.append("this round has not been drawn yet")
            return report
        if commitment_of(draw.secret) != draw.commitment:
            report.problems.append("the revealed secret does not match the commitment")
        drawn = list(
            session.scalars(
                select(LotteryEntry)
                .where(LotteryEntry.round_id == draw.id, LotteryEntry.draw_rank.is_not(None))
                .order_by(LotteryEntry.id)
            )
        )
        report.entries = len(drawn)
        digest = entries_digest([(e.id, e.session_name) for e in drawn])
        if digest != draw.entries_digest or len(drawn) != draw.entries:
            report.problems.append(
                f"the entries differ from the ones drawn ({len(drawn)} now, {draw.entries} "
                "at the draw)"
            )
        seed = seed_of(draw.secret, draw.office_code, draw.day, digest)
        if seed != draw.seed:
            report.problems.append(f"the seed does not follow: expected {seed}")
        order = draw_order(seed, [e.id for e in drawn])
        ranks = {e.id: e.draw_rank for e in drawn}
        wrong = [i for rank, i in enumerate(order, start=1) if ranks[i] != rank]
        if wrong:
            report.problems.append(f"{len(wrong)} entries do not hold their rank in the draw")
        won = {e.id for e in drawn if e.status == EntryStatus.WON}
        if len(won) != draw.winners:
            report.problems.append(f"{len(won)} winners now, {draw.winners} at the draw")
        seats_per_session = self._winners_follow_order(session, draw, drawn, order)
        report.problems.extend(seats_per_session)
        return report

    @staticmethod
    def _winners_follow_order(
        session: Session, draw: LotteryRound, drawn: list[LotteryEntry], order: list[int]
    ) -> list[str]:
        """Nobody may win ahead of an eligible entry for the same session drawn before them."""
        by_id = {e.id: e for e in drawn}
        booked_session = dict(
            session.execute(
                select(Booking.id, Booking.session_name).where(
                    Booking.id.in_([e.booking_id for e in drawn if e.booking_id])
                )
            ).all()
        )
        problems = []
        seen_loser: dict[str | None, int] = {}  # session -> rank of the first loser
        for rank, entry_id in enumerate(order, start=1):
            entry = by_id[entry_id]
            if entry.status == EntryStatus.WAITLISTED:
                seen_loser.setdefault(entry.session_name, rank)
            elif entry.status == EntryStatus.WON:
                won_in = None if entry.booking_id is None else booked_session.get(entry.booking_id)
                # A loser for "any session", or for the session this one won, ranks ahead.
                for wanted in (None, won_in):
                    if wanted in seen_loser:
                        problems.append(
                            f"entry ranked {rank} won a seat in {won_in} although the entry "
                            f"ranked {seen_loser[wanted]} was put on the waitlist for it"
                        )
                        break
        return problems

    def summary(self, session: Session, draw: LotteryRound) -> dict[str, int]:
        """Count a round's entries by status."""
        rows = session.execute(
            select(LotteryEntry.status, func.count())
            .where(LotteryEntry.round_id == draw.id)
            .group_by(LotteryEntry.status)
        ).all()
        return {str(status): int(n) for status, n in rows}

"""The lottery's proof: the committed secret, the seed, the draw order, and checking them.

Each round has a secret, HMAC(NIK secret, office and day), fixed long before
its window opens; its SHA-256 (the commitment) is published with the round.
The seed is SHA-256(secret | office | day | digest of the entries), and the
draw order is the entries sorted by SHA-256(seed | entry id). ``verify_round``
re-runs all of it from what the round recorded (``sms-gateway lottery verify``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from sms_gateway.models import Booking, EntryStatus, LotteryEntry, LotteryRound, LotteryStatus

_ROUND_SECRET_DOMAIN = b"lottery round secret"  # separates it from the NIK's own HMAC


def round_secret(nik_secret: bytes, office_code: str, day: date) -> str:
    """Return the secret of an office day's round (revealed only at its draw)."""
    key = hmac.new(nik_secret, _ROUND_SECRET_DOMAIN, hashlib.sha256).digest()
    message = f"{office_code}|{day.isoformat()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


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
class Verification:
    """What ``Lottery.verify`` found for one round; ``ok`` when everything matches."""

    round: LotteryRound
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when the commitment, seed and order all check out."""
        return not self.problems


def verify_round(session: Session, draw: LotteryRound) -> Verification:
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
            f"the entries differ from the ones drawn ({len(drawn)} now, {draw.entries} at the draw)"
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
    seats_per_session = _winners_follow_order(session, draw, drawn, order)
    report.problems.extend(seats_per_session)
    return report


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

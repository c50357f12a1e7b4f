"""The facts: what the rules may know about one phone, one NIK and one office day.

Plain values, built from the rows of the one facts query (``facts_query.py``)
and looked at by the pure decision (``decision.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sms_gateway.config import OfficeSpec, SessionSpec
from sms_gateway.models import (
    BlockKind,
    Booking,
    BookingStatus,
    EntryStatus,
    LotteryEntry,
    LotteryStatus,
    WaitlistEntry,
    WaitStatus,
)


@dataclass(frozen=True)
class HeldBooking:
    """A booking row as the facts saw it (a holding, missed or recent one)."""

    id: int
    phone: str
    nik_hash: str
    office_code: str
    booking_date: date
    session_name: str
    queue_seq: int
    code: str
    status: BookingStatus
    late_cancel: bool
    reschedules: int
    created_at: datetime

    def as_booking(self) -> Booking:
        """Return a transient ``Booking`` (never added to a session), for replies."""
        return Booking(
            id=self.id,
            office_code=self.office_code,
            booking_date=self.booking_date,
            session_name=self.session_name,
            queue_seq=self.queue_seq,
            code=self.code,
            phone=self.phone,
            nik_hash=self.nik_hash,
            status=self.status,
            late_cancel=self.late_cancel,
            reschedules=self.reschedules,
            created_at=self.created_at,
        )


class EntryKind(enum.StrEnum):
    """Which kind of request an entry is: a place in line or a lottery entry."""

    WAITLIST = "waitlist"
    LOTTERY = "lottery"


@dataclass(frozen=True)
class HeldEntry:
    """A waitlist or lottery entry as the facts saw it."""

    kind: EntryKind
    id: int
    phone: str
    nik_hash: str
    office_code: str
    day: date
    session_name: str | None
    status: str  # WaitStatus or EntryStatus, by kind
    round_id: int | None
    created_at: datetime

    @property
    def pending(self) -> bool:
        """Return True while the entry is the phone's and the NIK's one request."""
        waiting = WaitStatus.WAITING if self.kind == EntryKind.WAITLIST else EntryStatus.ENTERED
        return self.status == waiting

    def as_entry(self) -> WaitlistEntry | LotteryEntry:
        """Return a transient model object of its kind, for replies."""
        model = WaitlistEntry if self.kind == EntryKind.WAITLIST else LotteryEntry
        entry = model(
            id=self.id,
            office_code=self.office_code,
            day=self.day,
            session_name=self.session_name,
            phone=self.phone,
            nik_hash=self.nik_hash,
            created_at=self.created_at,
        )
        if isinstance(entry, LotteryEntry) and self.round_id is not None:
            entry.round_id = self.round_id
        return entry


@dataclass(frozen=True)
class BlockFact:
    """A block in force on the phone or the NIK (BLOKIR)."""

    kind: BlockKind
    until: date
    reason: str


@dataclass(frozen=True)
class SeatCounter:
    """One session's seat counter on one day, as the facts saw it."""

    booked: int
    quota_override: int | None
    closed: bool


@dataclass(frozen=True)
class Facts:
    """Everything the rules may look at for one phone, one NIK and one office day."""

    bookings: tuple[HeldBooking, ...] = ()  # of the phone or the NIK
    entries: tuple[HeldEntry, ...] = ()  # of the phone or the NIK
    blocks: tuple[BlockFact, ...] = ()  # in force on the phone or the NIK
    closures: Mapping[date, str] = field(default_factory=dict)  # TUTUP, today to the horizon
    seats: Mapping[tuple[date, str], SeatCounter] = field(default_factory=dict)  # from the day
    round_status: LotteryStatus | None = None  # the day's lottery round, if any
    recent_messages: int = 0  # the phone's inbound messages of the last hour

    def free(self, day: date, spec: SessionSpec) -> bool:
        """Return True when the session had a free seat on ``day`` (and is not closed)."""
        counter = self.seats.get((day, spec.name))
        if counter is None:
            return spec.quota > 0
        return not counter.closed and spec.quota_with(counter.quota_override) > counter.booked

    def free_sessions(self, office: OfficeSpec, day: date) -> list[SessionSpec]:
        """Return the day's sessions with a free seat, in the office's order."""
        return [s for s in office.sessions if self.free(day, s)]


def facts_from_rows(rows: Sequence[Sequence[Any]]) -> Facts:
    """Build ``Facts`` from the facts query's rows (SQLAlchemy's or the driver's)."""
    bookings: dict[int, HeldBooking] = {}
    entries: list[HeldEntry] = []
    blocks: list[BlockFact] = []
    closures: dict[date, str] = {}
    seats: dict[tuple[date, str], SeatCounter] = {}
    round_status: LotteryStatus | None = None
    recent = 0
    for row in rows:
        kind, id_, phone, nik_hash, office, day, name, num, num2, code, status, flag, at = row
        if kind == "booking":
            bookings[id_] = HeldBooking(
                id_,
                phone,
                nik_hash,
                office,
                day,
                name,
                num,
                code,
                BookingStatus(status),
                bool(flag),
                num2,
                at,
            )
        elif kind in ("waitlist", "lottery"):
            entries.append(
                HeldEntry(EntryKind(kind), id_, phone, nik_hash, office, day, name, status, num, at)
            )
        elif kind == "block":
            blocks.append(BlockFact(BlockKind(status), day, name or ""))
        elif kind == "closure":
            closures[day] = name or "kantor tutup"
        elif kind == "seat":
            seats[(day, name)] = SeatCounter(num, num2, bool(flag))
        elif kind == "round":
            round_status = LotteryStatus(status)
        elif kind == "messages":
            recent = int(num or 0)
    return Facts(
        bookings=tuple(sorted(bookings.values(), key=lambda b: b.id)),
        entries=tuple(sorted(entries, key=lambda e: (e.kind, e.id))),
        blocks=tuple(sorted(blocks, key=lambda b: b.until, reverse=True)),
        closures=closures,
        seats=seats,
        round_status=round_status,
        recent_messages=recent,
    )

"""The booking rules: one read of the facts, one pure decision, shared by every path.

Whoever asks for a seat or a place (DAFTAR, TUNGGU, a lottery entry, UBAH),
and whichever path answers (the full path in ``services/``, the crowd lane in
``crowd_lane.py``, the waitlist's promotions and the lottery's draw), the
same two steps decide:

1. ``read_facts`` runs ONE query (SQLAlchemy Core, the same on SQLite and
   PostgreSQL; the crowd lane runs the very same statement, compiled once, on
   the driver's connection) and returns everything any rule needs about the
   phone, the NIK and the office day, as a typed ``Facts`` value.
2. ``decide(ask, facts, calendar)`` is a pure function: no database, no
   clock. It returns a ``Refuse`` (with the domain error that explains it), a
   ``Repeat`` (the very same request was granted before: answer it again), or
   the allocation to make (``Seat``, ``Join``, ``Enter``).

The callers then make the change under the lock discipline of
``services/transitions.py`` (identity locks taken before the facts are read;
every write conditional on the state it expects). A seat counter that refuses
the claim (the session filled, or the day was closed, since the facts were
read) sends the caller back to step 1: the second decision sees why.

The rules, in the order they are applied (the first that objects answers).
Columns: S = DAFTAR (a seat), W = TUNGGU (the waitlist), E = a lottery entry,
M = UBAH (a move), P = a waitlist promotion or a lottery draw's winner.

  #  rule                                                   refusal              applies to
  1  the day can be booked: not past, within min/max days   DateNotBookable      S W E M;
     ahead, the office open (weekday, holiday, configured                        P: open only
     date, TUTUP)
  2  a lottery day's seats are not first come before its    LotteryNotOpen,      S W M; E: the
     draw                                                   -Pending, -Drawing   window is open
  3  the same request again is answered again, changing     (Repeat)             S W E
     nothing
  4  a booking moved is active, moved fewer than            CannotMove           M (checked
     max_reschedules times, to another day or session                            before rule 1)
  5  one request per phone: no booking held                 PhoneHasBooking      S W E
  6  no block in force on the phone or the NIK (BLOKIR)     Blocked              S W E M P
  7  fewer than max_no_shows no-shows or late cancellations Penalized            S W E M P
     of the phone, or of the NIK, in penalty_window_days
     (else banned for ban_days after the last)
  8  one request per NIK: no booking held from another      NikHasBooking        S W E
     phone
  9  one request per phone and NIK: no entry in a draw      AlreadyEntered       S W E
 10  one request per phone and NIK: no place in line        AlreadyWaiting       S W E
 11  at most niks_per_phone distinct NIKs booked, queued    TooManyNiks          S W E
     or entered from one phone in 30 days
 12  a seat is free in the session asked for (else the      SessionFull          S M P
     reply offers another session that day, or the next
     day with a seat)
 13  the waitlist is for full days (or a full session       NotWaitlistable      W
     asked for by name)

The differences between the columns are intended: UBAH keeps the booking it
moves (rules 5 and 8-11 do not apply to it), and a promotion or a draw gives
a seat to a request that passed every rule when it was made.

A holding booking whose day is over no longer counts (rules 3, 5, 8) and
counts as what the day-end sweep will make of it (a no-show, rule 7); the
caller closes it before writing (``stale_bookings``). The hourly message limit
is not a booking rule: it applies to every message, before any command
(``over_hourly_limit``); the facts carry the count for the lane.

How to add or change a rule: CONTRIBUTING.md, "How to add or change a booking rule".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Date,
    Select,
    SQLColumnExpression,
    String,
    bindparam,
    case,
    func,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import BindParameter, ColumnElement

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
from sms_gateway.models import (
    HOLDING,
    Block,
    BlockKind,
    Booking,
    BookingStatus,
    Direction,
    EntryStatus,
    LotteryEntry,
    LotteryRound,
    LotteryStatus,
    Message,
    OfficeClosure,
    SessionSlot,
    UTCDateTime,
    WaitlistEntry,
    WaitStatus,
)
from sms_gateway.schedule import OfficeCalendar

# The window of rule 11 (niks_per_phone).
NIK_WINDOW_DAYS = 30


class Want(enum.StrEnum):
    """What an applicant asks for."""

    SEAT = "seat"  # DAFTAR, first come
    WAIT = "wait"  # TUNGGU
    ENTER = "enter"  # DAFTAR for a lottery day before its draw
    MOVE = "move"  # UBAH
    # A waitlist place or a lottery entry becoming a booking: the applicant asked
    # before and passed the rules then; only a block, a penalty or a closure since
    # stops it (and a seat must be free).
    PROMOTE = "promote"


# The requests that are a phone's and a NIK's one request (rules 5, 8-11).
ONE_REQUEST = frozenset({Want.SEAT, Want.WAIT, Want.ENTER})


@dataclass(frozen=True)
class Ask:
    """One request, already parsed and validated: who, for what, when."""

    want: Want
    phone: str
    nik_hash: str
    office: OfficeSpec
    day: date
    session: SessionSpec | None  # None: any session
    now: datetime
    moving: HeldBooking | None = None  # UBAH: the booking to move (from the facts)


# -- facts ----------------------------------------------------------------------------------


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
    kind: BlockKind
    until: date
    reason: str


@dataclass(frozen=True)
class SeatCounter:
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


# One statement, rows of several kinds with the same columns (UNION ALL): one
# round trip on either path. The first SELECT types the columns for every row.
_COLUMNS = (
    "id",
    "phone",
    "nik_hash",
    "office_code",
    "day",
    "name",
    "num",
    "num2",
    "code",
    "status",
    "flag",
    "at",
)

# Statuses and the direction are bound, not inlined: with a literal PostgreSQL
# may plan a prepared statement around a partial index whose predicate it
# matches, and read all of it (see migration 0008).
_P: dict[str, BindParameter[Any]] = {
    "phone": bindparam("phone", type_=String),
    # The phone's pseudonym (chain.pseudonym): its history after HAPUS or the purge.
    "pseudonym": bindparam("pseudonym", type_=String),
    "nik_hash": bindparam("nik_hash", type_=String),
    "office": bindparam("office", type_=String),
    "day": bindparam("day", type_=Date),
    "today": bindparam("today", type_=Date),
    "horizon": bindparam("horizon", type_=Date),
    "missed_since": bindparam("missed_since", type_=Date),
    "recent_since": bindparam("recent_since", type_=UTCDateTime()),
    "hour_ago": bindparam("hour_ago", type_=UTCDateTime()),
}


def _const(name: str, value: str) -> ColumnElement[Any]:
    return bindparam(name, value, type_=String)


def _status_in(column: SQLColumnExpression[Any], statuses: Iterable[str]) -> ColumnElement[bool]:
    # One named parameter each (not an "expanding" IN): the statement compiles
    # once, with every parameter named, for the crowd lane's driver.
    return type_coerce(column, String).in_([_const(f"st_{s}", s) for s in statuses])


def _row(kind: str, **columns: Any) -> list[ColumnElement[Any]]:
    # Short labels and inline kinds: the crowd lane's driver caches the parsing of
    # statements up to 4 kB only (psycopg's MAX_CACHED_STATEMENT_LENGTH).
    out: list[ColumnElement[Any]] = [literal_column(f"'{kind}'", String).label("k")]
    for n, name in enumerate(_COLUMNS):
        # A bare NULL takes its column's type from the first SELECT (the bookings'),
        # which has them all, on PostgreSQL and SQLite alike.
        value = columns.get(name)
        out.append((null() if value is None else value).label(f"c{n}"))
    return out


def _phone_or_pseudonym(column: Any) -> ColumnElement[bool]:
    return type_coerce(column, String).in_([_P["phone"], _P["pseudonym"]])


def _as_phone(column: Any) -> ColumnElement[Any]:
    # A row kept under the pseudonym is the phone's own for every rule.
    return case((column == _P["pseudonym"], _P["phone"]), else_=column)


def _bookings_of(by: str, *, recent: bool) -> Select[Any]:
    b = aliased(Booking, name="b")
    holding = _status_in(b.status, [s.value for s in HOLDING])
    missed = (_status_in(b.status, [BookingStatus.NO_SHOW.value]) | b.late_cancel.is_(True)) & (
        b.booking_date >= _P["missed_since"]
    )
    wanted = holding | missed
    if recent:
        wanted = wanted | (b.created_at >= _P["recent_since"])
    return select(
        *_row(
            "booking",
            id=b.id,
            phone=_as_phone(b.phone),
            nik_hash=b.nik_hash,
            office_code=b.office_code,
            day=b.booking_date,
            name=b.session_name,
            num=b.queue_seq,
            num2=b.reschedules,
            code=b.code,
            status=type_coerce(b.status, String),
            flag=b.late_cancel,
            at=b.created_at,
        )
    ).where(_phone_or_pseudonym(b.phone) if by == "phone" else b.nik_hash == _P[by], wanted)


def _entries_of(table: type[WaitlistEntry] | type[LotteryEntry], kind: EntryKind) -> Select[Any]:
    model: Any = aliased(table, name="e")
    pending = WaitStatus.WAITING.value if kind == EntryKind.WAITLIST else EntryStatus.ENTERED.value
    is_pending = _status_in(model.status, [pending])
    round_id = model.round_id if table is LotteryEntry else None
    return select(
        *_row(
            kind.value,
            id=model.id,
            phone=_as_phone(model.phone),
            nik_hash=model.nik_hash,
            office_code=model.office_code,
            day=model.day,
            name=model.session_name,
            num=round_id,
            status=type_coerce(model.status, String),
            at=model.created_at,
        )
    ).where(
        (_phone_or_pseudonym(model.phone) & (is_pending | (model.created_at >= _P["recent_since"])))
        | ((model.nik_hash == _P["nik_hash"]) & is_pending)
    )


def facts_statement() -> CompoundSelect[Any]:
    """Return the facts query: every row any rule needs, tagged by kind (one UNION ALL)."""
    blocks = select(
        *_row(
            "block",
            day=Block.until,
            name=Block.reason,
            status=type_coerce(Block.kind, String),
        )
    ).where(
        (
            (type_coerce(Block.kind, String) == _const("k_phone", BlockKind.PHONE.value))
            & (Block.value == _P["phone"])
        )
        | (
            (type_coerce(Block.kind, String) == _const("k_nik", BlockKind.NIK.value))
            & (Block.value == _P["nik_hash"])
        ),
        Block.lifted_at.is_(None),
        Block.until >= _P["today"],
    )
    closures = select(*_row("closure", day=OfficeClosure.day, name=OfficeClosure.reason)).where(
        OfficeClosure.office_code == _P["office"],
        OfficeClosure.day >= _P["today"],
        OfficeClosure.day <= _P["horizon"],
    )
    seats = select(
        *_row(
            "seat",
            day=SessionSlot.slot_date,
            name=SessionSlot.session_name,
            num=SessionSlot.booked,
            num2=SessionSlot.quota_override,
            flag=SessionSlot.closed,
        )
    ).where(
        SessionSlot.office_code == _P["office"],
        SessionSlot.slot_date >= _P["day"],
        SessionSlot.slot_date <= _P["horizon"],
    )
    draw = select(*_row("round", status=type_coerce(LotteryRound.status, String))).where(
        LotteryRound.office_code == _P["office"], LotteryRound.day == _P["day"]
    )
    recent = select(*_row("messages", num=inbound_count(_P["phone"], _P["hour_ago"])))
    return union_all(
        # Two SELECTs for the phone and the NIK, one per index: an OR across both
        # columns made PostgreSQL read the table.
        _bookings_of("phone", recent=True),
        _bookings_of("nik_hash", recent=False),
        _entries_of(WaitlistEntry, EntryKind.WAITLIST),
        _entries_of(LotteryEntry, EntryKind.LOTTERY),
        blocks,
        closures,
        seats,
        draw,
        recent,
    )


def inbound_count(phone: ColumnElement[Any], since: ColumnElement[Any]) -> ColumnElement[int]:
    """Return the count of a phone's inbound messages after ``since`` (a scalar subquery)."""
    return (
        select(func.count())
        .select_from(Message)
        .where(
            Message.phone == phone,
            type_coerce(Message.direction, String) == _const("dir_in", Direction.IN.value),
            Message.created_at > since,
        )
        .scalar_subquery()
    )


def over_hourly_limit(recent: int, limit: int) -> bool:
    """Return True when a phone's messages of the last hour, this one included, pass the limit."""
    return recent > limit


FACTS = facts_statement()


def facts_params(
    calendar: OfficeCalendar,
    office: OfficeSpec,
    phone: str,
    nik_hash: str,
    day: date,
    now: datetime,
    pseudonym: str,
) -> dict[str, Any]:
    """Return the parameters of the facts query for one request."""
    today = calendar.today(office, now)
    return {
        "phone": phone,
        "pseudonym": pseudonym,
        "nik_hash": nik_hash,
        "office": office.code,
        "day": day,
        "today": today,
        "horizon": calendar.bookable_range(today)[1],
        "missed_since": today - timedelta(days=office.rules.penalty_window_days),
        "recent_since": now - timedelta(days=NIK_WINDOW_DAYS),
        "hour_ago": now - timedelta(hours=1),
    }


def read_facts(
    session: Session | Connection,
    calendar: OfficeCalendar,
    office: OfficeSpec,
    phone: str,
    nik_hash: str,
    day: date,
    now: datetime,
    pseudonym: str,
) -> Facts:
    """Read everything the rules need, in one query (see the module docstring).

    ``pseudonym`` is the phone's anonymised form (``chain.pseudonym``): rows
    kept under it count as the phone's.
    """
    params = facts_params(calendar, office, phone, nik_hash, day, now, pseudonym)
    return facts_from_rows(session.execute(FACTS, params).all())


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


# -- decisions ------------------------------------------------------------------------------


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

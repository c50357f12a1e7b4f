"""Personal data kept no longer than needed, shown and erased on request (UU PDP No. 27/2022).

Three duties of Indonesia's personal data protection law, for the data this
gateway holds about a phone number:

- **Retention** (``Retention.purge``, run by the worker's tick and by
  ``sms-gateway purge``). A message older than ``[privacy]
  keep_messages_days`` keeps its row, so reports still count it, but loses its
  text and its phone. ``keep_bookings_days`` after their date, finished
  bookings (every status but HOLDING), finished waitlist places and lottery
  entries, and booking attempts (by their time) lose their phone. The masked
  NIK and the NIK's HMAC stay: the one-booking-per-NIK rule and the no-show
  penalty of a NIK still need them.
- **Access** (``Retention.held``, for DATAKU): what is held about one phone.
- **Erasure** (``Retention.erase``, for HAPUS): at once, for one phone, what
  the purge would do when its time comes: the text of its earlier messages,
  and its phone on its finished bookings, waitlist places and lottery entries.

"Anonymised" means the phone is replaced by ``anon:`` and the audit chain's
keyed hash of it (``AuditChain.anonymise``). The chain recorded that very hash
for the row (it never holds a phone in clear), and ``AuditChain.phone_key``
reads it back from an anonymised value, so an anonymised row still matches
the chain: ``audit verify`` stays clean and nothing new is appended. The hash
is a pseudonym: whoever holds the NIK secret can tell whether a given number
is behind it, nobody can read a number out of it.

Every change is a conditional UPDATE that expects the value it replaces (the
phone it read, a finished status), so a row that moved on meanwhile, or was
anonymised by someone else, is left alone; an anonymised row is never touched
again. The purge works in batches of ``batch_size`` rows per table, one short
transaction each, found through the partial ``ix_*_unpurged`` indexes, which
hold only the rows not yet anonymised (migration 0010).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    TextClause,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from sms_gateway.config import Settings
from sms_gateway.db import read_only_session, rowcount
from sms_gateway.models import (
    HOLDING,
    NOT_ANONYMISED,
    Block,
    BlockKind,
    Booking,
    BookingAttempt,
    Direction,
    EntryStatus,
    LotteryEntry,
    Message,
    SendStatus,
    WaitlistEntry,
    WaitStatus,
)
from sms_gateway.services import chain
from sms_gateway.services.chain import AuditChain
from sms_gateway.services.tally import Tally

# Rows per table per transaction: short enough not to hold up the SMS path.
BATCH_SIZE = 500
# Batches per table in one tick of the worker (once a minute): a backlog, such as
# the first purge after an upgrade, is worked off over several ticks.
TICK_BATCHES = 10

# The chain's record of an erasure (HAPUS): not a tracked row, so no row id.
ERASURE_KIND = "erasure"


@dataclass
class PurgeResult(Tally):
    """How many rows one purge anonymised (or, in a dry run, would), per table."""

    messages: int = 0
    bookings: int = 0
    waitlist: int = 0
    lottery_entries: int = 0
    booking_attempts: int = 0

    def __bool__(self) -> bool:
        """Return True when the purge anonymised (or would) any row at all."""
        return bool(self.total)

    def __str__(self) -> str:
        return (
            f"{self.messages} message(s), {self.bookings} booking(s), {self.waitlist} "
            f"waitlist place(s), {self.lottery_entries} lottery entr(y/ies), "
            f"{self.booking_attempts} booking attempt(s)"
        )


@dataclass(frozen=True)
class Erasure:
    """What HAPUS erased for one phone."""

    messages: int  # message texts erased
    bookings: int  # phones anonymised, per table
    waitlist: int
    lottery_entries: int

    @property
    def records(self) -> int:
        """Return the bookings, waitlist places and lottery entries anonymised."""
        return self.bookings + self.waitlist + self.lottery_entries


@dataclass(frozen=True)
class Held:
    """What the office holds about one phone besides its active request (DATAKU)."""

    past_bookings: int  # bookings no longer holding a seat
    past_waitlist: int  # waitlist places no longer waiting
    past_lottery: int  # lottery entries no longer in a draw
    messages: int  # messages to and from it, whose phone is still on record
    block_until: date | None  # the end of its latest block (BLOKIR), if it ever had one


@dataclass(frozen=True)
class _Target:
    """A table whose rows lose the phone (and maybe more) when they are old enough."""

    name: str  # the PurgeResult field
    table: Table
    age: Any  # the column compared with the cutoff
    # The rows that may be purged; the UPDATE repeats it, so a row that went
    # back to holding (it cannot, today) would be left alone.
    finished: ColumnElement[bool]
    erase: Mapping[str, Any]  # besides the phone
    chain_kind: str | None  # tracked by the audit chain under this kind
    by_day: bool  # the age column is an office-local date, not an instant


# The status conditions are spelled out as comparisons, not IN lists: the UPDATEs
# run as one executemany, which cannot expand a list parameter.
def _none_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    return and_(*(column != value for value in values))


def _request_target(
    name: str, model: type[WaitlistEntry] | type[LotteryEntry], pending: str, chain_kind: str | None
) -> _Target:
    """A table of applicants' requests: finished once no longer ``pending``, aged by their day."""
    table = model.__table__
    return _Target(name, table, table.c.day, table.c.status != pending, {}, chain_kind, by_day=True)


_MESSAGES = Message.__table__
_TARGETS = (
    _Target(
        "messages",
        _MESSAGES,
        _MESSAGES.c.created_at,
        # Inbound, sent or failed: an outbox message still waiting to go out keeps
        # its text (the worker would otherwise send an empty SMS). Written as "not
        # waiting", which no index serves: SQLite would otherwise read the message
        # log through the outbox index instead of the purge's own.
        or_(
            _MESSAGES.c.status.is_(None),
            _none_of(_MESSAGES.c.status, [SendStatus.PENDING, SendStatus.SENDING]),
        ),
        # A provider's error text can quote the number.
        {"body": "", "error": None},
        None,
        by_day=False,
    ),
    _Target(
        "bookings",
        Booking.__table__,
        Booking.__table__.c.booking_date,
        _none_of(Booking.__table__.c.status, HOLDING),
        {},
        "booking",
        by_day=True,
    ),
    _request_target("waitlist", WaitlistEntry, WaitStatus.WAITING, None),
    _request_target("lottery_entries", LotteryEntry, EntryStatus.ENTERED, "lottery_entry"),
    _Target(
        "booking_attempts",
        BookingAttempt.__table__,
        BookingAttempt.__table__.c.at,
        true(),
        {},
        None,
        by_day=False,
    ),
)
_BY_NAME = {t.name: t for t in _TARGETS}
# What HAPUS anonymises at once: the records of the phone's own requests. Booking
# attempts stay until their time: the fraud report looks for phones behind many
# NIKs, and a scalper could otherwise erase the trail before the report is read.
_ERASED_ON_REQUEST = ("bookings", "waitlist", "lottery_entries")


class Retention:
    """Purge what is past its retention period; show and erase what one phone left."""

    def __init__(
        self, settings: Settings, nik_secret: bytes, *, batch_size: int = BATCH_SIZE
    ) -> None:
        self.settings = settings
        self.nik_secret = nik_secret
        self.batch_size = batch_size

    def chain(self, clock: Callable[[], datetime]) -> AuditChain:
        """Return an audit chain keyed like the gateway's (same secret, same phone hashes)."""
        return AuditChain(self.nik_secret, clock)

    # -- retention ------------------------------------------------------------------------

    def cutoffs(self, now: datetime) -> dict[str, datetime | date]:
        """Return, per table, the age before which its rows are purged at ``now``."""
        privacy = self.settings.privacy
        messages = now - timedelta(days=privacy.keep_messages_days)
        bookings = now - timedelta(days=privacy.keep_bookings_days)
        # Booking dates are office dates: a day counts once it is over everywhere
        # (the default time zone is the offices' unless one sets its own).
        local = bookings.astimezone(self.settings.booking.timezone).date()
        return {
            t.name: (local if t.by_day else messages if t.name == "messages" else bookings)
            for t in _TARGETS
        }

    def purge(
        self,
        sessions: sessionmaker[Session],
        now: datetime,
        *,
        dry_run: bool = False,
        max_batches: int | None = None,
    ) -> PurgeResult:
        """Anonymise every row past its retention period; return how many, per table.

        Each batch is its own transaction. ``max_batches`` bounds the batches
        per table (the tick's share); None goes on until nothing is due.
        ``dry_run`` only counts what is due and changes nothing. Safe to run
        again, and at once in several processes.
        """
        result = PurgeResult()
        cutoffs = self.cutoffs(now)
        if dry_run:
            with read_only_session(sessions) as session:
                for target in _TARGETS:
                    due = select(func.count()).select_from(target.table)
                    due = due.where(*self._due(target, cutoffs[target.name]))
                    setattr(result, target.name, int(session.scalar(due) or 0))
            return result
        keys = self.chain(lambda: now)
        for target in _TARGETS:
            batches = 0
            while max_batches is None or batches < max_batches:
                with sessions.begin() as session:
                    found, changed = self._purge_batch(session, target, cutoffs[target.name], keys)
                setattr(result, target.name, getattr(result, target.name) + changed)
                batches += 1
                # Fewer than a batch: nothing more is due. A batch that changed
                # nothing (every row moved on under it) would only find them again.
                if found < self.batch_size or not changed:
                    break
        return result

    @staticmethod
    def _due(
        target: _Target, cutoff: datetime | date
    ) -> tuple[ColumnElement[bool] | TextClause, ...]:
        # NOT_ANONYMISED as the indexes carry it, word for word (models/columns.py).
        return (NOT_ANONYMISED, target.age < cutoff, target.finished)

    def _purge_batch(
        self, session: Session, target: _Target, cutoff: datetime | date, keys: AuditChain
    ) -> tuple[int, int]:
        """Anonymise one batch of due rows; return how many were found and changed."""
        table = target.table
        rows = session.execute(
            select(table.c.id, table.c.phone)
            .where(*self._due(target, cutoff))
            .order_by(target.age)
            .limit(self.batch_size)
            # Another purger's rows are its business: never wait for them.
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return 0, 0
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("row_id"),
                table.c.phone == bindparam("old_phone"),
                target.finished,
            )
            .values(phone=bindparam("new_phone"), **target.erase)
        )
        params = [
            {"row_id": row.id, "old_phone": row.phone, "new_phone": keys.anonymise(row.phone)}
            for row in rows
        ]
        changed = rowcount(session.execute(statement, params))
        if target.chain_kind is not None:
            # Core UPDATEs the ORM never saw. The chain compares each row with what it
            # recorded; anonymising changes nothing it records, so nothing is appended.
            chain.note(session, target.chain_kind, [row.id for row in rows])
        return len(rows), changed

    # -- a data subject's requests ----------------------------------------------------------

    def held(self, session: Session, phone: str) -> Held:
        """Return what is held about ``phone`` besides its active request (DATAKU)."""
        bookings, waitlist, entries, messages = (
            Booking.__table__,
            WaitlistEntry.__table__,
            LotteryEntry.__table__,
            Message.__table__,
        )

        def counted(table: Table, *criteria: ColumnElement[bool]) -> Any:
            return (
                select(func.count())
                .select_from(table)
                .where(table.c.phone == phone, *criteria)
                .scalar_subquery()
            )

        past_bookings, past_waitlist, past_lottery, sent = session.execute(
            select(
                counted(bookings, bookings.c.status.not_in(HOLDING)),
                counted(waitlist, waitlist.c.status != WaitStatus.WAITING),
                counted(entries, entries.c.status != EntryStatus.ENTERED),
                counted(messages),
            )
        ).one()
        return Held(
            past_bookings=int(past_bookings),
            past_waitlist=int(past_waitlist),
            past_lottery=int(past_lottery),
            messages=int(sent),
            block_until=self._block_until(session, phone),
        )

    def _block_until(self, session: Session, phone: str) -> date | None:
        tz = self.settings.booking.timezone
        ends = [
            until if lifted is None else min(until, lifted.astimezone(tz).date())
            for until, lifted in session.execute(
                select(Block.until, Block.lifted_at).where(
                    Block.kind == BlockKind.PHONE, Block.value == phone
                )
            )
        ]
        return max(ends, default=None)

    def erase(self, session: Session, phone: str, now: datetime) -> Erasure:
        """Erase what the law allows for ``phone`` now (HAPUS), and record that it did.

        The caller holds the phone's identity lock and has made sure it holds no
        booking, waitlist place or lottery entry; each UPDATE still expects a
        finished row, so one that became active meanwhile keeps its phone. The
        texts erased are those of the messages logged before the HAPUS itself:
        its own inbound row is the latest of the phone's, and its reply is
        written after this returns.
        """
        keys = self.chain(lambda: now)
        pseudonym = keys.anonymise(phone)
        messages = Message.__table__
        this_one = session.scalar(
            select(func.max(messages.c.id)).where(
                messages.c.phone == phone, messages.c.direction == Direction.IN
            )
        )
        erased = rowcount(
            session.execute(
                update(messages)
                .where(
                    messages.c.phone == phone,
                    messages.c.id < (this_one if this_one is not None else 0),
                    messages.c.body != "",
                    _BY_NAME["messages"].finished,
                )
                .values(body="", error=None)
            )
        )
        changed: dict[str, int] = {}
        for name in _ERASED_ON_REQUEST:
            target = _BY_NAME[name]
            table = target.table
            ids = session.scalars(
                update(table)
                .where(table.c.phone == phone, target.finished)
                .values(phone=pseudonym)
                .returning(table.c.id)
            ).all()
            if target.chain_kind is not None:
                chain.note(session, target.chain_kind, ids)
            changed[target.name] = len(ids)
        erasure = Erasure(
            erased, changed["bookings"], changed["waitlist"], changed["lottery_entries"]
        )
        # The request itself stays on record, without the number: the chain's hash
        # of it, as in every other record about this phone.
        keys.append(
            session,
            [
                (
                    ERASURE_KIND,
                    ERASURE_KIND,
                    {
                        "phone": keys.phone_key(phone),
                        "messages": erasure.messages,
                        "bookings": erasure.bookings,
                        "waitlist": erasure.waitlist,
                        "lottery_entries": erasure.lottery_entries,
                    },
                )
            ],
        )
        return erasure

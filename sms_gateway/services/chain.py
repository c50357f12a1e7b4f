"""The tamper-evident audit chain: every booking change and staff command, hash-linked.

Insider collusion was part of the story: a number "resold" by editing a row, a
no-show quietly turned into a check-in. So every change to a tracked row is
also appended to ``audit_chain``, in the same transaction, as a record whose
SHA-256 hash covers the previous record's hash and its own content. Editing,
removing or inserting a record anywhere breaks every later link; editing a
tracked row without the gateway leaves it different from the last state the
chain recorded for it. ``sms-gateway audit verify`` checks both.

How changes reach the chain, without any handler having to remember it:

- A session listener (``after_flush``) notes every tracked row the ORM
  inserts, updates or deletes; bulk UPDATEs call ``note()`` themselves.
- Just before the outermost commit (``before_commit``), the chain reads each
  noted row as this transaction leaves it and appends its state when it
  differs from the last state recorded for it. Reading the rows back, rather
  than trusting the objects in memory, means a change rolled back with a
  savepoint is never recorded.
- Appends lock the one row of ``audit_chain_head``: concurrent transactions
  extend the chain one after another, never from the same record. The lock is
  taken at commit time only, so it is held for moments.

A chain that an insider could rewrite from the first record on proves little,
so its head (``audit head``) is meant to leave the building every day: printed,
published, or sent by SMS to the office head. ``audit verify --anchor SEQ:HASH``
then proves that the chain still contains that record unchanged.

Phone numbers are recorded as keyed hashes (the NIK secret, domain-separated),
and NIKs only as the HMAC the bookings table already holds: the chain is
append-only forever, so it must not become a second copy of personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from sms_gateway.models import (
    AuditEntry,
    Booking,
    ChainHead,
    ChainRecord,
    LotteryEntry,
    LotteryRound,
)

GENESIS = "0" * 64  # what the first record links to
# What a phone number becomes when its retention ends or its owner sends HAPUS:
# this prefix and the chain's own keyed hash of it (``AuditChain.anonymise``).
ANON_PREFIX = "anon:"
_PHONE_DOMAIN = b"audit-chain phone"  # separates the phone key from the NIK's HMAC
_ANON = re.compile(rf"^{ANON_PREFIX}[0-9a-f]{{64}}$")
# An anchor may be given as a prefix of its hash (an SMS shows it in full, a
# notice board may not), but never so short that it could be matched by chance.
MIN_ANCHOR_HEX = 16

_NOTED = "audit_chain.noted"
# The record ``audit redact`` appends: the old and new heads, signed.
REDACTION_KIND = "redaction"  # session.info key: {kind: {row id, ...}}

State = dict[str, Any]
KeyFn = Callable[[str], str]
TrackedModel = type[Booking] | type[AuditEntry] | type[LotteryRound] | type[LotteryEntry]


@dataclass(frozen=True)
class Tracked:
    """A table whose every change goes into the chain, and how to describe a row."""

    kind: str  # the record kind, and the subject prefix ("booking:42")
    model: TrackedModel
    state: Callable[[Row[Any], KeyFn], State]


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def _booking_state(row: Row[Any], key: KeyFn) -> State:
    # What a resale or a forged check-in would have to change: who holds the
    # seat, which seat it is, and where it stands. Bookkeeping (reminder sent)
    # is left out.
    return {
        "office": row.office_code,
        "date": row.booking_date.isoformat(),
        "session": row.session_name,
        "queue": row.queue_seq,
        "code": row.code,
        "phone": key(row.phone),
        "nik": row.nik_hash,
        "status": str(row.status),
        "counter": row.counter,
        "confirmed": row.confirmed_at is not None,
        "late_cancel": bool(row.late_cancel),
        "reschedules": row.reschedules,
    }


def _staff_command_state(row: Row[Any], key: KeyFn) -> State:
    return {
        "at": _instant(row.at),
        "phone": key(row.phone),
        "name": row.staff_name,
        "office": row.office_code,
        "command": row.command,  # masked by its column (models.Redacted) when stored
        "outcome": row.outcome,
    }


def _round_state(row: Row[Any], key: KeyFn) -> State:
    # The commitment is recorded when the round is created, before any entry;
    # the secret, seed and counts when it is drawn.
    return {
        "office": row.office_code,
        "date": row.day.isoformat(),
        "opens": _instant(row.opens_at),
        "closes": _instant(row.closes_at),
        "commitment": row.commitment,
        "secret": row.secret,
        "entries_digest": row.entries_digest,
        "seed": row.seed,
        "status": str(row.status),
        "entries": row.entries,
        "winners": row.winners,
    }


def _entry_state(row: Row[Any], key: KeyFn) -> State:
    return {
        "round": row.round_id,
        "session": row.session_name,
        "phone": key(row.phone),
        "nik": row.nik_hash,
        "status": str(row.status),
        "rank": row.draw_rank,
        "booking": row.booking_id,
    }


TRACKED: tuple[Tracked, ...] = (
    Tracked("booking", Booking, _booking_state),
    Tracked("staff_command", AuditEntry, _staff_command_state),
    Tracked("lottery_round", LotteryRound, _round_state),
    Tracked("lottery_entry", LotteryEntry, _entry_state),
)
_BY_MODEL = {t.model: t for t in TRACKED}
_BY_KIND = {t.kind: t for t in TRACKED}


def pseudonym(secret: bytes, phone: str) -> str:
    """Return the value that replaces ``phone`` once it is anonymised (see ``anonymise``).

    The booking rules look a phone's history up under its number and under
    this value, so erasing a phone (HAPUS) never wipes its no-shows or the
    NIKs it booked for.
    """
    key = hmac.new(secret, _PHONE_DOMAIN, hashlib.sha256).digest()
    return ANON_PREFIX + hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()


def is_anonymised(phone: str) -> bool:
    """Return True for a phone column value that ``AuditChain.anonymise`` wrote."""
    return _ANON.match(phone) is not None


def canonical(data: Mapping[str, Any]) -> str:
    """Return the one JSON text a record's data is stored and hashed as."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link_hash(prev_hash: str, seq: int, at: datetime, kind: str, subject: str, data: str) -> str:
    """Return the SHA-256 (hex) that links a record to the one before it."""
    instant = at.astimezone(UTC).isoformat(timespec="microseconds")
    payload = "\n".join((prev_hash, str(seq), instant, kind, subject, data))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def new_record(
    prev_hash: str, seq: int, at: datetime, kind: str, subject: str, data: State
) -> dict[str, Any]:
    """Return the ``audit_chain`` row that records ``data`` as number ``seq`` after prev_hash."""
    text = canonical(data)
    return {
        "seq": seq,
        "at": at,
        "kind": kind,
        "subject": subject,
        "data": text,
        "prev_hash": prev_hash,
        "hash": link_hash(prev_hash, seq, at, kind, subject, text),
    }


def note(session: Session, kind: str, ids: Iterable[int]) -> None:
    """Have the chain look at these rows at commit (for changes made by bulk UPDATEs)."""
    if kind not in _BY_KIND:
        raise ValueError(f"{kind!r} is not a tracked kind")
    session.info.setdefault(_NOTED, {}).setdefault(kind, set()).update(ids)


def _vouched_anchors(data: str) -> list[tuple[int, str]]:
    """Return the anchors a redaction statement says matched the chain it replaced."""
    try:
        anchors = json.loads(data).get("anchors_checked", [])
        return [(int(seq), str(digest)) for seq, digest in anchors]
    except (ValueError, TypeError, AttributeError):
        return []


@dataclass(frozen=True)
class Head:
    """The newest record of the chain (seq 0 and the genesis hash when it is empty)."""

    seq: int
    hash: str
    at: datetime | None = None


@dataclass
class VerifyReport:
    """What ``AuditChain.verify`` found; ``ok`` when it found nothing wrong."""

    records: int = 0
    head: Head = field(default_factory=lambda: Head(0, GENESIS))
    matched: dict[str, int] = field(default_factory=dict)  # kind -> rows that agree
    problems: list[str] = field(default_factory=list)
    # Broken links, anchors that do not match, a wrong head: the chain itself is
    # not to be trusted (a subset of ``problems``; the rest are rows that differ).
    chain_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when every link holds and every tracked row matches the chain."""
        return not self.problems


class AuditChain:
    """Append to the chain at commit, and check it against itself and the tables."""

    def __init__(self, secret: bytes, clock: Callable[[], datetime]) -> None:
        self._key = hmac.new(secret, _PHONE_DOMAIN, hashlib.sha256).digest()
        self.clock = clock

    def phone_key(self, phone: str) -> str:
        """Return the keyed hash a phone number is recorded as.

        An anonymised phone (``anonymise``) gives back the hash it carries: a
        row anonymised after the chain recorded it still has the state the
        chain recorded, so anonymising needs no new record and ``verify``
        still reconciles the row.
        """
        if is_anonymised(phone):
            return phone.removeprefix(ANON_PREFIX)
        return hmac.new(self._key, phone.encode(), hashlib.sha256).hexdigest()

    def anonymise(self, phone: str) -> str:
        """Return what a phone number is replaced by: ``anon:`` and its keyed hash.

        Idempotent: an anonymised value is returned unchanged. The value is a
        pseudonym, not the number: only whoever holds the NIK secret can link
        a number to it (by hashing the number), never read a number from it.
        """
        return phone if is_anonymised(phone) else ANON_PREFIX + self.phone_key(phone)

    def state(self, kind: str, row: Any) -> State:
        """Return what the chain records of a tracked row (a Row, or a model object)."""
        return _BY_KIND[kind].state(row, self.phone_key)

    # -- recording ------------------------------------------------------------------------

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Record every tracked change made through sessions of this factory."""
        event.listen(sessions, "after_flush", self._collect)
        event.listen(sessions, "before_commit", self._before_commit)
        event.listen(sessions, "after_rollback", self._forget)

    def _collect(self, session: Session, _flush_context: object) -> None:
        noted = None
        for obj in (*session.new, *session.dirty, *session.deleted):
            tracked = _BY_MODEL.get(type(obj))
            if tracked is not None:
                noted = noted if noted is not None else session.info.setdefault(_NOTED, {})
                noted.setdefault(tracked.kind, set()).add(obj.id)

    def _forget(self, session: Session) -> None:
        session.info.pop(_NOTED, None)

    def _before_commit(self, session: Session) -> None:
        # Also called when a savepoint is released: wait for the real commit.
        if session.in_nested_transaction():
            return
        session.flush()  # changes not flushed yet are noted by _collect now
        noted = session.info.pop(_NOTED, None)
        if noted:
            self.seal(session, noted)

    def seal(self, session: Session, noted: Mapping[str, Iterable[int]]) -> int:
        """Append the current state of the noted rows that changed; return how many."""
        links: list[tuple[str, str, State]] = []
        for kind in sorted(noted):
            tracked = _BY_KIND[kind]
            ids = sorted(set(noted[kind]))
            if not ids:
                continue
            live = {row.id: row for row in self._rows(session, tracked, ids)}
            last = self.last_states(session, [f"{kind}:{i}" for i in ids])
            for row_id in ids:
                subject = f"{kind}:{row_id}"
                row = live.get(row_id)
                if row is None:
                    # Rolled back before it was ever recorded, or deleted after it was.
                    if subject in last and last[subject] != {"deleted": True}:
                        links.append((kind, subject, {"deleted": True}))
                    continue
                state = tracked.state(row, self.phone_key)
                if last.get(subject) != state:
                    links.append((kind, subject, state))
        return self.append(session, links)

    def append(self, session: Session, links: Iterable[tuple[str, str, State]]) -> int:
        """Append records (kind, subject, data) after the head, under the head's lock."""
        links = list(links)
        if not links:
            return 0
        head_table = ChainHead.__table__
        seq, prev = session.execute(
            select(head_table.c.seq, head_table.c.hash)
            .where(head_table.c.id == 1)
            .with_for_update()
        ).one()
        at = self.clock()
        rows = []
        for kind, subject, data in links:
            seq += 1
            rows.append(new_record(prev, seq, at, kind, subject, data))
            prev = rows[-1]["hash"]
        session.execute(insert(ChainRecord.__table__), rows)
        session.execute(update(head_table).where(head_table.c.id == 1).values(seq=seq, hash=prev))
        return len(rows)

    def adopt(self, session: Session) -> int:
        """On an empty chain, record the rows that existed before it; return how many.

        Run at start-up: a database upgraded from a version without the chain
        gets its current state as the chain's starting point.
        """
        if self.head(session).seq != 0:
            return 0
        noted = {
            t.kind: list(session.scalars(select(t.model.id).order_by(t.model.id))) for t in TRACKED
        }
        if not any(noted.values()):
            return 0
        counts = {kind: len(ids) for kind, ids in noted.items()}
        self.append(session, [("adopted", "chain", {"rows_before_the_chain": counts})])
        return self.seal(session, noted) + 1

    # -- reading --------------------------------------------------------------------------

    @staticmethod
    def _rows(session: Session, tracked: Tracked, ids: list[int]) -> list[Row[Any]]:
        table = tracked.model.__table__
        rows: list[Row[Any]] = []
        for start in range(0, len(ids), 500):  # bounded IN lists
            chunk = ids[start : start + 500]
            rows += session.execute(select(table).where(table.c.id.in_(chunk))).all()
        return rows

    @staticmethod
    def last_states(session: Session, subjects: list[str]) -> dict[str, State]:
        """Return the newest recorded data of each subject that has a record."""
        found: dict[str, State] = {}
        for start in range(0, len(subjects), 500):
            chunk = subjects[start : start + 500]
            newest = (
                select(func.max(ChainRecord.seq))
                .where(ChainRecord.subject.in_(chunk))
                .group_by(ChainRecord.subject)
            )
            for subject, data in session.execute(
                select(ChainRecord.subject, ChainRecord.data).where(ChainRecord.seq.in_(newest))
            ):
                found[subject] = json.loads(data)
        return found

    @staticmethod
    def head(session: Session) -> Head:
        """Return the newest record's number, hash and time."""
        head = session.get(ChainHead, 1)
        if head is None or head.seq == 0:
            return Head(0, GENESIS)
        at = session.scalar(select(ChainRecord.at).where(ChainRecord.seq == head.seq))
        return Head(head.seq, head.hash, at)

    # -- verifying ------------------------------------------------------------------------

    def verify(
        self, session: Session, anchors: Iterable[tuple[int, str]] = (), max_problems: int = 50
    ) -> VerifyReport:
        """Walk the chain, check every link and anchor, and reconcile it with the tables.

        Reports the first broken link (later links cannot be trusted once one
        breaks), a head that is not the last record, every anchor that does
        not match, and every tracked row that differs from the last state the
        chain recorded for it, is missing from it, or was deleted.
        """
        report = VerifyReport()
        wanted = {seq: h.lower() for seq, h in anchors}
        seen_anchors: set[int] = set()
        last: dict[str, State] = {}
        prev, expected, broken = GENESIS, 1, False
        mismatched: dict[int, str] = {}
        # Anchors published before a redaction (``audit redact``) were checked against
        # the chain as it was, and the statement in the new chain lists them.
        vouched: list[tuple[int, str]] = []
        chain_problems = report.chain_problems
        for record in self._walk(session):
            report.records += 1
            if record.seq in wanted:
                seen_anchors.add(record.seq)
                if not record.hash.startswith(wanted[record.seq]):
                    mismatched[record.seq] = record.hash
            if not broken:
                problem = self._link_problem(record, expected, prev)
                if problem:
                    chain_problems.append(problem)
                    broken = True
            prev, expected = record.hash, record.seq + 1
            if record.kind in _BY_KIND:
                try:
                    last[record.subject] = json.loads(record.data)
                except ValueError:
                    chain_problems.append(f"record #{record.seq} holds unreadable data")
            elif record.kind == REDACTION_KIND:
                vouched += _vouched_anchors(record.data)
        for seq, held in sorted(mismatched.items()):
            if not any(s == seq and h.startswith(wanted[seq]) for s, h in vouched):
                chain_problems.append(
                    f"anchor #{seq} does not match: the chain holds {held}, "
                    f"the anchor says {wanted[seq]}"
                )
        for seq in sorted(set(wanted) - seen_anchors):
            chain_problems.append(f"anchor #{seq} is not in the chain (it was cut short)")

        head = session.get(ChainHead, 1)
        report.head = Head(head.seq, head.hash) if head else Head(0, GENESIS)
        if head is None or (head.seq, head.hash) != (expected - 1, prev):
            chain_problems.append(
                f"the head (#{report.head.seq}) is not the last record (#{expected - 1})"
            )
        report.problems.extend(chain_problems)
        self._reconcile(session, last, report)
        if len(report.problems) > max_problems:
            more = len(report.problems) - max_problems
            report.problems = [*report.problems[:max_problems], f"... and {more} more"]
        return report

    @staticmethod
    def _walk(session: Session) -> Iterator[ChainRecord]:
        query = select(ChainRecord).order_by(ChainRecord.seq).execution_options(yield_per=1000)
        for record in session.scalars(query):
            yield record
            session.expunge(record)  # keep memory flat on a long chain

    @staticmethod
    def _link_problem(record: ChainRecord, expected: int, prev: str) -> str | None:
        if record.seq != expected:
            return f"record #{expected} is missing (the next one is #{record.seq})"
        if record.prev_hash != prev:
            return f"record #{record.seq} does not link to record #{record.seq - 1}"
        digest = link_hash(
            record.prev_hash, record.seq, record.at, record.kind, record.subject, record.data
        )
        if digest != record.hash:
            return f"record #{record.seq} was changed after it was written (hash mismatch)"
        return None

    def _reconcile(self, session: Session, last: dict[str, State], report: VerifyReport) -> None:
        for tracked in TRACKED:
            table = tracked.model.__table__
            matched = 0
            live_ids: set[int] = set()
            query = select(table).order_by(table.c.id).execution_options(yield_per=1000)
            for row in session.execute(query):
                subject = f"{tracked.kind}:{row.id}"
                live_ids.add(row.id)
                recorded = last.get(subject)
                state = tracked.state(row, self.phone_key)
                name = self.describe(tracked.kind, row)
                if recorded is None:
                    report.problems.append(f"{name} is not in the chain")
                elif recorded != state:
                    changes = ", ".join(
                        f"{k} {recorded.get(k)!r} -> {state[k]!r}"
                        for k in sorted(state)
                        if state[k] != recorded.get(k)
                    )
                    report.problems.append(f"{name} differs from the chain: {changes}")
                else:
                    matched += 1
            prefix = f"{tracked.kind}:"
            for subject, recorded in last.items():
                if (
                    subject.startswith(prefix)
                    and recorded != {"deleted": True}
                    and int(subject[len(prefix) :]) not in live_ids
                ):
                    report.problems.append(f"{subject} is in the chain but its row was deleted")
            report.matched[tracked.kind] = matched

    @staticmethod
    def describe(kind: str, row: Row[Any]) -> str:
        """Name a tracked row for a report, without personal data."""
        if kind == "booking":
            return f"booking {row.office_code}-{row.queue_seq:03d} {row.booking_date} (id {row.id})"
        if kind == "lottery_round":
            return f"lottery round {row.office_code} {row.day} (id {row.id})"
        return f"{kind.replace('_', ' ')} {row.id}"

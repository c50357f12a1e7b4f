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

What a record holds and how it is hashed is ``chain_records.py``; checking the
chain, ``chain_verify.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from sms_gateway.models import ChainHead, ChainRecord
from sms_gateway.services.chain_records import (
    ANON_PREFIX,
    BY_KIND,
    BY_MODEL,
    GENESIS,
    TRACKED,
    Head,
    State,
    Tracked,
    is_anonymised,
    new_record,
    phone_key_of,
)
from sms_gateway.services.chain_verify import VerifyReport, verify_chain

# An anchor may be given as a prefix of its hash (an SMS shows it in full, a
# notice board may not), but never so short that it could be matched by chance.
MIN_ANCHOR_HEX = 16

_NOTED = "audit_chain.noted"  # session.info key: {kind: {row id, ...}}


def note(session: Session, kind: str, ids: Iterable[int]) -> None:
    """Have the chain look at these rows at commit (for changes made by bulk UPDATEs)."""
    if kind not in BY_KIND:
        raise ValueError(f"{kind!r} is not a tracked kind")
    session.info.setdefault(_NOTED, {}).setdefault(kind, set()).update(ids)


class AuditChain:
    """Append to the chain at commit, and check it against itself and the tables."""

    def __init__(self, secret: bytes, clock: Callable[[], datetime]) -> None:
        self._key = phone_key_of(secret)
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
        return BY_KIND[kind].state(row, self.phone_key)

    # -- recording ------------------------------------------------------------------------

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Record every tracked change made through sessions of this factory."""
        event.listen(sessions, "after_flush", self._collect)
        event.listen(sessions, "before_commit", self._before_commit)
        event.listen(sessions, "after_rollback", self._forget)

    def _collect(self, session: Session, _flush_context: object) -> None:
        noted = None
        for obj in (*session.new, *session.dirty, *session.deleted):
            tracked = BY_MODEL.get(type(obj))
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
            tracked = BY_KIND[kind]
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

    def verify(
        self, session: Session, anchors: Iterable[tuple[int, str]] = (), max_problems: int = 50
    ) -> VerifyReport:
        """Walk the chain, check every link and anchor, and reconcile it with the tables.

        See ``chain_verify.verify_chain``.
        """
        return verify_chain(session, self.phone_key, anchors, max_problems)

"""Checking the audit chain: every link, every anchor, and every tracked row against it.

``verify_chain`` walks the chain once, in order: the first broken link is
reported (later links cannot be trusted once one breaks), then the head, the
anchors (a hash published earlier, perhaps by SMS to the office head) and,
last, every tracked row that differs from the last state the chain recorded
for it, is missing from it, or was deleted. ``AuditChain.verify`` runs it with
the chain's phone key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from sms_gateway.models import ChainHead, ChainRecord
from sms_gateway.services.chain_records import (
    BY_KIND,
    GENESIS,
    REDACTION_KIND,
    TRACKED,
    Head,
    KeyFn,
    State,
    describe,
    link_hash,
)


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


def verify_chain(
    session: Session,
    key: KeyFn,
    anchors: Iterable[tuple[int, str]] = (),
    max_problems: int = 50,
) -> VerifyReport:
    """Walk the chain, check every link and anchor, and reconcile it with the tables.

    ``key`` hashes phone numbers as the chain records them. Reports the first
    broken link (later links cannot be trusted once one breaks), a head that
    is not the last record, every anchor that does not match, and every
    tracked row that differs from the last state the chain recorded for it,
    is missing from it, or was deleted.
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
    for record in _walk(session):
        report.records += 1
        if record.seq in wanted:
            seen_anchors.add(record.seq)
            if not record.hash.startswith(wanted[record.seq]):
                mismatched[record.seq] = record.hash
        if not broken:
            problem = _link_problem(record, expected, prev)
            if problem:
                chain_problems.append(problem)
                broken = True
        prev, expected = record.hash, record.seq + 1
        if record.kind in BY_KIND:
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
    _reconcile(session, key, last, report)
    if len(report.problems) > max_problems:
        more = len(report.problems) - max_problems
        report.problems = [*report.problems[:max_problems], f"... and {more} more"]
    return report


def _vouched_anchors(data: str) -> list[tuple[int, str]]:
    """Return the anchors a redaction statement says matched the chain it replaced."""
    try:
        anchors = json.loads(data).get("anchors_checked", [])
        return [(int(seq), str(digest)) for seq, digest in anchors]
    except (ValueError, TypeError, AttributeError):
        return []


def _walk(session: Session) -> Iterator[ChainRecord]:
    """Yield every record in order, keeping memory flat on a long chain."""
    query = select(ChainRecord).order_by(ChainRecord.seq).execution_options(yield_per=1000)
    for record in session.scalars(query):
        yield record
        session.expunge(record)  # keep memory flat on a long chain


def _link_problem(record: ChainRecord, expected: int, prev: str) -> str | None:
    """Return what is wrong with a record's link to the one before it, if anything."""
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


def _reconcile(session: Session, key: KeyFn, last: dict[str, State], report: VerifyReport) -> None:
    """Report every tracked row that differs from, is missing from, or left the chain."""
    for tracked in TRACKED:
        table = tracked.model.__table__
        matched = 0
        live_ids: set[int] = set()
        query = select(table).order_by(table.c.id).execution_options(yield_per=1000)
        for row in session.execute(query):
            subject = f"{tracked.kind}:{row.id}"
            live_ids.add(row.id)
            recorded = last.get(subject)
            state = tracked.state(row, key)
            name = describe(tracked.kind, row)
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

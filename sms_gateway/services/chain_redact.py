"""Repair a database whose append-only tables hold personal data in clear.

Before ``redact.py`` became the storage boundary, a staff command typed with a
full NIK (``HADIR <PIN> <KODE> <NIK>``, ``BLOKIR <PIN> <NIK>``) was kept in
clear in ``audit_log`` and, through it, in ``audit_chain``: two tables the
database refuses to change. ``sms-gateway audit redact`` rewrites them once:

1. It verifies the chain as it is (every link, and the anchors the kepala
   published). A chain that does not verify is refused: rewriting it would
   launder the tampering. Without anchors the operator must waive them
   explicitly (``--without-anchors``), and the statement says so.
2. In one transaction, with the append-only triggers set aside for that
   transaction only, it masks ``audit_log.command`` and the ``command`` of
   every staff-command record, relinks every record from the first one that
   changed (same numbers, times and subjects; new hashes), and masks the
   message log and the staff-given reasons too.
3. It appends a statement signed with the gateway's secret: the old head, the
   new head, the anchors it checked against the old chain and how many
   records it rewrote. ``audit verify --anchor`` accepts an old anchor that the
   statement lists, so anchors published before the repair still prove
   something; the new head is the one to publish from now on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from sms_gateway.models import (
    AuditEntry,
    Block,
    ChainHead,
    ChainRecord,
    Direction,
    Message,
    OfficeClosure,
)
from sms_gateway.redact import redact, redact_command
from sms_gateway.services.chain import AuditChain
from sms_gateway.services.chain_records import REDACTION_KIND, Head, canonical, link_hash

BATCH = 1000
_APPEND_ONLY = ("audit_log", "audit_chain")


class RedactionRefused(Exception):
    """The chain cannot be redacted as asked; the message says why and what to do."""


@dataclass(frozen=True)
class RedactionResult:
    """What ``redact_chain`` changed."""

    old_head: Head
    new_head: Head
    records_rewritten: int
    audit_rows: int
    messages: int
    reasons: int


def statement_key(secret: bytes) -> bytes:
    """Return the key that signs redaction statements (the secret, domain-separated)."""
    return hmac.new(secret, b"audit-chain redaction", hashlib.sha256).digest()


def sign(secret: bytes, statement: dict[str, Any]) -> str:
    """Return the HMAC-SHA256 of a statement's canonical JSON (without its signature)."""
    body = canonical({k: v for k, v in statement.items() if k != "signature"})
    return hmac.new(statement_key(secret), body.encode("utf-8"), hashlib.sha256).hexdigest()


def redact_chain(
    session: Session,
    chain: AuditChain,
    secret: bytes,
    anchors: Iterable[tuple[int, str]],
    *,
    waive_anchors: bool = False,
) -> RedactionResult:
    """Mask personal data in the append-only tables and relink the chain (see module doc).

    Runs in the caller's transaction; raises RedactionRefused, changing nothing,
    when the chain does not verify or no anchor was given nor waived.
    """
    wanted = list(anchors)
    if not wanted and not waive_anchors:
        raise RedactionRefused(
            "give the anchors the kepala published (--anchor SEQ:HASH, from `audit head` or "
            "the daily SMS), or --without-anchors to rewrite a chain nobody has anchored"
        )
    _lock_head(session)
    report = chain.verify(session, wanted)
    if report.chain_problems:
        raise RedactionRefused(
            "the chain does not verify, so it is not rewritten (that would hide the damage): "
            + "; ".join(report.chain_problems[:3])
        )
    old_head = chain.head(session)
    checked = _full_anchors(session, wanted)

    with _append_only_lifted(session):
        audit_rows = _mask_audit_log(session)
        rewritten, first = _relink(session)
    messages, reasons = _mask_free_text(session)

    relinked = chain.head(session)
    statement: dict[str, Any] = {
        "old_head": {"seq": old_head.seq, "hash": old_head.hash},
        "new_head": {"seq": relinked.seq, "hash": relinked.hash},
        "first_rewritten": first,
        "records_rewritten": rewritten,
        "anchors_checked": checked,
        "anchors_waived": not wanted,
    }
    statement["signature"] = sign(secret, statement)
    chain.append(session, [(REDACTION_KIND, "chain", statement)])
    return RedactionResult(
        old_head=old_head,
        new_head=chain.head(session),
        records_rewritten=rewritten,
        audit_rows=audit_rows,
        messages=messages,
        reasons=reasons,
    )


def _lock_head(session: Session) -> None:
    # Nothing may append while the chain is rewritten under it.
    table = ChainHead.__table__
    session.execute(select(table.c.seq).where(table.c.id == 1).with_for_update()).first()
    if session.get_bind().dialect.name == "sqlite":
        # Take SQLite's write lock now rather than at the first UPDATE.
        session.execute(update(table).where(table.c.id == -1).values(seq=0))


def _full_anchors(session: Session, wanted: list[tuple[int, str]]) -> list[list[Any]]:
    """Return each anchor as [seq, the full hash it matched] (verify has checked them)."""
    out: list[list[Any]] = []
    for seq, _prefix in sorted(wanted):
        digest = session.scalar(select(ChainRecord.hash).where(ChainRecord.seq == seq))
        out.append([seq, digest])
    return out


@contextmanager
def _append_only_lifted(session: Session) -> Iterator[None]:
    """Set the append-only triggers of audit_log and audit_chain aside, in this transaction.

    PostgreSQL disables them with ALTER TABLE, which is transactional; SQLite
    drops them and re-creates them from their own stored definitions. Either
    way an error rolls the whole transaction back, triggers included.
    """
    if session.get_bind().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        for table in _APPEND_ONLY:
            session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        return
    saved = session.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('audit_log', 'audit_chain')"
        )
    ).all()
    for name, _sql in saved:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _name, sql in saved:
        session.execute(text(sql))


def _mask_audit_log(session: Session) -> int:
    table = AuditEntry.__table__
    changed = 0
    last = 0
    while True:
        rows = session.execute(
            select(table.c.id, table.c.command)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return changed
        for row_id, command in rows:
            if redact_command(command) != command:
                # The column type masks the value on its way in.
                session.execute(update(table).where(table.c.id == row_id).values(command=command))
                changed += 1
        last = rows[-1][0]


def _relink(session: Session) -> tuple[int, int | None]:
    """Mask the staff commands the chain recorded and relink from the first change.

    Returns how many records were rewritten and the number of the first one.
    """
    table = ChainRecord.__table__
    prev: str | None = None  # the new hash of the record before, once relinking began
    rewritten = 0
    first: int | None = None
    last = 0
    while True:
        rows = session.execute(
            select(table).where(table.c.seq > last).order_by(table.c.seq).limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            data = _masked_data(row.kind, row.data)
            if prev is None and data == row.data:
                continue  # before the first change, the record and its hash stand
            link = row.prev_hash if prev is None else prev
            digest = link_hash(link, row.seq, row.at, row.kind, row.subject, data)
            session.execute(
                update(table)
                .where(table.c.seq == row.seq)
                .values(data=data, prev_hash=link, hash=digest)
            )
            first = row.seq if first is None else first
            prev = digest
            rewritten += 1
        last = rows[-1].seq
    if prev is not None:
        head = ChainHead.__table__
        session.execute(update(head).where(head.c.id == 1).values(hash=prev))
    return rewritten, first


def _masked_data(kind: str, data: str) -> str:
    if kind != "staff_command":
        return data
    state = json.loads(data)
    command = state.get("command")
    if not isinstance(command, str) or redact_command(command) == command:
        return data
    state["command"] = redact_command(command)
    return canonical(state)


def _mask_free_text(session: Session) -> tuple[int, int]:
    """Mask message bodies and staff-given reasons written before the mask existed."""
    messages = 0
    table = Message.__table__
    last = 0
    while True:
        rows = session.execute(
            select(table.c.id, table.c.direction, table.c.body)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for row_id, direction, body in rows:
            masked = redact_command(body) if direction == Direction.IN.value else redact(body)
            if masked != body:
                session.execute(update(table).where(table.c.id == row_id).values(body=masked))
                messages += 1
        last = rows[-1][0]
    reasons = 0
    for model in (OfficeClosure, Block):
        mapped = model.__table__
        keys = list(mapped.primary_key.columns)
        for row in session.execute(select(*keys, mapped.c.reason)).all():
            *key, reason = row
            if reason and redact(reason) != reason:
                where = [column == value for column, value in zip(keys, key, strict=True)]
                session.execute(update(mapped).where(*where).values(reason=reason))
                reasons += 1
    return messages, reasons

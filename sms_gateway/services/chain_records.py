"""What the audit chain records: the tracked tables, a record's form and its hash.

A record's data is the canonical JSON of a tracked row's state (``TRACKED``
says which columns of which table); its hash links it to the record before it
(``link_hash``). Phone numbers are recorded as keyed hashes (the NIK secret,
domain-separated), and NIKs only as the HMAC the bookings table already
holds: the chain is append-only forever, so it must not become a second copy
of personal data. ``chain.py`` appends records, ``chain_verify.py`` checks them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from sms_gateway.models import AuditEntry, Booking, LotteryEntry, LotteryRound

GENESIS = "0" * 64  # what the first record links to
# What a phone number becomes when its retention ends or its owner sends HAPUS:
# this prefix and the chain's own keyed hash of it (``AuditChain.anonymise``).
ANON_PREFIX = "anon:"
_PHONE_DOMAIN = b"audit-chain phone"  # separates the phone key from the NIK's HMAC
_ANON = re.compile(rf"^{ANON_PREFIX}[0-9a-f]{{64}}$")

# The record ``audit redact`` appends: the old and new heads, signed.
REDACTION_KIND = "redaction"

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
BY_MODEL = {t.model: t for t in TRACKED}
BY_KIND = {t.kind: t for t in TRACKED}


def phone_key_of(secret: bytes) -> bytes:
    """Return the key phone numbers are hashed with in the chain (the secret, domain-separated)."""
    return hmac.new(secret, _PHONE_DOMAIN, hashlib.sha256).digest()


def pseudonym(secret: bytes, phone: str) -> str:
    """Return the value that replaces ``phone`` once it is anonymised (see ``anonymise``).

    The booking rules look a phone's history up under its number and under
    this value, so erasing a phone (HAPUS) never wipes its no-shows or the
    NIKs it booked for.
    """
    key = phone_key_of(secret)
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


@dataclass(frozen=True)
class Head:
    """The newest record of the chain (seq 0 and the genesis hash when it is empty)."""

    seq: int
    hash: str
    at: datetime | None = None


def describe(kind: str, row: Row[Any]) -> str:
    """Name a tracked row for a report, without personal data."""
    if kind == "booking":
        return f"booking {row.office_code}-{row.queue_seq:03d} {row.booking_date} (id {row.id})"
    if kind == "lottery_round":
        return f"lottery round {row.office_code} {row.day} (id {row.id})"
    return f"{kind.replace('_', ' ')} {row.id}"

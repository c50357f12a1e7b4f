"""Writing an applicant's request for an office day: a waitlist place or a lottery entry.

Both tables share the request's columns (``REQUEST_COLUMNS``): who
asked (phone, NIK) for which office, day and session. A place in line is
written from what the applicant asked (TUNGGU) or from a drawn lottery entry
that found no seat; a lottery entry from what the applicant asked (DAFTAR).
Either is taken back (BATAL) only while it is still pending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from sms_gateway.models import LotteryEntry, WaitlistEntry
from sms_gateway.rules import Ask
from sms_gateway.services.transitions import MOVED, Moved, change_entry

Entry = TypeVar("Entry", WaitlistEntry, LotteryEntry)

REQUEST_COLUMNS = ("office_code", "day", "session_name", "phone", "nik_hash", "nik_masked")


def asked(ask: Ask, nik_masked: str) -> dict[str, Any]:
    """Return the request columns of what an applicant asked for."""
    return {
        "office_code": ask.office.code,
        "day": ask.day,
        "session_name": ask.session.name if ask.session else None,
        "phone": ask.phone,
        "nik_hash": ask.nik_hash,
        "nik_masked": nik_masked,
    }


def same_request(entry: WaitlistEntry | LotteryEntry) -> dict[str, Any]:
    """Return the request columns of an existing place or entry, to carry it over."""
    return {column: getattr(entry, column) for column in REQUEST_COLUMNS}


def add_entry(
    session: Session, model: type[Entry], request: dict[str, Any], now: datetime, **own: Any
) -> Entry:
    """Write a place or entry for ``request`` (and ``own``, the table's own columns).

    Flushed at once: the one-per-phone and one-per-NIK indexes speak now,
    inside the caller's transaction.
    """
    entry = model(**request, created_at=now, **own)
    session.add(entry)
    session.flush()
    return entry


def withdraw_entry(
    session: Session, entry: Entry, pending: str, withdrawn: str, now: datetime
) -> Entry | Moved:
    """Give a place or entry the status ``withdrawn`` if it is still ``pending`` (BATAL).

    ``MOVED`` when it moved on while the caller looked (promoted, drawn): the
    caller reads again and finds what it became.
    """
    if not change_entry(session, type(entry), entry.id, pending, status=withdrawn, updated_at=now):
        return MOVED
    session.refresh(entry)
    return entry

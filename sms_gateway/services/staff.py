"""Staff members, their PINs and the audit log of everything they send.

A PIN is stored only as a salted scrypt hash. Five wrong PINs lock the staff
number for 30 minutes; every staff command, accepted or refused, is appended to
``audit_log`` (which the database keeps append-only) with the PIN masked.
Functions here run inside the caller's transaction, like the booking service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sms_gateway.models import AuditEntry, Staff, StaffRole

MAX_WRONG_PINS = 5
LOCKOUT = timedelta(minutes=30)
PIN_RE = re.compile(r"^\d{4,8}$")

# scrypt parameters: about 50 ms and 16 MiB per check on a small server, which
# makes guessing a 6-digit PIN offline expensive while a counter SMS stays quick.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16


class StaffError(ValueError):
    """A staff administration request that cannot be done (CLI-facing)."""


def hash_pin(pin: str) -> str:
    """Return a salted scrypt hash of ``pin`` in a self-describing text form."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


class VerifiedPins:
    """Remember, for a few minutes, which PIN last passed scrypt for a stored hash.

    A counter sends HADIR, PANGGIL and SELESAI all day with the same PIN; each
    scrypt costs about 50 ms of CPU. After one successful check, the same PIN
    against the same stored hash is accepted by comparing a keyed hash held in
    this process's memory only (the key is random per process), until ``ttl``
    passes. A wrong PIN always goes through scrypt and the lockout count; a
    reset PIN changes the stored hash, so nothing remembered for the old one
    matches. Nothing here is written anywhere.
    """

    def __init__(
        self,
        ttl: float = 15 * 60,
        size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._key = secrets.token_bytes(32)
        self._seen: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _tag(self, pin: str) -> bytes:
        return hmac.new(self._key, pin.encode(), hashlib.sha256).digest()

    def matches(self, pin: str, stored: str) -> bool:
        """Return True when ``pin`` passed scrypt against ``stored`` within the ttl."""
        with self._lock:
            entry = self._seen.get(stored)
        if entry is None or self.clock() >= entry[0]:
            return False
        return hmac.compare_digest(entry[1], self._tag(pin))

    def remember(self, pin: str, stored: str) -> None:
        """Record that ``pin`` just passed scrypt against ``stored``."""
        with self._lock:
            self._seen[stored] = (self.clock() + self.ttl, self._tag(pin))
            self._seen.move_to_end(stored)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


_VERIFIED = VerifiedPins()


def check_pin(pin: str, stored: str, verified: VerifiedPins | None = _VERIFIED) -> bool:
    """Return True when ``pin`` matches the stored hash (constant-time comparison).

    ``verified`` skips scrypt for a PIN that passed it moments ago (see
    VerifiedPins); None always runs scrypt.
    """
    if verified is not None and verified.matches(pin, stored):
        return True
    if not _scrypt_matches(pin, stored):
        return False
    if verified is not None:
        verified.remember(pin, stored)
    return True


def _scrypt_matches(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            pin.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def validate_pin(pin: str) -> str:
    """Return the PIN if it is 4 to 8 digits, else raise StaffError."""
    pin = pin.strip()
    if not PIN_RE.match(pin):
        raise StaffError("a PIN is 4 to 8 digits")
    return pin


def staff_by_phone(session: Session, phone: str) -> Staff | None:
    """Return the staff member registered for this phone, if any."""
    return session.scalars(select(Staff).where(Staff.phone == phone)).first()


def add_staff(
    session: Session,
    *,
    phone: str,
    office: str,
    role: StaffRole,
    name: str,
    pin: str,
    now: datetime,
) -> Staff:
    """Register a staff phone for an office."""
    if staff_by_phone(session, phone) is not None:
        raise StaffError(f"{phone} is already registered as staff")
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise StaffError("a name is 1 to 64 characters")
    staff = Staff(
        phone=phone,
        office_code=office,
        role=role,
        name=name,
        pin_hash=hash_pin(validate_pin(pin)),
        failed_pins=0,
        created_at=now,
    )
    session.add(staff)
    session.flush()
    return staff


def remove_staff(session: Session, phone: str) -> Staff:
    """Remove a staff phone; its audit entries stay."""
    staff = staff_by_phone(session, phone)
    if staff is None:
        raise StaffError(f"{phone} is not registered as staff")
    session.delete(staff)
    return staff


def reset_pin(session: Session, phone: str, pin: str) -> Staff:
    """Set a new PIN and lift any lockout."""
    staff = staff_by_phone(session, phone)
    if staff is None:
        raise StaffError(f"{phone} is not registered as staff")
    staff.pin_hash = hash_pin(validate_pin(pin))
    staff.failed_pins = 0
    staff.locked_until = None
    return staff


def count_wrong_pin(session: Session, staff_id: int, now: datetime) -> None:
    """Count one wrong PIN; the fifth in a row locks the phone for 30 minutes.

    The count is incremented in the database, not in Python, so wrong PINs sent
    at the same moment all count.
    """
    failed = session.execute(
        update(Staff)
        .where(Staff.id == staff_id)
        .values(failed_pins=Staff.failed_pins + 1)
        .returning(Staff.failed_pins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if failed >= MAX_WRONG_PINS:
        session.execute(
            update(Staff)
            .where(Staff.id == staff_id)
            .values(failed_pins=0, locked_until=now + LOCKOUT)
            .execution_options(synchronize_session=False)
        )


def audit(
    session: Session, *, now: datetime, phone: str, staff: Staff | None, command: str, outcome: str
) -> None:
    """Append one entry to the audit log (the command text with its PIN masked)."""
    session.add(
        AuditEntry(
            at=now,
            phone=phone,
            staff_name=staff.name if staff else None,
            office_code=staff.office_code if staff else None,
            command=command[:500],
            outcome=outcome[:32],
        )
    )


def audit_entries(session: Session, since: datetime | None = None) -> list[AuditEntry]:
    """Return audit entries in time order, optionally from ``since`` on."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(session.scalars(query))


def kepala_phones(session: Session, office_code: str | None = None) -> list[str]:
    """Return the phones of office heads (all offices, or one), for notices to them."""
    query = select(Staff.phone).where(Staff.role == StaffRole.KEPALA).order_by(Staff.phone)
    if office_code is not None:
        query = query.where(Staff.office_code == office_code)
    return list(session.scalars(query))

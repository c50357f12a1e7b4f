"""What an applicant asks for: the ``Want`` and the parsed request (``Ask``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from sms_gateway.config import OfficeSpec, SessionSpec
from sms_gateway.rules.facts import HeldBooking


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

"""Domain errors: requests the gateway refuses.

Handlers and services raise these; ``application/router.py`` turns each one into a reply in
one place (``replies.refusal``), and the service rolls back whatever the
handler had changed, so a refusal never changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sms_gateway.config import OfficeSpec, SessionSpec
from sms_gateway.dates import DateProblem
from sms_gateway.models import Booking, LotteryEntry, WaitlistEntry
from sms_gateway.nik import NikPart


class DomainError(Exception):
    """A request the gateway refuses, with everything the reply needs."""


@dataclass
class InvalidNik(DomainError):
    # A part found wrong, or no NIK at all, or the NIK shown in the usage texts.
    part: NikPart | Literal["missing", "example"]
    detail: str = ""


@dataclass
class InvalidDate(DomainError):
    kind: DateProblem
    text: str
    suggestion: date | None  # the earliest date that can be booked, for the example


@dataclass
class DateNotBookable(DomainError):
    kind: Literal["past", "too_soon", "too_far", "closed"]
    day: date
    office: OfficeSpec
    next_open: date | None
    reason: str = ""  # for "closed": the holiday or weekday
    limit_days: int = 0  # for "too_soon"/"too_far": the configured limit


@dataclass
class UnknownWord(DomainError):
    """A trailing word that is neither an office code nor a session name."""

    word: str
    office: OfficeSpec
    offices: tuple[OfficeSpec, ...]


@dataclass
class UnknownSession(DomainError):
    name: str
    office: OfficeSpec


@dataclass
class SessionFull(DomainError):
    office: OfficeSpec
    day: date
    session: SessionSpec | None  # the session asked for, None when the whole day is full
    other_session: SessionSpec | None  # a session of the same day with free seats
    next_day: date | None  # the next open day with a free seat


@dataclass
class PhoneHasBooking(DomainError):
    booking: Booking


@dataclass
class NikHasBooking(DomainError):
    booking: Booking


@dataclass
class NoActiveBooking(DomainError):
    for_cancel: bool = False


@dataclass
class WrongBookingCode(DomainError):
    given: str
    booking: Booking


@dataclass
class Blocked(DomainError):
    kind: Literal["phone", "nik"]
    until: date
    reason: str = ""


class StaffRefusal(DomainError):
    """A staff command refused for a reason named by its reply template.

    Staff refusals are many and each needs only its template's fields, so one
    class carries them instead of one class each; replies.py still maps them in
    one place.
    """

    def __init__(self, key: str, **fields: object) -> None:
        super().__init__(key)
        self.key = key
        self.fields = fields


@dataclass
class WrongPin(DomainError):
    tries_left: int
    usage: str


@dataclass
class StaffLocked(DomainError):
    until: datetime  # aware


@dataclass
class WrongRole(DomainError):
    keyword: str


@dataclass
class StaffUsage(DomainError):
    usage: str
    problem: str = ""


@dataclass
class Penalized(DomainError):
    until: date
    no_shows: int
    window_days: int


@dataclass
class TooManyNiks(DomainError):
    limit: int


@dataclass
class AlreadyWaiting(DomainError):
    entry: WaitlistEntry
    same_phone: bool


@dataclass
class CannotMove(DomainError):
    reason: str  # "checked_in" | "too_many" | "same"
    booking: Booking
    limit: int = 0


@dataclass
class NotWaitlistable(DomainError):
    """TUNGGU for a day that still has seats: DAFTAR is the way."""

    office: OfficeSpec
    day: date


# -- lottery allocation (services/lottery.py) ----------------------------------------------


@dataclass
class LotteryNotOpen(DomainError):
    """A lottery office day whose entry window has not opened yet."""

    office: OfficeSpec
    day: date
    opens: datetime


@dataclass
class LotteryPending(DomainError):
    """UBAH or TUNGGU into a day that is still given out by lottery: enter with DAFTAR."""

    office: OfficeSpec
    day: date
    closes: datetime
    has_booking: bool


@dataclass
class LotteryDrawing(DomainError):
    """The window closed and the draw has not run yet: seats are not first come yet."""

    office: OfficeSpec
    day: date


@dataclass
class AlreadyEntered(DomainError):
    """The phone or NIK is in a draw already: that is its one request."""

    entry: LotteryEntry
    same_phone: bool


# -- a data subject's requests (UU PDP No. 27/2022; services/retention.py) ---------------


@dataclass
class StillHolding(DomainError):
    """HAPUS while the phone still holds a booking, a waitlist place or a draw entry.

    Its phone must stay on it: the office calls, checks in and reminds by it.
    Exactly one of the three is set.
    """

    booking: Booking | None = None
    waiting: WaitlistEntry | None = None
    entered: LotteryEntry | None = None

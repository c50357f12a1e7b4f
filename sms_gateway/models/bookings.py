"""Bookings and what counts them: seat counters, queue numbers, booking attempts.

The rules that matter are constraints here, not only checks in Python: the
partial unique indexes ``one_active_booking_per_phone`` and
``one_active_booking_per_nik`` hold across all offices, and queue numbers are
unique per office and day. Quotas are enforced by the atomic conditional
update in ``services/booking.py`` on ``session_slots``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.base import Base
from sms_gateway.models.columns import (
    NOT_ANONYMISED,
    PHONE_OR_PSEUDONYM,
    UTCDateTime,
    partial_index,
    string_enum,
)
from sms_gateway.models.statuses import BookingStatus

ACTIVE_ONLY = text("status IN ('active', 'checked_in', 'called')")  # = HOLDING


class Booking(Base):
    """One applicant's seat in one office session on one day."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_code: Mapped[str] = mapped_column(String(8))
    booking_date: Mapped[date] = mapped_column(Date)
    session_name: Mapped[str] = mapped_column(String(16))
    queue_seq: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM))
    nik_hash: Mapped[str] = mapped_column(String(64))
    nik_masked: Mapped[str] = mapped_column(String(16))
    status: Mapped[BookingStatus] = mapped_column(
        string_enum(BookingStatus, "booking_status", length=24), default=BookingStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    served_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    counter: Mapped[str | None] = mapped_column(String(8), nullable=True)  # the loket called to
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reschedules: Mapped[int] = mapped_column(Integer, default=0)  # UBAH so far
    # BATAL after the confirmation deadline: counts as a no-show for penalties.
    late_cancel: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        partial_index("one_active_booking_per_phone", "phone", where=ACTIVE_ONLY, unique=True),
        partial_index("one_active_booking_per_nik", "nik_hash", where=ACTIVE_ONLY, unique=True),
        UniqueConstraint(
            "office_code", "booking_date", "queue_seq", name="queue_number_once_per_office_day"
        ),
        Index("ix_bookings_day", "booking_date", "office_code"),
        Index("ix_bookings_phone", "phone"),
        Index("ix_bookings_nik_hash", "nik_hash"),
        partial_index("ix_bookings_unpurged", "booking_date", where=NOT_ANONYMISED),
    )

    @property
    def queue_number(self) -> str:
        """Return the number the applicant shows at the counter, e.g. ``PMK-007``."""
        return format_queue_number(self.office_code, self.queue_seq)


def format_queue_number(office_code: str, seq: int) -> str:
    """Format a queue number: office code, hyphen, at least three digits."""
    return f"{office_code}-{seq:03d}"


class SessionSlot(Base):
    """Seats taken in one office session on one day: the row the quota update locks."""

    __tablename__ = "session_slots"

    office_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    slot_date: Mapped[date] = mapped_column(Date, primary_key=True)
    session_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    # NULL means "the quota in the config"; staff overrides (a later issue) set it.
    quota_override: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # TUTUP sets it, BUKA clears it. The claim of a seat is conditional on it, so a
    # booking racing with the closure either commits before TUTUP reads the day's
    # bookings (and is cancelled with them) or finds the counter closed.
    closed: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (CheckConstraint("booked >= 0", name="booked_not_negative"),)


class OfficeDay(Base):
    """The last queue number handed out for an office day; numbers are never reused."""

    __tablename__ = "office_days"

    office_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_queue_seq: Mapped[int] = mapped_column(Integer, default=0)


class BookingAttempt(Base):
    """Every DAFTAR/TUNGGU with a valid NIK, whatever the outcome: the fraud report's source."""

    __tablename__ = "booking_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM), index=True)
    nik_hash: Mapped[str] = mapped_column(String(64), index=True)
    nik_masked: Mapped[str] = mapped_column(String(16))
    office_code: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(32))

    __table_args__ = (partial_index("ix_booking_attempts_unpurged", "at", where=NOT_ANONYMISED),)

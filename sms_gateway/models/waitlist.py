"""The waitlist: places in line for full office days (TUNGGU)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.base import Base
from sms_gateway.models.columns import NOT_ANONYMISED, UTCDateTime, partial_index, string_enum
from sms_gateway.models.requests import ApplicantRequest
from sms_gateway.models.statuses import WaitStatus

WAITING_ONLY = text("status = 'waiting'")


class WaitlistEntry(ApplicantRequest, Base):
    """A place in line for a full office day (TUNGGU); promoted when a seat frees up.

    A waiting entry is the phone's and the NIK's one request, like a booking.
    """

    __tablename__ = "waitlist"

    status: Mapped[WaitStatus] = mapped_column(
        string_enum(WaitStatus, "wait_status"), default=WaitStatus.WAITING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True)

    __table_args__ = (
        partial_index("one_waiting_entry_per_phone", "phone", where=WAITING_ONLY, unique=True),
        partial_index("one_waiting_entry_per_nik", "nik_hash", where=WAITING_ONLY, unique=True),
        Index("ix_waitlist_line", "office_code", "day", "status", "id"),
        Index("ix_waitlist_phone", "phone", "created_at"),  # rule 11 (rules/decision.py)
        partial_index("ix_waitlist_unpurged", "day", where=NOT_ANONYMISED),
    )

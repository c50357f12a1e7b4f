"""Staff members and the log of their commands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.base import Base
from sms_gateway.models.columns import Redacted, UTCDateTime, string_enum
from sms_gateway.models.statuses import StaffRole


class Staff(Base):
    """A staff member who may send staff commands from this phone, with a PIN."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    office_code: Mapped[str] = mapped_column(String(8))
    role: Mapped[StaffRole] = mapped_column(string_enum(StaffRole, "staff_role"))
    name: Mapped[str] = mapped_column(String(64))
    pin_hash: Mapped[str] = mapped_column(String(255))  # scrypt, see staff.py
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One staff command, accepted or refused. Append-only (database triggers)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    staff_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    office_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    command: Mapped[str] = mapped_column(Redacted(command=True))  # PIN and NIK masked
    outcome: Mapped[str] = mapped_column(String(32))  # "ok", or why it was refused

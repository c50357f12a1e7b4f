"""What staff set on top of the configuration: closed days (TUTUP) and blocks (BLOKIR)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.base import Base
from sms_gateway.models.columns import Redacted, UTCDateTime, string_enum
from sms_gateway.models.statuses import BlockKind


class OfficeClosure(Base):
    """A day an office was closed by its head (TUTUP), on top of the configured calendar."""

    __tablename__ = "office_closures"

    office_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(Redacted(64), default="")
    closed_by: Mapped[str] = mapped_column(String(20))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Block(Base):
    """A phone or NIK barred from booking until a date (BLOKIR; penalties later)."""

    __tablename__ = "blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[BlockKind] = mapped_column(string_enum(BlockKind, "block_kind"))
    value: Mapped[str] = mapped_column(String(64))  # E.164 phone, or the NIK's HMAC
    masked: Mapped[str] = mapped_column(String(20))  # what staff may see
    until: Mapped[date] = mapped_column(Date)  # last day of the block
    reason: Mapped[str] = mapped_column(Redacted(64), default="")
    created_by: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_blocks_value", "kind", "value"),)

"""Lottery days: one round (the draw) per office day, and its entries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.base import Base
from sms_gateway.models.columns import NOT_ANONYMISED, UTCDateTime, partial_index, string_enum
from sms_gateway.models.requests import REQUEST_ORDER, ApplicantRequest
from sms_gateway.models.statuses import EntryStatus, LotteryStatus


class LotteryRound(Base):
    """The draw for one office day in lottery mode (see services/lottery.py).

    ``commitment`` (SHA-256 of the round's secret) is written, and recorded in
    the audit chain, before the window opens; ``secret`` is revealed at the
    draw. Anyone can then check the commitment and re-run the draw.
    """

    __tablename__ = "lottery_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_code: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    commitment: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str | None] = mapped_column(String(64), nullable=True)  # revealed at the draw
    seed: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entries_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[LotteryStatus] = mapped_column(
        string_enum(LotteryStatus, "lottery_status"), default=LotteryStatus.OPEN
    )
    entries: Mapped[int] = mapped_column(Integer, default=0)  # counted at the draw
    winners: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("office_code", "day", name="one_lottery_per_office_day"),
        Index("ix_lottery_rounds_due", "status", "closes_at"),
    )


ENTERED_ONLY = text("status = 'entered'")


class LotteryEntry(ApplicantRequest, Base):
    """One applicant's entry in a lottery round; the phone's and NIK's one request."""

    __tablename__ = "lottery_entries"

    round_id: Mapped[int] = mapped_column(ForeignKey("lottery_rounds.id"), sort_order=REQUEST_ORDER)
    status: Mapped[EntryStatus] = mapped_column(
        string_enum(EntryStatus, "entry_status"), default=EntryStatus.ENTERED
    )
    draw_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1 = drawn first
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True)
    waitlist_id: Mapped[int | None] = mapped_column(ForeignKey("waitlist.id"), nullable=True)

    __table_args__ = (
        partial_index("one_lottery_entry_per_phone", "phone", where=ENTERED_ONLY, unique=True),
        partial_index("one_lottery_entry_per_nik", "nik_hash", where=ENTERED_ONLY, unique=True),
        Index("ix_lottery_entries_round", "round_id", "status"),
        Index("ix_lottery_entries_phone", "phone", "created_at"),  # rule 11 (rules/decision.py)
        partial_index("ix_lottery_entries_unpurged", "day", where=NOT_ANONYMISED),
    )

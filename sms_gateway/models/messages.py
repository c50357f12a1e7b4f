"""Every SMS in or out (the outbox too) and the delivery reports about them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.base import Base
from sms_gateway.models.columns import (
    NOT_ANONYMISED,
    PHONE_OR_PSEUDONYM,
    Redacted,
    UTCDateTime,
    partial_index,
    string_enum,
)
from sms_gateway.models.statuses import DeliveryStatus, Direction, SendStatus

INBOUND_ONLY = text("direction = 'in'")


class Message(Base):
    """Every SMS in or out, NIK masked. Inbound rows also keep the reply for retries."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[Direction] = mapped_column(string_enum(Direction, "message_direction"))
    transport: Mapped[str] = mapped_column(String(16))
    # The provider's id (Twilio MessageSid); unique per transport so a retry is seen.
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM))
    gateway_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Inbound bodies arrive here already masked as commands (PIN too), by the
    # inbox; the column masks every other text, replies included.
    body: Mapped[str] = mapped_column(Redacted())
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Outbound only: our side of sending, and the latest delivery report.
    status: Mapped[SendStatus | None] = mapped_column(
        string_enum(SendStatus, "send_status"), nullable=True
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivery_status: Mapped[DeliveryStatus | None] = mapped_column(
        string_enum(DeliveryStatus, "delivery_status"), nullable=True
    )
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The outbox: how often a worker tried, when it may try again, when it went out.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        # Inbound only: a provider's retry of a message is answered once. Outbound ids
        # (an SMSD outbox file, a Twilio SID) are kept for reference and must never
        # stop the gateway from recording that a reply went out.
        partial_index(
            "one_message_per_provider_id",
            "transport",
            "external_id",
            where=INBOUND_ONLY,
            unique=True,
        ),
        # The hourly limit counts a phone's inbound messages (migration 0008).
        Index("ix_messages_phone_direction", "phone", "direction", "created_at"),
        Index("ix_messages_outbox", "status", "next_attempt_at"),
        # A provider retry gets the reply stored for its first delivery (migration 0007).
        Index("ix_messages_reply_to", "reply_to_id"),
        # The retention purge finds old messages here (migration 0010).
        partial_index("ix_messages_unpurged", "created_at", where=NOT_ANONYMISED),
    )


class DeliveryReport(Base):
    """One delivery report as the provider sent it (append-only history)."""

    __tablename__ = "delivery_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    transport: Mapped[str] = mapped_column(String(16))
    code: Mapped[int] = mapped_column(Integer)  # the provider's own status code
    status: Mapped[DeliveryStatus] = mapped_column(string_enum(DeliveryStatus, "delivery_status"))
    detail: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

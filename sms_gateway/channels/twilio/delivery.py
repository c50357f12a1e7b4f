"""Twilio's status callbacks: its ``MessageStatus`` as our delivery status, its ``ErrorCode``."""

from __future__ import annotations

from collections.abc import Mapping

from sms_gateway.models import DeliveryStatus
from sms_gateway.services.outbound import MAX_INTEGER

# Twilio's MessageStatus values, mapped to ours.
TWILIO_STATUS: Mapping[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.ACCEPTED,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.REJECTED,
    "canceled": DeliveryStatus.REJECTED,
}


def error_code(raw: str) -> int | None:
    """Return a status callback's ErrorCode as a number (0 when absent), None if malformed.

    Only ASCII digits, and no larger than the column that keeps it: ``str.isdigit``
    also accepts superscripts and other digits that ``int`` refuses, and a number of
    thousands of digits would overflow the database (or ``int`` itself).
    """
    text = raw.strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_INTEGER)):
        return None
    code = int(text)
    return code if code <= MAX_INTEGER else None

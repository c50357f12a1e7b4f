"""What a handler gets to work with for one inbound message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from sms_gateway.config import OfficeSpec, Settings
from sms_gateway.messages import InboundMessage
from sms_gateway.schedule import OfficeCalendar
from sms_gateway.services.booking import BookingService


@dataclass(frozen=True)
class Context:
    """One message's world: its transaction, the clock reading and the services."""

    session: Session  # the inbox service's transaction; handlers never commit it
    message: InboundMessage
    now: datetime  # aware, read once per message
    office: OfficeSpec  # the office whose number received the SMS, else the first office
    settings: Settings
    calendar: OfficeCalendar
    bookings: BookingService

"""What a handler gets to work with for one inbound message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from sms_gateway.config import OfficeSpec
from sms_gateway.messages import InboundMessage
from sms_gateway.models import Staff
from sms_gateway.services.core import Core
from sms_gateway.services.wiring import Services


@dataclass(frozen=True)
class Context:
    """One message's world: its transaction, the clock reading and the services."""

    session: Session  # the inbox's transaction; handlers never commit it
    message: InboundMessage
    now: datetime  # aware, read once per message
    office: OfficeSpec  # the office whose number received the SMS, else the first office
    services: Services
    staff: Staff | None = None  # set for staff commands, after the PIN was checked
    # Writes that must stay even when the command is refused and its savepoint is
    # rolled back: the audit log entry, a wrong PIN counted.
    after: list[Callable[[Session], None]] = field(default_factory=list)

    @property
    def core(self) -> Core:
        """Settings, calendar, NIK key, clock: what every service is built on."""
        return self.services.core

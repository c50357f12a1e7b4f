"""Record outbound SMS and what became of them: sent, failed, delivered.

``send`` writes the message first (status pending) and commits, then hands it
to a sender, then records the outcome, so a crash in between leaves a pending
row to look at rather than an SMS nobody knows about. The staff issue turns
this into a transactional outbox with a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sms_gateway.models import DeliveryReport, DeliveryStatus, Direction, Message, SendStatus
from sms_gateway.nik import mask_niks_in_text
from sms_gateway.senders import Sender, SendError

log = logging.getLogger(__name__)

# Kannel's DLR types (REFERENCE.md 2.5).
KANNEL_DLR = {
    1: DeliveryStatus.DELIVERED,
    2: DeliveryStatus.UNDELIVERED,
    4: DeliveryStatus.QUEUED,
    8: DeliveryStatus.ACCEPTED,
    16: DeliveryStatus.REJECTED,
}


class Outbound:
    """The service for SMS the gateway sends on its own (not as an inline reply)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.clock = clock

    def send(self, sender: Sender, to: str, text: str) -> Message:
        """Record and send one SMS through ``sender``; raise SendError if it was refused."""
        with self.sessions.begin() as session:
            message = Message(
                direction=Direction.OUT,
                transport=sender.name,
                phone=to,
                body=mask_niks_in_text(text),
                created_at=self.clock(),
                status=SendStatus.PENDING,
            )
            session.add(message)
        self.deliver(sender, message.id, to, text)
        with self.sessions() as session:
            return session.get_one(Message, message.id)

    def deliver(self, sender: Sender, message_id: int, to: str, text: str) -> None:
        """Hand an already recorded message to ``sender`` and record the outcome."""
        try:
            external_id = sender.send(to, text, message_id)
        except SendError as exc:
            self._finish(message_id, SendStatus.FAILED, error=str(exc))
            raise
        self._finish(message_id, SendStatus.SENT, external_id=external_id)

    def _finish(
        self,
        message_id: int,
        status: SendStatus,
        *,
        external_id: str | None = None,
        error: str | None = None,
    ) -> None:
        with self.sessions.begin() as session:
            message = session.get_one(Message, message_id)
            message.status = status
            message.error = error
            if external_id:
                message.external_id = external_id[-64:]  # the distinctive end, if too long

    def record_delivery(
        self, transport: str, message_id: int, code: int, detail: str = ""
    ) -> DeliveryStatus | None:
        """Store a delivery report; return the new status, or None for an unknown message."""
        status = KANNEL_DLR.get(code) if transport == "kannel" else None
        if status is None:
            raise ValueError(f"unknown {transport} delivery status {code}")
        now = self.clock()
        with self.sessions.begin() as session:
            message = session.scalars(
                select(Message)
                .where(Message.id == message_id, Message.direction == Direction.OUT)
                # Kannel sends a message's reports at the same moment; lock the row so
                # "accepted" cannot overwrite a concurrent "delivered" (a lost update).
                .with_for_update()
            ).first()
            if message is None:
                return None
            session.add(
                DeliveryReport(
                    message_id=message_id,
                    transport=transport,
                    code=code,
                    status=status,
                    detail=detail[:255],
                    created_at=now,
                )
            )
            # Reports can arrive out of order ("SMSC accepted" after "delivered"):
            # an intermediate report never overwrites a final outcome.
            current = message.delivery_status
            if current is None or not current.final or status.final:
                message.delivery_status = status
                message.delivery_updated_at = now
            return message.delivery_status

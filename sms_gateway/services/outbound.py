"""Outbound SMS: a transactional outbox, the worker's drain, and delivery reports.

``enqueue`` writes a message in the caller's transaction, so a change and the
SMS it causes commit together or not at all (a closed day and its 200 notices).
``drain`` hands pending messages to a sender: it first claims a batch (status
``sending``) in a short transaction, so no two workers ever take the same row
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers, so one
worker is enough there), then sends outside any transaction and records the
outcome. Temporary failures are retried with exponential backoff; permanent
ones, or too many attempts, end as ``failed`` with the reason.

A worker that dies between claiming and recording leaves rows in ``sending``;
``recover_stale`` puts them back after a while. That one case can send an SMS
twice, which beats never sending it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from sms_gateway.config import OutboundSettings
from sms_gateway.db import rowcount
from sms_gateway.gsm import to_gsm7, truncate_to_segment
from sms_gateway.models import DeliveryReport, DeliveryStatus, Direction, Message, SendStatus
from sms_gateway.redact import redact
from sms_gateway.sending import Sender, SendError
from sms_gateway.services.tally import Tally

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(hours=1)
STALE_CLAIM = timedelta(minutes=10)

# The largest value an INTEGER column holds on PostgreSQL (messages.id,
# delivery_reports.code). A provider's number past it names no message of ours,
# and binding it would fail in the database (SQLite: OverflowError; PostgreSQL:
# "integer out of range") instead of being refused.
MAX_INTEGER = 2**31 - 1


def retry_delay(attempts: int) -> timedelta:
    """Return how long to wait after the ``attempts``-th failed try: 30 s, 1 min, 2 min..."""
    factor: int = 2 ** max(attempts - 1, 0)  # int ** int is typed Any (negative powers)
    return min(FIRST_RETRY * factor, MAX_RETRY_DELAY)


def one_segment(text: str) -> str:
    """Return ``text`` as plain GSM-7 cut to one SMS, as the message log will keep it.

    Masked here as the ``messages.body`` column would mask it, so that what is
    sent at once (``send``) is what the log holds and what a retry from the
    outbox would send (a SIARAN with a NIK in it goes out masked).
    """
    return truncate_to_segment(to_gsm7(redact(text)))


@dataclass
class DrainResult(Tally):
    """What one drain did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        """Return how many messages the drain took in hand."""
        return self.total


class Outbound:
    """The service for SMS the gateway sends on its own (not as an inline reply)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        settings: OutboundSettings | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.settings = settings or OutboundSettings()

    # -- writing ---------------------------------------------------------------------------

    def enqueue(self, session: Session, to: str, text: str, now: datetime) -> Message:
        """Put one SMS in the outbox, in the caller's transaction; the worker sends it."""
        message = Message(
            direction=Direction.OUT,
            transport=self.settings.sender,
            phone=to,
            body=one_segment(text),
            created_at=now,
            status=SendStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
        )
        session.add(message)
        return message

    def send(self, sender: Sender, to: str, text: str) -> Message:
        """Record and send one SMS through ``sender`` now; raise SendError if refused."""
        with self.sessions.begin() as session:
            message = Message(
                direction=Direction.OUT,
                transport=sender.name,
                phone=to,
                body=one_segment(text),
                created_at=self.clock(),
                status=SendStatus.SENDING,
                attempts=1,
            )
            session.add(message)
        self.deliver(sender, message.id, to, message.body)
        with self.sessions() as session:
            return session.get_one(Message, message.id)

    def deliver(self, sender: Sender, message_id: int, to: str, text: str) -> None:
        """Hand an already recorded message to ``sender`` and record the outcome."""
        try:
            external_id = sender.send(to, text, message_id)
        except SendError as exc:
            self._not_sent(message_id, str(exc))
            raise
        self._sent(message_id, external_id)

    def _sent(self, message_id: int, external_id: str | None, transport: str | None = None) -> None:
        """Record that a message went out, with the provider's id for it."""
        with self.sessions.begin() as session:
            message = session.get_one(Message, message_id)
            message.status = SendStatus.SENT
            if transport:
                # The channel that actually carried it, for its delivery reports.
                message.transport = transport
            message.error = None
            message.next_attempt_at = None
            message.sent_at = self.clock()
            if external_id:
                message.external_id = external_id[-64:]  # the distinctive end, if too long

    def _not_sent(self, message_id: int, error: str, retry_at: datetime | None = None) -> None:
        """Record a refused send: failed for good, or pending again from ``retry_at``."""
        with self.sessions.begin() as session:
            message = session.get_one(Message, message_id)
            message.status = SendStatus.FAILED if retry_at is None else SendStatus.PENDING
            message.error = error
            message.next_attempt_at = retry_at

    # -- the worker --------------------------------------------------------------------------

    def _claim(self, limit: int) -> list[Message]:
        now = self.clock()
        with self.sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(Message)
                    .where(
                        Message.direction == Direction.OUT,
                        Message.status == SendStatus.PENDING,
                        Message.next_attempt_at <= now,
                    )
                    .order_by(Message.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            for message in rows:
                message.status = SendStatus.SENDING
                message.attempts += 1
                message.next_attempt_at = now  # when claimed, for recover_stale
        return rows

    def drain(self, sender: Sender, *, limit: int | None = None) -> DrainResult:
        """Send every message that is due, in batches; return what happened."""
        result = DrainResult()
        batch = limit or self.settings.batch_size
        while True:
            claimed = self._claim(batch)
            if not claimed:
                return result
            for message in claimed:
                self._send_claimed(sender, message, result)
            if limit is not None:
                return result

    def _send_claimed(self, sender: Sender, message: Message, result: DrainResult) -> None:
        try:
            external_id = sender.send(message.phone, message.body, message.id)
        except SendError as exc:
            if exc.permanent or message.attempts >= self.settings.max_attempts:
                log.warning("outbox: message %d failed for good: %s", message.id, exc)
                self._not_sent(message.id, str(exc))
                result.failed += 1
            else:
                retry_at = self.clock() + retry_delay(message.attempts)
                log.info(
                    "outbox: message %d will be retried at %s: %s",
                    message.id,
                    retry_at.isoformat(timespec="seconds"),
                    exc,
                )
                self._not_sent(message.id, str(exc), retry_at)
                result.retried += 1
            return
        self._sent(message.id, external_id, sender.name)
        result.sent += 1

    def recover_stale(self, older_than: timedelta = STALE_CLAIM) -> int:
        """Put messages claimed by a worker that died back in the queue; return how many."""
        cutoff = self.clock() - older_than
        with self.sessions.begin() as session:
            result = session.execute(
                update(Message)
                .where(
                    Message.direction == Direction.OUT,
                    Message.status == SendStatus.SENDING,
                    Message.next_attempt_at < cutoff,
                )
                .values(status=SendStatus.PENDING, next_attempt_at=self.clock())
                .execution_options(synchronize_session=False)
            )
            return rowcount(result)

    def messages(self, status: SendStatus | None = None) -> list[Message]:
        """Return outbox messages (everything sent on the gateway's own), newest last."""
        with self.sessions() as session:
            query = (
                select(Message)
                .where(Message.direction == Direction.OUT, Message.reply_to_id.is_(None))
                .order_by(Message.id)
            )
            if status is not None:
                query = query.where(Message.status == status)
            return list(session.scalars(query))

    # -- delivery reports --------------------------------------------------------------------

    def record_delivery(
        self,
        transport: str,
        status: DeliveryStatus,
        *,
        message_id: int | None = None,
        external_id: str | None = None,
        code: int = 0,
        detail: str = "",
    ) -> DeliveryStatus | None:
        """Store a delivery report; return the message's status, None if it is unknown.

        A ``message_id`` outside 1..``MAX_INTEGER`` is an unknown message; a ``code``
        outside 0..``MAX_INTEGER`` raises ValueError (the transports refuse it first).
        """
        if not 0 <= code <= MAX_INTEGER:
            raise ValueError(f"delivery report code {code} is out of range")
        if message_id is not None and not 0 < message_id <= MAX_INTEGER:
            return None  # no row can have it; the query itself would overflow
        now = self.clock()
        with self.sessions.begin() as session:
            query = select(Message).where(Message.direction == Direction.OUT)
            if message_id is not None:
                query = query.where(Message.id == message_id)
            else:
                query = query.where(
                    Message.transport == transport, Message.external_id == external_id
                )
            # Providers send a message's reports at the same moment; lock the row so
            # "accepted" cannot overwrite a concurrent "delivered" (a lost update).
            message = session.scalars(query.with_for_update()).first()
            if message is None:
                return None
            session.add(
                DeliveryReport(
                    message_id=message.id,
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

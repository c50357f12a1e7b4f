"""Handle one inbound SMS as one unit of work: log it, route it, log the reply.

This is where the transaction for a message begins and ends. The inbound row
is written first, so a provider retry of the same message (same MessageSid)
collides with it on ``one_message_per_provider_id`` and gets the stored reply
instead of being handled twice. The handler runs inside a savepoint: a refusal
rolls back whatever it had changed, while the message log is kept.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import literal, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from sms_gateway import metrics, replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Router
from sms_gateway.crowd_lane import CrowdLane
from sms_gateway.db import insert_for
from sms_gateway.errors import DomainError
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.models import Direction, Message, SendStatus
from sms_gateway.parser import parse
from sms_gateway.phones import mask_phone
from sms_gateway.redact import redact_command
from sms_gateway.rules import inbound_count, over_hourly_limit
from sms_gateway.services.staff import staff_by_phone
from sms_gateway.services.transitions import lock_identities
from sms_gateway.services.wiring import Services

log = logging.getLogger(__name__)

# A lost race on a unique index (two requests for one phone or NIK, or a retry
# arriving while the first delivery is still being handled) is retried: the
# second attempt sees the winner and answers accordingly.
MAX_ATTEMPTS = 4

# PostgreSQL errors that mean "run the transaction again".
_RETRYABLE_PGCODES = {"40001", "40P01"}  # serialization failure, deadlock detected

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class _Logged:
    """An inbound message as logged: its row id and its stored (masked) text."""

    id: int
    body: str


class Inbox:
    """Turn inbound messages into replies, exactly once per provider message id."""

    def __init__(self, services: Services, router: Router, lane: CrowdLane | None = None) -> None:
        self.services = services
        self.core = services.core
        self.sessions = services.core.sessions  # one transaction per message, opened here
        self.router = router
        # On PostgreSQL: answers a flash crowd's commonest message in two statements,
        # or declines and leaves it to the full path below.
        self.lane = lane

    def handle(self, message: InboundMessage) -> Reply:
        """Handle one message and return the reply; a retried message gets its first reply."""
        if self.lane is not None:
            reply = self.lane.answer(message, self.core.clock())
            if reply is not None:
                return reply
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self.sessions.begin() as session:
                    reply, command = self._handle_once(session, message)
                metrics.INBOUND.labels(message.transport, command, reply.outcome).inc()
                return reply
            except IntegrityError:
                if attempt == MAX_ATTEMPTS:
                    raise
                log.info("lost a race on a unique index, retrying (attempt %d)", attempt)
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None)
                if code not in _RETRYABLE_PGCODES or attempt == MAX_ATTEMPTS:
                    raise
                log.info("transaction conflict %s, retrying (attempt %d)", code, attempt)
        raise AssertionError("unreachable")

    def _handle_once(self, session: Session, message: InboundMessage) -> tuple[Reply, str]:
        """Handle the message in ``session``; return the reply and the command's name."""
        now = self.core.clock()
        command = parse(message.text)
        # Neither a NIK nor a staff PIN (however mistyped) is stored or logged in clear.
        masked_text = redact_command(message.text)
        inbound = self._claim_inbound(session, message, masked_text, now)
        if inbound is None:
            earlier = self._earlier_reply(session, message)
            log.info(
                "%s %s is a retry; answering with the stored reply",
                message.transport,
                message.external_id,
            )
            return earlier or Reply("", duplicate=True, outcome="duplicate"), "retry"

        name = self.router.command_name(command)
        # The messages of one phone take turns from here to the commit: the hourly
        # count, a staff PIN's lockout and every change they make are then exact.
        lock_identities(session, message.sender)
        limited = self._over_limit(session, message, now)
        if limited is not None:
            reply = Reply(limited, outcome="limited")
            return self._log_reply(session, message, inbound, reply, now), name

        ctx = Context(
            session=session,
            message=message,
            now=now,
            office=self.core.office_for(message.recipient),
            services=self.services,
        )
        try:
            with session.begin_nested():
                reply = self.router.dispatch(ctx, command)
        except DomainError as err:
            reply = dataclasses.replace(self.router.refusal(err), outcome="refused")
        for write in ctx.after:  # audit entries, wrong PINs: kept whatever the outcome
            write(session)

        return self._log_reply(session, message, inbound, reply, now), name

    def _claim_inbound(
        self, session: Session, message: InboundMessage, body: str, now: datetime
    ) -> _Logged | None:
        """Log the inbound message; None when its provider id was logged before (a retry).

        The insert claims the provider id first thing: a retry arriving while the
        first delivery is still being handled waits here, then finds it done.
        """
        table = Message.__table__
        values = {
            "direction": Direction.IN.value,
            "transport": message.transport,
            "external_id": message.external_id,
            "phone": message.sender,
            "gateway_number": message.recipient,
            "body": body,
            "created_at": now,
            "attempts": 0,
        }
        statement = insert_for(session)(table).values(**values)
        if message.external_id is not None:
            statement = statement.on_conflict_do_nothing(
                index_elements=[table.c.transport, table.c.external_id],
                # A literal, as in the index: PostgreSQL matches the partial index only
                # when it can see the predicate, which a bound parameter hides.
                index_where=text("direction = 'in'"),
            )
        row = session.execute(statement.returning(table.c.id)).first()
        return None if row is None else _Logged(row[0], body)

    def _over_limit(self, session: Session, message: InboundMessage, now: datetime) -> str | None:
        """Return the reply for a phone over its hourly message limit ("" = say nothing).

        Past the limit the phone gets one reply saying so; later messages are logged
        but not answered until the hour has passed. This stops reply loops (with an
        auto-responder, say) that cost the office money. Staff phones are exempt.
        """
        limit = self.core.office_for(message.recipient).rules.messages_per_hour
        recent = int(
            session.scalar(select(inbound_count(literal(message.sender), literal(now - HOUR)))) or 0
        )
        if not over_hourly_limit(recent, limit):
            return None
        if staff_by_phone(session, message.sender) is not None:
            return None
        log.warning(
            "%s over %d messages an hour; %s",
            mask_phone(message.sender),
            limit,
            "telling it once" if recent == limit + 1 else "not answering",
        )
        return replies.render("rate_limited") if recent == limit + 1 else ""

    def _log_reply(
        self,
        session: Session,
        message: InboundMessage,
        inbound: _Logged,
        reply: Reply,
        now: datetime,
    ) -> Reply:
        """Log the reply to an inbound message (none when it is empty) and return it."""
        if not reply.text:
            return reply
        table = Message.__table__
        status = SendStatus.SENT if message.reply_inline else SendStatus.PENDING
        outbound_id = session.execute(
            insert_for(session)(table)
            .values(
                direction=Direction.OUT.value,
                transport=message.transport,
                phone=message.sender,
                gateway_number=message.recipient,
                # A retry gets this text back. The column masks it like any text,
                # which changes no reply: they never echo a long digit string
                # (replies.echo), and tests/test_redact.py holds every template
                # to being unchanged by the mask.
                body=reply.text,
                reply_to_id=inbound.id,
                created_at=now,
                status=status.value,
                attempts=0,
            )
            .returning(table.c.id)
        ).scalar_one()
        log.info(
            "%s from %s: %r -> %r",
            message.transport,
            mask_phone(message.sender),
            inbound.body,
            reply.text,
        )
        return dataclasses.replace(
            reply, message_id=outbound_id, needs_sending=not message.reply_inline
        )

    def _earlier_reply(self, session: Session, message: InboundMessage) -> Reply | None:
        inbound_id = session.scalar(
            select(Message.id).where(
                Message.transport == message.transport,
                Message.external_id == message.external_id,
                Message.direction == Direction.IN,
            )
        )
        if inbound_id is None:
            return None
        reply = session.scalars(select(Message).where(Message.reply_to_id == inbound_id)).first()
        if reply is None:
            return Reply("", duplicate=True, outcome="duplicate")
        return Reply(
            reply.body,
            message_id=reply.id,
            duplicate=True,
            needs_sending=reply.status != SendStatus.SENT,  # pending, or failed last time
            outcome="duplicate",
        )

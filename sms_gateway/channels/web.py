"""What the webhook channels (Twilio, Kannel) share at the edge of the app.

Each channel's adapter verifies the request, normalises it into an
``InboundMessage``, hands it to ``Gateway.handle`` through ``answer`` and
renders the ``Reply`` the way its provider expects. Nothing provider-specific
lives here.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Protocol

from flask import Blueprint, Flask, Response, current_app
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sms_gateway import replies
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.phones import PhoneError, normalize_phone
from sms_gateway.services.outbound import Outbound

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """The database cannot be reached: answer 503 so the provider delivers again later."""


# Answer for a temporary outage: providers retry a 503 (Kannel with http-request-retry,
# Twilio per its webhook retry settings), and nothing was committed.
UNAVAILABLE_BODY = "temporarily unavailable, retry later\n"
RETRY_AFTER_S = "5"


class Answering(Protocol):
    """What a webhook channel needs of the gateway: answer a message, record deliveries."""

    @property
    def outbound(self) -> Outbound:
        """The outbox, where delivery reports are recorded."""
        ...

    def handle(self, message: InboundMessage) -> Reply:
        """Answer one inbound SMS."""
        ...


def answer(gateway: Answering, message: InboundMessage) -> Reply:
    """Handle a message; raise Unavailable while the database is down.

    Any other failure is a bug: the applicant gets an apology asking to send
    again (nothing was committed) rather than a 500, which Kannel would turn
    into a "Could not fetch content" SMS.
    """
    try:
        return gateway.handle(message)
    except (OperationalError, InterfaceError, PoolTimeout) as exc:
        log.warning(
            "%s: database unavailable (%s); answering 503",
            message.transport,
            type(exc.orig if isinstance(exc, DBAPIError) else exc).__name__,
        )
        raise Unavailable from None
    except DBAPIError as exc:
        if exc.connection_invalidated:
            log.warning("%s: database connection lost; answering 503", message.transport)
            raise Unavailable from None
        log.exception("%s: failed to handle message %s", message.transport, message.external_id)
        return Reply(replies.render("busy"))
    except Exception:
        log.exception("%s: failed to handle message %s", message.transport, message.external_id)
        return Reply(replies.render("busy"))


def current_gateway() -> Answering:
    """Return the gateway the app answers with (``create_app`` keeps it in its extensions)."""
    gateway: Answering = current_app.extensions["sms_gateway"]
    return gateway


def respond(message: InboundMessage, render: Callable[[Reply], Response]) -> Response:
    """Answer ``message`` through the app's gateway, rendered; a 503 while the database is down."""
    try:
        return render(answer(current_gateway(), message))
    except Unavailable:
        return unavailable_response()


def unavailable_response() -> Response:
    """Return the 503 for a temporary outage, with a Retry-After."""
    return Response(
        UNAVAILABLE_BODY,
        status=503,
        headers={"Retry-After": RETRY_AFTER_S},
        content_type="text/plain; charset=utf-8",
    )


def same_secret(given: str | None, expected: str) -> bool:
    """Compare a shared secret in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def gateway_number(raw: str) -> str | None:
    """Normalise the number a message was sent to (E.164 or a short code).

    Anything else (a provider's own label) is kept only if it is short, printable
    text, and otherwise dropped: it then just means "the first office".
    """
    try:
        return normalize_phone(raw, allow_short_code=True)
    except PhoneError:
        label = raw.strip()
        return label if label and len(label) <= 20 and label.isprintable() else None


def text_response(body: str, status: int = 200) -> Response:
    """Return a plain UTF-8 text answer (what the providers and their logs read)."""
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


class Adapter(Protocol):
    """A webhook channel's adapter, as far as attaching it to the app goes."""

    @property
    def accept_unsigned(self) -> bool:
        """True in a loopback trial that takes requests without a credential."""
        ...

    @property
    def unsigned_warning(self) -> str:
        """What to log at start-up when ``accept_unsigned`` is set."""
        ...


def install(app: Flask, blueprint: Blueprint, adapter: Adapter, logger: logging.Logger) -> None:
    """Register ``blueprint`` and its adapter (``app.extensions["<name>_adapter"]``).

    ``logger`` is the channel's own: it warns when the adapter accepts requests
    without a credential.
    """
    if adapter.accept_unsigned:
        logger.warning(adapter.unsigned_warning)
    app.extensions[f"{blueprint.name}_adapter"] = adapter
    app.register_blueprint(blueprint)

"""Transport adapters: one module per SMS provider, each at the edge of the app.

An adapter verifies the request, normalises it into an ``InboundMessage``,
hands it to ``Gateway.handle`` and renders the ``Reply`` the way its provider
expects. Nothing provider-specific lives outside its module.
"""

from __future__ import annotations

import hmac
import logging

from sms_gateway import replies
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage, Reply

log = logging.getLogger(__name__)


def answer(gateway: Gateway, message: InboundMessage) -> Reply:
    """Handle a message; if the gateway fails, apologise instead of erroring.

    Nothing was committed in that case, so the applicant can simply send again;
    an HTTP 5xx would instead make Kannel text "Could not fetch content".
    """
    try:
        return gateway.handle(message)
    except Exception:
        log.exception("%s: failed to handle message %s", message.transport, message.external_id)
        return Reply(replies.render("busy"))


def same_secret(given: str | None, expected: str) -> bool:
    """Compare a shared secret in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())

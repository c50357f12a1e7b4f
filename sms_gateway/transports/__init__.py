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
from sms_gateway.phones import PhoneError, normalize_phone

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

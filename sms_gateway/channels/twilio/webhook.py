"""Twilio: ``POST /sms/twilio`` takes Twilio's inbound form and answers TwiML.

Anything without a valid ``X-Twilio-Signature`` gets 403 and changes nothing
(see ``adapter``). Twilio retries carry the same MessageSid and get the same
reply. ``POST /sms/twilio/status`` records the delivery status Twilio reports
for a message the gateway sent.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, current_app, request

from sms_gateway.channels.twilio.adapter import TRANSPORT, TwilioAdapter
from sms_gateway.channels.twilio.delivery import TWILIO_STATUS, error_code
from sms_gateway.channels.web import current_gateway, install, respond, text_response
from sms_gateway.config import Settings

log = logging.getLogger(__name__)

bp = Blueprint("twilio", __name__)

FORBIDDEN = "invalid or missing X-Twilio-Signature\n"


@bp.post("/sms/twilio")
def inbound() -> Response:
    """Answer one inbound SMS from Twilio."""
    adapter: TwilioAdapter = current_app.extensions["twilio_adapter"]
    if not adapter.verify(request):
        log.warning(
            "twilio: rejected a request with a missing or invalid signature from %s",
            request.remote_addr,
        )
        return text_response(FORBIDDEN, 403)
    message = adapter.parse(request)
    if isinstance(message, str):
        return text_response(message + "\n", 400)
    return respond(message, adapter.render)


@bp.post("/sms/twilio/status")
def status_callback() -> Response:
    """Record a delivery status Twilio reports for a message the gateway sent."""
    adapter: TwilioAdapter = current_app.extensions["twilio_adapter"]
    if not adapter.verify(request):
        log.warning("twilio: rejected a status callback with a missing or invalid signature")
        return text_response(FORBIDDEN, 403)
    sid = request.form.get("MessageSid", "").strip()
    word = request.form.get("MessageStatus", "").strip().lower()
    if not sid or word not in TWILIO_STATUS:
        return text_response("MessageSid and a known MessageStatus are required\n", 400)
    code = error_code(request.form.get("ErrorCode", ""))
    if code is None:
        # Twilio's error codes are plain digits (30003); anything else is not from
        # Twilio, or a bug, and is refused rather than recorded. A 400 does not make
        # Twilio send the callback again (it only logs it in its debugger), so
        # refusing costs nothing, and the refusal shows in our log and in Twilio's.
        return text_response("ErrorCode must be a Twilio error code (digits 0-9)\n", 400)
    status = current_gateway().outbound.record_delivery(
        TRANSPORT, TWILIO_STATUS[word], external_id=sid, code=code, detail=word
    )
    if status is None:
        log.warning("twilio: status for unknown message %s", sid)
    return text_response("")


def init_app(app: Flask, settings: Settings, *, allow_unsigned: bool = False) -> None:
    """Attach the Twilio webhook to ``app``."""
    install(app, bp, TwilioAdapter(settings, allow_unsigned=allow_unsigned), log)

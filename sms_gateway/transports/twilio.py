"""Twilio: ``POST /sms/twilio`` takes Twilio's inbound form and answers TwiML.

Every request must carry a valid ``X-Twilio-Signature`` (HMAC-SHA1 of the URL
Twilio called plus the sorted form fields, keyed by the auth token); anything
else gets 403 and changes nothing. Behind a proxy, the URL Twilio called is
rebuilt from ``[server] public_url`` or from trusted forwarded headers (see
``app.py``). Twilio retries carry the same MessageSid and get the same reply.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from functools import lru_cache

from flask import Blueprint, Flask, Request, Response, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from sms_gateway.config import Settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.models import DeliveryStatus
from sms_gateway.phones import PhoneError, normalize_phone
from sms_gateway.services.outbound import MAX_INTEGER
from sms_gateway.transports import Unavailable, answer, gateway_number, unavailable_response

log = logging.getLogger(__name__)

TRANSPORT = "twilio"
REQUIRED_FIELDS = ("MessageSid", "From", "To", "Body")

bp = Blueprint("twilio", __name__)


class _Validator(RequestValidator):
    """Twilio's validator, trying the URL exactly as given first.

    The library signs the URL twice on every request, with and without an
    explicit port, since Twilio's own signing is inconsistent about it. The URL
    as given is always one of those two, and it is the one that matches in
    practice, so a match on it alone settles the request at half the cost; any
    other request gets the library's full check, so exactly the same requests
    pass.
    """

    def validate(
        self,
        uri: str,
        params: Mapping[str, str] | str | None,
        signature: str,
        algorithm: str | None = None,
    ) -> bool:
        if algorithm is None and "bodySHA256" not in uri:
            expected: str = self.compute_signature(uri, params)
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return True
        valid: bool = super().validate(uri, params, signature, algorithm)  # unannotated there
        return valid


class TwilioAdapter:
    """Verify, parse and answer Twilio's messaging webhook."""

    def __init__(self, settings: Settings, *, allow_unsigned: bool = False) -> None:
        token = settings.twilio.auth_token
        self.validator = _Validator(token) if token else None
        # Without a token, only a loopback trial accepts unsigned requests; a server
        # that uses only Kannel or Gammu refuses everything here.
        self.accept_unsigned = token is None and allow_unsigned
        self.public_url = settings.server.public_url

    def signed_url(self, req: Request) -> str:
        """Return the URL Twilio signed: the public one when configured, else the request's."""
        if not self.public_url:
            return req.url
        query = req.query_string.decode("latin-1")
        return self.public_url + req.path + (f"?{query}" if query else "")

    def verify(self, req: Request) -> bool:
        """Return True when the request is signed with our auth token (or unsigned mode)."""
        if self.validator is None:
            return self.accept_unsigned  # loopback trial without a token; warned at start-up
        signature = req.headers.get("X-Twilio-Signature", "")
        if not signature:
            return False
        # Pass the form itself, not a dict copy, so repeated fields are all signed.
        return self.validator.validate(self.signed_url(req), req.form, signature)

    @staticmethod
    def parse(req: Request) -> InboundMessage | str:
        """Return the message, or a sentence saying what is wrong with the form."""
        form = req.form
        missing = [f for f in REQUIRED_FIELDS if f not in form]
        if missing:
            return f"missing form field(s): {', '.join(missing)}"
        try:
            sender = normalize_phone(form["From"])
        except PhoneError:
            return "From is not a phone number"
        recipient = gateway_number(form["To"])
        sid = form["MessageSid"].strip()
        if not sid or len(sid) > 64 or not sid.isprintable():
            return "MessageSid must be 1-64 printable characters"
        return InboundMessage(
            transport=TRANSPORT,
            sender=sender,
            recipient=recipient,
            text=form["Body"],
            external_id=sid,
        )

    @staticmethod
    def render(reply: Reply) -> Response:
        """Return the reply as TwiML."""
        return Response(_twiml(reply.text), status=200, content_type="text/xml; charset=utf-8")


# In a flash crowd nearly every reply is the same text ("the day is full, try
# the next"): its TwiML document is built once, not serialised anew each time.
@lru_cache(maxsize=512)
def _twiml(text: str) -> str:
    twiml = MessagingResponse()
    if text:
        twiml.message(text)
    return str(twiml)


@bp.post("/sms/twilio")
def inbound() -> Response:
    """Answer one inbound SMS from Twilio."""
    adapter: TwilioAdapter = current_app.extensions["twilio_adapter"]
    gateway: Gateway = current_app.extensions["sms_gateway"]
    if not adapter.verify(request):
        log.warning(
            "twilio: rejected a request with a missing or invalid signature from %s",
            request.remote_addr,
        )
        return Response(
            "invalid or missing X-Twilio-Signature\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    message = adapter.parse(request)
    if isinstance(message, str):
        return Response(message + "\n", status=400, content_type="text/plain; charset=utf-8")
    try:
        return adapter.render(answer(gateway, message))
    except Unavailable:
        return unavailable_response()


# Twilio's MessageStatus values, mapped to ours.
TWILIO_STATUS = {
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


@bp.post("/sms/twilio/status")
def status_callback() -> Response:
    """Record a delivery status Twilio reports for a message the gateway sent."""
    adapter: TwilioAdapter = current_app.extensions["twilio_adapter"]
    gateway: Gateway = current_app.extensions["sms_gateway"]
    if not adapter.verify(request):
        log.warning("twilio: rejected a status callback with a missing or invalid signature")
        return Response(
            "invalid or missing X-Twilio-Signature\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    sid = request.form.get("MessageSid", "").strip()
    word = request.form.get("MessageStatus", "").strip().lower()
    if not sid or word not in TWILIO_STATUS:
        return Response(
            "MessageSid and a known MessageStatus are required\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    code = error_code(request.form.get("ErrorCode", ""))
    if code is None:
        # Twilio's error codes are plain digits (30003); anything else is not from
        # Twilio, or a bug, and is refused rather than recorded. A 400 does not make
        # Twilio send the callback again (it only logs it in its debugger), so
        # refusing costs nothing, and the refusal shows in our log and in Twilio's.
        return Response(
            "ErrorCode must be a Twilio error code (digits 0-9)\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    status = gateway.outbound.record_delivery(
        TRANSPORT, TWILIO_STATUS[word], external_id=sid, code=code, detail=word
    )
    if status is None:
        log.warning("twilio: status for unknown message %s", sid)
    return Response("", status=200, content_type="text/plain; charset=utf-8")


def init_app(app: Flask, settings: Settings, *, allow_unsigned: bool = False) -> None:
    """Attach the Twilio webhook to ``app``."""
    adapter = TwilioAdapter(settings, allow_unsigned=allow_unsigned)
    if adapter.accept_unsigned:
        log.warning(
            "twilio: no auth token configured: accepting UNSIGNED webhooks "
            "(loopback trial only; never expose this server)"
        )
    app.extensions["twilio_adapter"] = adapter
    app.register_blueprint(bp)

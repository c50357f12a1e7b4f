"""Twilio's messaging webhook: verify the signature, parse the form, answer TwiML.

Every request must carry a valid ``X-Twilio-Signature`` (HMAC-SHA1 of the URL
Twilio called plus the sorted form fields, keyed by the auth token). Behind a
proxy, the URL Twilio called is rebuilt from ``[server] public_url`` or from
trusted forwarded headers (see ``app.py``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from functools import lru_cache

from flask import Request, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from sms_gateway.channels.web import gateway_number
from sms_gateway.config import Settings
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.phones import PhoneError, normalize_phone

TRANSPORT = "twilio"
REQUIRED_FIELDS = ("MessageSid", "From", "To", "Body")


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

    # Logged at start-up when accept_unsigned is set.
    unsigned_warning = (
        "twilio: no auth token configured: accepting UNSIGNED webhooks "
        "(loopback trial only; never expose this server)"
    )

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

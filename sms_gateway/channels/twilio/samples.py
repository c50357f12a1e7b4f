"""Raw requests as Twilio sends them: an inbound SMS webhook and status callbacks.

The forms carry every field Twilio posts (REFERENCE.md 1.1, 1.7), in Twilio's
order, urlencoded as the body. Twilio signs the public URL it calls, so the
gateway under test must have ``[server] public_url = PUBLIC_URL`` and
``[twilio] auth_token = AUTH_TOKEN``; each ``X-Twilio-Signature`` is what
Twilio computes for that URL and form.
"""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from sms_gateway.channels.sample import HttpSample
from sms_gateway.messages import InboundMessage
from sms_gateway.models import DeliveryStatus

PUBLIC_URL = "https://sms.imigrasi-pamekasan.example"
AUTH_TOKEN = "sample-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
INBOUND_SID = "SM0123456789abcdef0123456789abcdef"
# The SID Twilio gave a message the gateway sent; its status callbacks name it.
OUTBOUND_SID = "SMfedcba9876543210fedcba9876543210"
GATEWAY_NUMBER = "+6282140000001"
APPLICANT = "+6281234567890"
DAFTAR = "DAFTAR 3528011505900001 8-12-2026"

INBOUND_FORM = {
    "ToCountry": "ID",
    "ToState": "",
    "SmsMessageSid": INBOUND_SID,
    "NumMedia": "0",
    "ToCity": "",
    "FromZip": "",
    "SmsSid": INBOUND_SID,
    "FromState": "",
    "SmsStatus": "received",
    "FromCity": "",
    "Body": DAFTAR,
    "FromCountry": "ID",
    "To": GATEWAY_NUMBER,
    "ToZip": "",
    "NumSegments": "1",
    "ReferralNumMedia": "0",
    "MessageSid": INBOUND_SID,
    "AccountSid": ACCOUNT_SID,
    "From": APPLICANT,
    "ApiVersion": "2010-04-01",
}


def status_form(status: str, error_code: str | None = None) -> dict[str, str]:
    """Return a status callback's form for our message ``OUTBOUND_SID``."""
    form = {
        "SmsSid": OUTBOUND_SID,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": APPLICANT,
        "MessageSid": OUTBOUND_SID,
        "AccountSid": ACCOUNT_SID,
        "From": GATEWAY_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    if error_code is not None:
        form["ErrorCode"] = error_code
    return form


def _post(
    name: str,
    path: str,
    form: dict[str, str],
    status: int,
    *,
    signed: bool = True,
    message: InboundMessage | None = None,
    delivery: DeliveryStatus | None = None,
) -> HttpSample:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": "7b5f0f3c-2b8e-4f61-9a43-5d3c1f0e9a21",
    }
    if signed:
        validator = RequestValidator(AUTH_TOKEN)
        headers["X-Twilio-Signature"] = validator.compute_signature(PUBLIC_URL + path, form)
    return HttpSample(
        name=name,
        method="POST",
        path=path,
        headers=headers,
        body=urlencode(form).encode(),
        status=status,
        message=message,
        delivery=delivery,
    )


SAMPLES = (
    _post(
        "inbound-sms",
        "/sms/twilio",
        INBOUND_FORM,
        200,
        message=InboundMessage(
            transport="twilio",
            sender=APPLICANT,
            recipient=GATEWAY_NUMBER,
            text=DAFTAR,
            external_id=INBOUND_SID,
        ),
    ),
    _post(
        "inbound-sms-two-segments-unicode",
        "/sms/twilio",
        INBOUND_FORM | {"Body": "CEK antre\u00e9 \U0001f600 " + "x" * 70, "NumSegments": "2"},
        200,
        message=InboundMessage(
            transport="twilio",
            sender=APPLICANT,
            recipient=GATEWAY_NUMBER,
            text="CEK antre\u00e9 \U0001f600 " + "x" * 70,
            external_id=INBOUND_SID,
        ),
    ),
    _post("inbound-sms-unsigned", "/sms/twilio", INBOUND_FORM, 403, signed=False),
    _post(
        "status-sent",
        "/sms/twilio/status",
        status_form("sent"),
        200,
        delivery=DeliveryStatus.ACCEPTED,
    ),
    _post(
        "status-delivered",
        "/sms/twilio/status",
        status_form("delivered") | {"RawDlrDoneDate": "2612021807"},
        200,
        delivery=DeliveryStatus.DELIVERED,
    ),
    _post(
        "status-undelivered",
        "/sms/twilio/status",
        status_form("undelivered", "30003"),
        200,
        delivery=DeliveryStatus.UNDELIVERED,
    ),
    _post(
        "status-failed",
        "/sms/twilio/status",
        status_form("failed", "30008"),
        200,
        delivery=DeliveryStatus.REJECTED,
    ),
)

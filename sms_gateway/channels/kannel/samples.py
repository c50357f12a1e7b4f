"""Raw calls as Kannel 1.4.5 makes them: smsbox's post-url and get-url, bearerbox's DLRs.

Captured from the real bearerbox, smsbox and fakesmsc (``tests/kannel_harness.py``)
calling a recorder, with the key ``SECRET``; only the ``Host`` header is left out.
The DLRs answer a sendsms whose dlr-url ``KannelSender`` built for message 1.
"""

from __future__ import annotations

from sms_gateway.channels.sample import HttpSample
from sms_gateway.messages import InboundMessage
from sms_gateway.models import DeliveryStatus

SECRET = "kannel-secret-0123456789"
GATEWAY_NUMBER = "+6282140000001"
SHORT_CODE = "1234"
DAFTAR = "DAFTAR 3528011505900001 8-12-2026"
# Sent as UCS-2 (coding 2): an accent, Arabic script and an emoji (a surrogate pair).
UNICODE_TEXT = "CEK Antre\u00e9 \u0628 \U0001f600"
GET_HEADERS = {"Connection": "keep-alive", "User-Agent": "Kannel/1.4.5"}
DAFTAR_ID = "8e7e7e6e-2fe0-4946-8a6f-590acd416fa1"
UNICODE_ID = "755489c4-cb17-4930-957c-99d8c8b5c888"


def _inbound(sender: str, recipient: str, text: str, external_id: str) -> InboundMessage:
    """What the adapter must hand inward for a call."""
    return InboundMessage("kannel", sender, text, recipient=recipient, external_id=external_id)


_DAFTAR_IN = _inbound("+6281234567890", GATEWAY_NUMBER, DAFTAR, DAFTAR_ID)
_UNICODE_IN = _inbound("+6281234567891", SHORT_CODE, UNICODE_TEXT, UNICODE_ID)


def _post_url(
    name: str,
    query: str,
    fields: tuple[str, str, str, str],
    body: bytes,
    status: int,
    message: InboundMessage | None,
) -> HttpSample:
    """smsbox's post-url call (``send-sender = true``), as recorded.

    ``fields`` are X-Kannel-From, X-Kannel-To, the charset and X-Kannel-Coding.
    """
    sender, to, charset, coding = fields
    headers = {
        "Connection": "keep-alive",
        "User-Agent": "Kannel/1.4.5",
        "Content-Type": f'text/plain; charset="{charset}"',
        "X-Kannel-From": sender,
        "X-Kannel-To": to,
        "X-Kannel-Time": "2026-12-02 18:07:55",
        "Date": "2026-12-02 18:07:55",
        "X-Kannel-SMSC": "FAKE",
        "X-Kannel-Coding": coding,
        "X-Kannel-Service": "default",
    }
    return HttpSample(name, "POST", f"/sms/kannel?{query}", headers, body, status, message)


def _get(
    name: str,
    path: str,
    message: InboundMessage | None = None,
    delivery: DeliveryStatus | None = None,
) -> HttpSample:
    """A GET as smsbox (get-url) or bearerbox (dlr-url) makes it; all answered 200."""
    return HttpSample(name, "GET", path, GET_HEADERS, b"", 200, message, delivery)


_KEY = f"key={SECRET}"
_DAFTAR_FIELDS = ("+6281234567890", GATEWAY_NUMBER, "UTF-8", "0")

SAMPLES = (
    _post_url(
        "post-url-7bit", f"{_KEY}&id={DAFTAR_ID}", _DAFTAR_FIELDS, DAFTAR.encode(), 200, _DAFTAR_IN
    ),
    # mo-recode = true (the shipped config): smsbox passes UCS-2 text on as UTF-8.
    _post_url(
        "post-url-ucs2-mo-recode",
        f"{_KEY}&id={UNICODE_ID}",
        ("6281234567891", SHORT_CODE, "UTF-8", "0"),
        UNICODE_TEXT.encode(),
        200,
        _UNICODE_IN,
    ),
    _post_url(
        "post-url-ucs2-raw",
        f"{_KEY}&id={UNICODE_ID}",
        ("6281234567891", SHORT_CODE, "UTF-16BE", "2"),
        UNICODE_TEXT.encode("utf-16-be"),
        200,
        _UNICODE_IN,
    ),
    _post_url(
        "post-url-wrong-key",
        f"key=NOT-THE-SECRET&id={DAFTAR_ID}",
        _DAFTAR_FIELDS,
        DAFTAR.encode(),
        403,
        None,
    ),
    _get(
        "get-url-7bit",
        f"/sms/kannel?{_KEY}&from=%2B6281234567890&to=%2B6282140000001"
        f"&text=DAFTAR+3528011505900001+8-12-2026&id={DAFTAR_ID}&coding=0&charset=UTF-8",
        message=_DAFTAR_IN,
    ),
    _get(
        "get-url-ucs2",
        f"/sms/kannel?{_KEY}&from=6281234567891&to=1234"
        "&text=%00C%00E%00K%00+%00A%00n%00t%00r%00e%00%E9%00+%06(%00+%D8%3D%DE%00"
        f"&id={UNICODE_ID}&coding=2&charset=UTF-16BE",
        message=_UNICODE_IN,
    ),
    _get(
        "dlr-smsc-accepted",
        f"/sms/kannel/dlr?{_KEY}&msgid=1&status=8&answer=ACK%2F&to=%2B6281234567891",
        delivery=DeliveryStatus.ACCEPTED,
    ),
    _get(
        "dlr-delivered",
        f"/sms/kannel/dlr?{_KEY}&msgid=1&status=1&answer=&to=%2B6281234567891",
        delivery=DeliveryStatus.DELIVERED,
    ),
)

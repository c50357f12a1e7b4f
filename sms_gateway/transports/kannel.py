"""Kannel: ``GET``/``POST /sms/kannel`` from an smsbox ``sms-service``, and delivery reports.

Kannel calls the gateway with ``from``, ``to``, ``text`` and optionally ``id``,
``coding`` and ``charset`` (``get-url`` with ``%p %P %a %I %c %C``, or a form
POST). A ``post-url`` service instead sends the text as the body with
``X-Kannel-From``/``X-Kannel-To``/``X-Kannel-Coding`` headers; both work. The
shared secret comes as ``key`` and is compared in constant time.

The reply is the ``text/plain`` body, which Kannel sends back as the SMS; an
empty body (with ``omit-empty``) sends nothing. A handled message never gets a
5xx: Kannel would text the applicant "Could not fetch content".

UCS-2 messages (``coding=2``) arrive as raw UTF-16BE bytes, percent-encoded,
unless smsbox has ``mo-recode = true`` (the shipped config sets it). The text is
therefore decoded here from the raw bytes with the charset Kannel names, not
as the UTF-8 a web framework assumes.
"""

from __future__ import annotations

import codecs
import logging
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Request, Response, current_app, request

from sms_gateway import replies
from sms_gateway.config import Settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.phones import PhoneError, normalize_phone
from sms_gateway.services.outbound import KANNEL_DLR
from sms_gateway.transports import (
    Unavailable,
    answer,
    gateway_number,
    same_secret,
    unavailable_response,
)

log = logging.getLogger(__name__)

TRANSPORT = "kannel"
UCS2 = "2"
BINARY = "1"

bp = Blueprint("kannel", __name__)


class BadRequest(Exception):
    """The request is malformed; the message says how (answered with 400)."""


class Unreadable(Exception):
    """The text cannot be decoded; the applicant is asked to send plain text."""


def _text_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


class KannelAdapter:
    """Verify, parse and answer calls from a Kannel smsbox."""

    def __init__(self, settings: Settings, *, allow_unsigned: bool = False) -> None:
        self.secret = settings.kannel.secret
        self.accept_unsigned = self.secret is None and allow_unsigned

    def verify(self, params: dict[str, bytes]) -> bool:
        """Return True when the call carries our shared secret (or in a loopback trial)."""
        if self.secret is None:
            return self.accept_unsigned
        key = params.get("key")
        return key is not None and same_secret(key.decode("latin-1"), self.secret)

    @staticmethod
    def raw_params(req: Request) -> dict[str, bytes]:
        """Return query and urlencoded form parameters as raw bytes (first value wins)."""
        pairs = _raw_pairs(req.query_string)
        if req.method == "POST" and req.mimetype == "application/x-www-form-urlencoded":
            pairs += _raw_pairs(req.get_data())
        params: dict[str, bytes] = {}
        for name, value in pairs:
            params.setdefault(name, value)
        return params

    def parse(self, req: Request, params: dict[str, bytes]) -> InboundMessage:
        """Turn Kannel's call into a message; raise BadRequest or Unreadable."""
        post_body = (
            req.method == "POST"
            and "text" not in params
            and req.mimetype != ("application/x-www-form-urlencoded")
        )
        if post_body:  # post-url: text in the body, numbers in X-Kannel-* headers
            fields = {
                "from": req.headers.get("X-Kannel-From", "").encode("latin-1"),
                "to": req.headers.get("X-Kannel-To", "").encode("latin-1"),
                "coding": req.headers.get("X-Kannel-Coding", "").encode("latin-1"),
                "charset": (req.mimetype_params.get("charset") or "").encode("latin-1"),
                "text": req.get_data(),
                "id": params.get("id", b""),
            }
        else:
            fields = params
        missing = [
            name
            for name in ("from", "to", "text")
            if name not in fields or (name != "text" and not fields[name])
        ]
        if missing:
            raise BadRequest(f"missing parameter(s): {', '.join(missing)}")
        try:
            sender = normalize_phone(_ascii(fields["from"], "from"))
        except PhoneError:
            raise BadRequest("from is not a phone number") from None
        recipient = gateway_number(_ascii(fields["to"], "to"))
        message_id = _ascii(fields.get("id", b""), "id").strip() or None
        if message_id is not None and (len(message_id) > 64 or not message_id.isprintable()):
            raise BadRequest("id must be at most 64 printable characters")
        text = decode_text(
            fields["text"],
            _ascii(fields.get("coding", b""), "coding"),
            _ascii(fields.get("charset", b""), "charset"),
        )
        return InboundMessage(
            transport=TRANSPORT,
            sender=sender,
            recipient=recipient,
            text=text,
            external_id=message_id,
        )


def _raw_pairs(data: bytes) -> list[tuple[str, bytes]]:
    """Split a urlencoded string into names and raw byte values.

    Latin-1 maps every byte to one code point and back, so percent-escapes come
    out as the exact bytes Kannel sent (parse_qsl on bytes would decode them as
    UTF-8 and lose UTF-16 text).
    """
    text = data.decode("latin-1")
    return [
        (name, value.encode("latin-1"))
        for name, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1")
    ]


def _ascii(value: bytes, name: str) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(f"{name} is not plain ASCII") from None


def decode_text(raw: bytes, coding: str, charset: str) -> str:
    """Decode the SMS text Kannel passed, by its coding and charset."""
    coding = coding.strip()
    if coding == BINARY:
        raise Unreadable("8-bit binary message")
    name = charset.strip() or ("UTF-16BE" if coding == UCS2 else "UTF-8")
    if name.upper() in ("UCS-2", "UCS2", "UCS-2BE"):
        name = "UTF-16BE"  # UCS-2 is the BMP subset of UTF-16
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise Unreadable(f"unknown charset {name!r}") from None
    try:
        return raw.decode(codec.name)
    except UnicodeDecodeError:
        raise Unreadable(f"text is not valid {name}") from None


@bp.route("/sms/kannel", methods=["GET", "POST"])
def inbound() -> Response:
    """Answer one SMS that Kannel received; the body is the reply SMS."""
    adapter: KannelAdapter = current_app.extensions["kannel_adapter"]
    gateway: Gateway = current_app.extensions["sms_gateway"]
    params = adapter.raw_params(request)
    if not adapter.verify(params):
        log.warning("kannel: rejected a call without the right key from %s", request.remote_addr)
        return _text_response("invalid or missing key\n", 403)
    try:
        message = adapter.parse(request, params)
    except BadRequest as exc:
        return _text_response(f"{exc}\n", 400)
    except Unreadable as exc:
        # The applicant did send something: tell them how to send it readably.
        log.warning("kannel: unreadable message: %s", exc)
        return _text_response(replies.render("unreadable"))
    try:
        reply: Reply = answer(gateway, message)
    except Unavailable:
        return unavailable_response()
    return _text_response(reply.text)


@bp.get("/sms/kannel/dlr")
def delivery_report() -> Response:
    """Record one delivery report for a message we sent through Kannel's sendsms."""
    adapter: KannelAdapter = current_app.extensions["kannel_adapter"]
    gateway: Gateway = current_app.extensions["sms_gateway"]
    params = adapter.raw_params(request)
    if not adapter.verify(params):
        log.warning("kannel: rejected a delivery report without the right key")
        return _text_response("invalid or missing key\n", 403)
    try:
        message_id = int(params.get("msgid", b""))
        code = int(params.get("status", b""))
    except ValueError:
        return _text_response("msgid and status must be whole numbers\n", 400)
    if code not in KANNEL_DLR:
        return _text_response(f"unknown status {code}\n", 400)
    detail = params.get("answer", b"").decode("utf-8", "replace")
    status = gateway.outbound.record_delivery(
        TRANSPORT, KANNEL_DLR[code], message_id=message_id, code=code, detail=detail
    )
    if status is None:
        # Answer 200 anyway: Kannel cannot do better, and must not retry forever.
        log.warning("kannel: delivery report for unknown message %d", message_id)
        return _text_response("unknown message\n")
    return _text_response(f"{status.value}\n")


def init_app(app: Flask, settings: Settings, *, allow_unsigned: bool = False) -> None:
    """Attach the Kannel endpoints to ``app``."""
    adapter = KannelAdapter(settings, allow_unsigned=allow_unsigned)
    if adapter.accept_unsigned:
        log.warning(
            "kannel: no secret configured: accepting calls without a key "
            "(loopback trial only; never expose this server)"
        )
    app.extensions["kannel_adapter"] = adapter
    app.register_blueprint(bp)

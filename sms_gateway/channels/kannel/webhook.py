"""Kannel: ``GET``/``POST /sms/kannel`` from an smsbox ``sms-service``, and delivery reports.

``adapter`` verifies and parses the call; the reply is the ``text/plain``
body, which Kannel sends back as the SMS; an empty body (with ``omit-empty``)
sends nothing. A handled message never gets a 5xx: Kannel would text the
applicant "Could not fetch content". ``GET /sms/kannel/dlr`` records the
delivery reports Kannel calls back for messages sent through sendsms.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, current_app, request

from sms_gateway import replies
from sms_gateway.channels.kannel.adapter import TRANSPORT, BadRequest, KannelAdapter, Unreadable
from sms_gateway.channels.kannel.delivery import KANNEL_DLR
from sms_gateway.channels.web import current_gateway, install, respond, text_response
from sms_gateway.config import Settings
from sms_gateway.messages import Reply

log = logging.getLogger(__name__)

bp = Blueprint("kannel", __name__)


@bp.route("/sms/kannel", methods=["GET", "POST"])
def inbound() -> Response:
    """Answer one SMS that Kannel received; the body is the reply SMS."""
    adapter: KannelAdapter = current_app.extensions["kannel_adapter"]
    params = adapter.raw_params(request)
    if not adapter.verify(params):
        log.warning("kannel: rejected a call without the right key from %s", request.remote_addr)
        return text_response("invalid or missing key\n", 403)
    try:
        message = adapter.parse(request, params)
    except BadRequest as exc:
        # Kannel drops the message after its retries: say so where an operator looks.
        log.warning("kannel: refused a call (400): %s", exc)
        return text_response(f"{exc}\n", 400)
    except Unreadable as exc:
        # The applicant did send something: tell them how to send it readably.
        log.warning("kannel: unreadable message: %s", exc)
        return text_response(replies.render("unreadable"))
    return respond(message, _reply_body)


def _reply_body(reply: Reply) -> Response:
    """Return the reply as the plain-text body Kannel sends back as the SMS."""
    return text_response(reply.text)


@bp.get("/sms/kannel/dlr")
def delivery_report() -> Response:
    """Record one delivery report for a message we sent through Kannel's sendsms."""
    adapter: KannelAdapter = current_app.extensions["kannel_adapter"]
    params = adapter.raw_params(request)
    if not adapter.verify(params):
        log.warning("kannel: rejected a delivery report without the right key")
        return text_response("invalid or missing key\n", 403)
    try:
        message_id = int(params.get("msgid", b""))
        code = int(params.get("status", b""))
    except ValueError:
        return text_response("msgid and status must be whole numbers\n", 400)
    if code not in KANNEL_DLR:
        return text_response(f"unknown status {code}\n", 400)
    detail = params.get("answer", b"").decode("utf-8", "replace")
    status = current_gateway().outbound.record_delivery(
        TRANSPORT, KANNEL_DLR[code], message_id=message_id, code=code, detail=detail
    )
    if status is None:
        # Answer 200 anyway: Kannel cannot do better, and must not retry forever
        # (it repeats anything but 200/202). That includes a msgid no message can
        # have (10^22, past the INTEGER id): it is not one of the ids we put in our
        # dlr-url, so it is an unknown message like any other, and changes nothing.
        log.warning("kannel: delivery report for unknown message %d", message_id)
        return text_response("unknown message\n")
    return text_response(f"{status.value}\n")


def init_app(app: Flask, settings: Settings, *, allow_unsigned: bool = False) -> None:
    """Attach the Kannel endpoints to ``app``."""
    install(app, bp, KannelAdapter(settings, allow_unsigned=allow_unsigned), log)

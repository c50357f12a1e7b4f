"""TUNGGU <NIK> <tanggal> [SESI] [KODE_KANTOR]: wait in line for a full day.

Takes the same arguments as DAFTAR. The entry is the phone's and the NIK's one
request; when a seat frees up it becomes a booking by itself, and an SMS
brings the queue number and code.
"""

from __future__ import annotations

from handlers.daftar import record_attempt
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.booking_request import parse_request
from sms_gateway.errors import DomainError
from sms_gateway.messages import Reply
from sms_gateway.parser import Command


def handle(ctx: Context, command: Command) -> Reply:
    """Join the waitlist for the day (or say where the applicant stands in it)."""
    if not command.args:
        return Reply(
            replies.render("did_you_mean", keyword="TUNGGU", usage=replies.USAGE["TUNGGU"])
        )
    request = parse_request(
        ctx.core.settings, ctx.core.calendar, ctx.office, ctx.message.sender, ctx.now, command.args
    )
    try:
        entry, again = ctx.services.waitlist.join(ctx.session, request, ctx.now)
    except DomainError as err:
        record_attempt(ctx, request, f"wait:{type(err).__name__}")
        raise
    record_attempt(ctx, request, "wait:again" if again else "wait:joined")
    return Reply(replies.waiting(entry, ctx.services.waitlist.position(ctx.session, entry)))


ROUTE = Route("TUNGGU", ("WAIT",), handle)

"""YA [KODE]: confirm that the applicant is coming, after the reminder."""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.messages import Reply
from sms_gateway.parser import Command


def handle(ctx: Context, command: Command) -> Reply:
    """Confirm this phone's booking; a booking code, if given, must match it."""
    code = command.args[0] if command.args else None
    booking = ctx.services.bookings.confirm(ctx.session, ctx.message.sender, ctx.now, code=code)
    return Reply(replies.confirmed(booking, ctx.services.bookings.office_of(booking)))


ROUTE = Route("YA", ("Y", "YES", "OK"), handle)

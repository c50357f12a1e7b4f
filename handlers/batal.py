"""BATAL [KODE] (CANCEL): cancel the sender's active booking; the seat is free at once."""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.context import Context
from sms_gateway.messages import Reply
from sms_gateway.parser import Command
from sms_gateway.router import Route


def handle(ctx: Context, command: Command) -> Reply:
    """Cancel this phone's booking; a booking code, if given, must match it."""
    code = command.args[0] if command.args else None
    booking = ctx.bookings.cancel(ctx.session, ctx.message.sender, ctx.now, code=code)
    return Reply(replies.cancelled(booking))


ROUTE = Route("BATAL", ("CANCEL",), handle)

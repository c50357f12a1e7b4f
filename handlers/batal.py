"""BATAL [KODE] (CANCEL): cancel the sender's booking, or leave the waitlist or a draw.

The seat goes back at once, to the first applicant waiting for it if any.
"""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.context import Context
from sms_gateway.errors import NoActiveBooking
from sms_gateway.messages import Reply
from sms_gateway.parser import Command
from sms_gateway.router import Route


def handle(ctx: Context, command: Command) -> Reply:
    """Cancel this phone's booking; a booking code, if given, must match it."""
    code = command.args[0] if command.args else None
    try:
        booking = ctx.bookings.cancel(ctx.session, ctx.message.sender, ctx.now, code=code)
    except NoActiveBooking:
        # No booking: perhaps the applicant is waiting in line (TUNGGU) instead.
        entry = ctx.waitlist.leave(ctx.session, ctx.message.sender, ctx.now)
        if entry is not None:
            return Reply(replies.wait_left(entry))
        # ... or entered in a draw (an office that gives its days out by lottery).
        ticket = ctx.lottery.withdraw(ctx.session, ctx.message.sender, ctx.now)
        if ticket is None:
            raise
        return Reply(replies.lottery_left(ticket))
    return Reply(replies.cancelled(booking))


ROUTE = Route("BATAL", ("CANCEL",), handle)

"""BATAL [KODE] (CANCEL): cancel the sender's booking, or leave the waitlist or a draw.

The seat goes back at once, to the first applicant waiting for it if any.
"""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.errors import NoActiveBooking
from sms_gateway.messages import Reply
from sms_gateway.models import LotteryEntry, WaitlistEntry
from sms_gateway.parser import Command

# A place in line can become a booking (a promotion, a draw) between the look
# and the change; BATAL then looks again and cancels what it became.
LOOKS = 3


def handle(ctx: Context, command: Command) -> Reply:
    """Cancel this phone's booking; a booking code, if given, must match it."""
    code = command.args[0] if command.args else None
    for _ in range(LOOKS):
        try:
            booking = ctx.services.bookings.cancel(
                ctx.session, ctx.message.sender, ctx.now, code=code
            )
        except NoActiveBooking:
            # No booking: perhaps the applicant is waiting in line (TUNGGU) instead ...
            entry = ctx.services.waitlist.leave(ctx.session, ctx.message.sender, ctx.now)
            if isinstance(entry, WaitlistEntry):
                return Reply(replies.wait_left(entry))
            if entry is not None:
                continue  # promoted meanwhile: cancel the booking it became
            # ... or entered in a draw (an office that gives its days out by lottery).
            ticket = ctx.services.lottery.withdraw(ctx.session, ctx.message.sender, ctx.now)
            if isinstance(ticket, LotteryEntry):
                return Reply(replies.lottery_left(ticket))
            if ticket is not None:
                continue  # drawn meanwhile
            raise
        return Reply(replies.cancelled(booking))
    raise NoActiveBooking(for_cancel=True)


ROUTE = Route("BATAL", ("CANCEL",), handle)

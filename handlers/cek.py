"""CEK (STATUS): show the sender's booking, waitlist place or draw entry, or say there is none."""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.context import Context
from sms_gateway.errors import NoActiveBooking
from sms_gateway.messages import Reply
from sms_gateway.parser import Command
from sms_gateway.router import Route


def handle(ctx: Context, command: Command) -> Reply:
    """Describe the booking this phone holds."""
    booking = ctx.bookings.active_booking(ctx.session, ctx.now, phone=ctx.message.sender)
    if booking is None:
        entry = ctx.bookings.waiting_entry(ctx.session, phone=ctx.message.sender)
        if entry is not None:
            position = ctx.waitlist.position(ctx.session, entry)
            return Reply(replies.waiting(entry, position, key="cek_waiting"))
        ticket = ctx.lottery.entry_of(ctx.session, ctx.message.sender)
        if ticket is not None:
            office = ctx.settings.office(ticket.office_code) or ctx.office
            closes = ctx.lottery.closes_of(ticket)
            return Reply(replies.lottery_entered(ticket, office, closes, again=True))
        raise NoActiveBooking()
    return Reply(replies.status(booking, ctx.bookings.office_of(booking)))


ROUTE = Route("CEK", ("STATUS",), handle)

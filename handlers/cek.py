"""CEK (STATUS): show the sender's booking, waitlist place or draw entry, or say there is none."""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.errors import NoActiveBooking
from sms_gateway.messages import Reply
from sms_gateway.parser import Command


def handle(ctx: Context, command: Command) -> Reply:
    """Describe the booking this phone holds."""
    booking = ctx.services.bookings.active_booking(ctx.session, ctx.now, phone=ctx.message.sender)
    if booking is None:
        entry = ctx.services.bookings.waiting_entry(ctx.session, phone=ctx.message.sender)
        if entry is not None:
            position = ctx.services.waitlist.position(ctx.session, entry)
            return Reply(replies.waiting(entry, position, key="cek_waiting"))
        ticket = ctx.services.lottery.entry_of(ctx.session, ctx.message.sender)
        if ticket is not None:
            office = ctx.core.settings.office(ticket.office_code) or ctx.office
            closes = ctx.services.lottery.closes_of(ticket)
            return Reply(replies.lottery_entered(ticket, office, closes, again=True))
        raise NoActiveBooking()
    return Reply(replies.status(booking, ctx.services.bookings.office_of(booking)))


ROUTE = Route("CEK", ("STATUS",), handle)

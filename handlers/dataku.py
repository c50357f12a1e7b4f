"""DATAKU (MYDATA): tell the sender what the office holds about this phone number.

Indonesia's personal data protection law (UU PDP No. 27/2022) gives everyone
the right to know what personal data is held about them. One SMS: the request
the phone holds now (its booking with date and code, its place in line, or its
draw entry), how many earlier ones are on record, the message count, the
latest block, and how to erase (HAPUS). Never a NIK, not even masked.
"""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.messages import Reply
from sms_gateway.parser import Command
from sms_gateway.services.retention import Retention


def handle(ctx: Context, command: Command) -> Reply:
    """Describe everything held about the sender's phone."""
    phone = ctx.message.sender
    # Read first: a booking whose day has passed is closed here (as CEK does) and
    # then counts among the earlier ones.
    booking = ctx.services.bookings.active_booking(ctx.session, ctx.now, phone=phone)
    waiting = None if booking else ctx.services.bookings.waiting_entry(ctx.session, phone=phone)
    entered = None if booking or waiting else ctx.services.lottery.entry_of(ctx.session, phone)
    held = Retention(ctx.core.settings, ctx.core.nik_secret).held(ctx.session, phone)
    return Reply(
        replies.my_data(
            past_bookings=held.past_bookings,
            past_waitlist=held.past_waitlist,
            past_lottery=held.past_lottery,
            messages=held.messages,
            block_until=held.block_until,
            booking=booking,
            waiting=waiting,
            position=ctx.services.waitlist.position(ctx.session, waiting) if waiting else 0,
            entered=entered,
        )
    )


ROUTE = Route("DATAKU", ("MYDATA",), handle)

"""UBAH <tanggal> [SESI] (PINDAH): move the sender's booking to another day or session.

The new seat is taken and the old one given back in one transaction; if the
new one is not available, the old booking stays as it was.
"""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.dates import DateParseError, parse_date
from sms_gateway.errors import InvalidDate, NoActiveBooking, UnknownSession
from sms_gateway.messages import Reply
from sms_gateway.parser import Command


def handle(ctx: Context, command: Command) -> Reply:
    """Move this phone's booking, atomically."""
    if not command.args:
        return Reply(replies.render("ubah_usage"))
    booking = ctx.services.bookings.active_booking(ctx.session, ctx.now, phone=ctx.message.sender)
    if booking is None:
        raise NoActiveBooking()
    office = ctx.services.bookings.office_of(booking)
    args = list(command.args)
    session = None
    if len(args) > 1 and office.session(args[-1]) is not None:
        session = office.session(args.pop())
    elif (
        len(args) > 1
        and args[-1].isalpha()
        and any(args[-1].upper() == s.name for o in ctx.core.settings.offices for s in o.sessions)
    ):
        raise UnknownSession(args[-1].upper(), office)
    today = ctx.core.calendar.today(office, ctx.now)
    try:
        day = parse_date(" ".join(args), today)
    except DateParseError as exc:
        raise InvalidDate(
            exc.kind, exc.text, ctx.core.calendar.next_bookable(office, today)
        ) from None
    moved = ctx.services.bookings.move(ctx.session, ctx.message.sender, day, session, ctx.now)
    return Reply(replies.moved(moved, office))


ROUTE = Route("UBAH", ("PINDAH",), handle)

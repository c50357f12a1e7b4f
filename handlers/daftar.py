"""DAFTAR <NIK> <tanggal> [SESI] [KODE_KANTOR] (REG, BOOK): book a seat.

The arguments are read by ``sms_gateway.booking_request.parse_request``, the
one reading DAFTAR, TUNGGU and the crowd lane share.
"""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.booking_request import BookingRequest, parse_request
from sms_gateway.errors import DomainError
from sms_gateway.messages import Reply
from sms_gateway.models import BookingAttempt
from sms_gateway.parser import Command


def handle(ctx: Context, command: Command) -> Reply:
    """Book a seat for this applicant, or explain what to fix."""
    if not command.args:
        return Reply(replies.render("daftar_usage"))
    request = parse_request(
        ctx.core.settings, ctx.core.calendar, ctx.office, ctx.message.sender, ctx.now, command.args
    )
    if ctx.services.lottery.takes_entries(request.office, request.day, ctx.now):
        return enter_draw(ctx, request)
    try:
        outcome = ctx.services.bookings.book(ctx.session, request, ctx.now)
    except DomainError as err:
        record_attempt(ctx, request, type(err).__name__)
        raise
    record_attempt(ctx, request, "again" if outcome.existing else "booked")
    return Reply(replies.booked(outcome.booking, outcome.office, again=outcome.existing))


def enter_draw(ctx: Context, request: BookingRequest) -> Reply:
    """Enter the applicant into the day's lottery (an office with allocation = lottery)."""
    try:
        entry, again = ctx.services.lottery.enter(ctx.session, request, ctx.now)
    except DomainError as err:
        record_attempt(ctx, request, type(err).__name__)
        raise
    record_attempt(ctx, request, "lottery_again" if again else "lottery_entered")
    closes = ctx.services.lottery.closes_of(entry)
    return Reply(replies.lottery_entered(entry, request.office, closes, again=again))


def record_attempt(ctx: Context, request: BookingRequest, outcome: str) -> None:
    """Keep every attempt with a valid NIK, refused or not: the fraud report reads them."""
    nik_hash = request.nik.keyed_hash(ctx.core.nik_secret)
    ctx.after.append(
        lambda session: session.add(
            BookingAttempt(
                at=ctx.now,
                phone=request.phone,
                nik_hash=nik_hash,
                nik_masked=request.nik.masked,
                office_code=request.office.code,
                outcome=outcome[:32],
            )
        )
    )


ROUTE = Route("DAFTAR", ("REG", "BOOK"), handle)

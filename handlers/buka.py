"""BUKA <PIN> <tanggal> (kepala): reopen a date closed with TUTUP."""

from __future__ import annotations

from handlers.common import staff_office, take_date
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.dates import format_date, weekday_short
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "BUKA <PIN> <tanggal>, mis. BUKA 1234 8/12"


def handle(ctx: Context, command: Command) -> Reply:
    """Accept bookings for the day again (cancelled bookings stay cancelled)."""
    office = staff_office(ctx)
    day, _ = take_date(ctx, command.args, USAGE)
    when = {"wd": weekday_short(day), "date": format_date(day), "office_code": office.code}
    if not ctx.services.office.reopen_day(ctx.session, office, day, ctx.now):
        return Reply(replies.render("buka_not_closed", **when))
    return Reply(replies.render("buka_ok", **when))


ROUTE = Route("BUKA", (), handle, role=StaffRole.KEPALA, usage=USAGE)

"""TUTUP <PIN> <tanggal> [alasan...] (kepala): close the office that day.

Every booking of the day is cancelled and each applicant gets an SMS with the
reason and how to rebook, in the same transaction as the closure.
"""

from __future__ import annotations

from handlers.common import staff_office, take_date
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.dates import format_date, weekday_short
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "TUTUP <PIN> <tanggal> [alasan], mis. TUTUP 1234 8/12 banjir"


def handle(ctx: Context, command: Command) -> Reply:
    """Close the day (once) and notify its applicants."""
    office = staff_office(ctx)
    day, reason_words = take_date(ctx, command.args, USAGE)
    assert ctx.staff is not None
    closed, cancelled = ctx.services.office.close_day(
        ctx.session, office, day, " ".join(reason_words), ctx.staff.phone, ctx.now
    )
    when = {"wd": weekday_short(day), "date": format_date(day), "office_code": office.code}
    if not closed:
        return Reply(replies.render("tutup_again", **when))
    return Reply(replies.render("tutup_ok", count=cancelled, **when))


ROUTE = Route("TUTUP", (), handle, role=StaffRole.KEPALA, usage=USAGE)

"""SIARAN <PIN> <tanggal> <pesan...> (kepala): text every applicant booked that day."""

from __future__ import annotations

from handlers.common import staff_office, take_date
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.dates import format_date, weekday_short
from sms_gateway.errors import StaffUsage
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "SIARAN <PIN> <tanggal> <pesan>, mis. SIARAN 1234 8/12 Layanan mulai jam 9"


def handle(ctx: Context, command: Command) -> Reply:
    """Queue the message (one segment) for every booking still held that day."""
    office = staff_office(ctx)
    day, words = take_date(ctx, command.args, USAGE)
    if not words:
        raise StaffUsage(USAGE, "pesan kosong")
    text = f"{office.code}: " + " ".join(words)
    count = ctx.services.office.broadcast(ctx.session, office, day, text, ctx.now)
    when = {"wd": weekday_short(day), "date": format_date(day), "office_code": office.code}
    if not count:
        return Reply(replies.render("siaran_none", **when))
    return Reply(replies.render("siaran_ok", count=count, **when))


ROUTE = Route("SIARAN", (), handle, role=StaffRole.KEPALA, usage=USAGE)

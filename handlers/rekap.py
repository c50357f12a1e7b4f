"""REKAP <PIN> [tanggal] (petugas): one-SMS summary of an office day."""

from __future__ import annotations

from handlers.common import staff_office, staff_today, take_date
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "REKAP <PIN> [tanggal], mis. REKAP 1234 besok"


def handle(ctx: Context, command: Command) -> Reply:
    """Count the day's bookings by outcome, and the seats still free per session."""
    day = (
        take_date(ctx, command.args, USAGE, allow_past=True)[0]
        if command.args
        else staff_today(ctx)
    )
    office = staff_office(ctx)
    return Reply(replies.rekap(office, day, ctx.services.office.summary(ctx.session, office, day)))


ROUTE = Route("REKAP", (), handle, role=StaffRole.PETUGAS, usage=USAGE)

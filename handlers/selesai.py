"""SELESAI <PIN> <KODE or queue number> (petugas): mark an applicant served."""

from __future__ import annotations

from handlers.common import staff_office, staff_today
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.errors import StaffUsage
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "SELESAI <PIN> <KODE atau nomor antrean>"


def handle(ctx: Context, command: Command) -> Reply:
    """Mark today's booking with this code or number as served."""
    if not command.args:
        raise StaffUsage(USAGE)
    office, reference = staff_office(ctx), command.args[0]
    booking = ctx.services.office.serve(ctx.session, office, staff_today(ctx), reference, ctx.now)
    return Reply(replies.render("selesai_ok", queue=booking.queue_number))


ROUTE = Route("SELESAI", (), handle, role=StaffRole.PETUGAS, usage=USAGE)

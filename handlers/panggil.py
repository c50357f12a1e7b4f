"""PANGGIL <PIN> [LOKET] (petugas): call the next checked-in applicant to a counter."""

from __future__ import annotations

import re

from handlers.common import staff_office, staff_today
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.errors import StaffUsage
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "PANGGIL <PIN> <loket>, mis. PANGGIL 1234 2"
COUNTER = re.compile(r"^[A-Za-z0-9]{1,8}$")


def handle(ctx: Context, command: Command) -> Reply:
    """Call the next applicant in queue order and text them which counter to go to."""
    counter = command.args[0].upper() if command.args else "1"
    if not COUNTER.match(counter):
        raise StaffUsage(USAGE, "loket 1-8 huruf/angka")
    office = staff_office(ctx)
    booking, waiting = ctx.services.office.call_next(
        ctx.session, office, staff_today(ctx), counter, ctx.now
    )
    if booking is None:
        return Reply(replies.render("panggil_none", office_code=office.code))
    return Reply(
        replies.render("panggil_ok", queue=booking.queue_number, counter=counter, waiting=waiting)
    )


ROUTE = Route("PANGGIL", (), handle, role=StaffRole.PETUGAS, usage=USAGE)

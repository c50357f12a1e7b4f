"""HADIR <PIN> <KODE> <NIK or last 4 digits> (petugas): check an applicant in.

The booking counts only with the identity card that booked it: the NIK read
from the applicant's KTP must match, so a queue number bought from a scalper
is worthless at the counter.
"""

from __future__ import annotations

from handlers.common import staff_office, staff_today
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.errors import StaffUsage
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "HADIR <PIN> <KODE> <NIK atau 4 angka terakhir>"


def handle(ctx: Context, command: Command) -> Reply:
    """Check in today's booking with this code if the NIK matches."""
    if len(command.args) < 2:
        raise StaffUsage(USAGE)
    code, nik_text = command.args[0], "".join(command.args[1:])
    if any(c.isdigit() and not c.isascii() for c in nik_text):
        # The check-in reads the NIK's digits with str.isdigit, which also takes other
        # scripts' digits (Arabic-Indic, circled ones): sixteen of them could not be
        # hashed (UnicodeEncodeError, found by tests/test_properties.py) and four were
        # reported as a mismatch ("do not serve"). A KTP's NIK is 0-9: say so.
        raise StaffUsage(USAGE, "NIK hanya angka 0-9")
    booking, again = ctx.services.office.check_in(
        ctx.session, staff_office(ctx), staff_today(ctx), code, nik_text, ctx.now
    )
    if again:
        return Reply(replies.render("hadir_again", queue=booking.queue_number))
    return Reply(
        replies.render(
            "hadir_ok",
            queue=booking.queue_number,
            session=booking.session_name,
            nik=booking.nik_masked,
        )
    )


ROUTE = Route("HADIR", (), handle, role=StaffRole.PETUGAS, usage=USAGE)

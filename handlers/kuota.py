"""KUOTA <PIN> <tanggal> <SESI> <jumlah> (kepala): set one day's quota for a session."""

from __future__ import annotations

from handlers.common import staff_office, take_date, whole_number
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.config import MAX_QUOTA
from sms_gateway.dates import format_date
from sms_gateway.errors import StaffUsage
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "KUOTA <PIN> <tanggal> <SESI> <jumlah>, mis. KUOTA 1234 8/12 PAGI 50"


def handle(ctx: Context, command: Command) -> Reply:
    """Set the quota, never below the seats already booked."""
    if len(command.args) < 3:
        raise StaffUsage(USAGE)
    office = staff_office(ctx)
    day, rest = take_date(ctx, command.args[:-2], USAGE)
    if rest:
        raise StaffUsage(USAGE)
    session_word, amount_text = command.args[-2], command.args[-1]
    spec = office.session(session_word)
    if spec is None:
        raise StaffUsage(USAGE, "sesi " + "/".join(s.name for s in office.sessions))
    amount = whole_number(amount_text, 0, MAX_QUOTA)
    if amount is None:
        raise StaffUsage(USAGE, f"jumlah 0-{MAX_QUOTA}")
    old, booked = ctx.services.office.set_quota(ctx.session, office, day, spec, amount, ctx.now)
    return Reply(
        replies.render(
            "kuota_ok",
            office_code=office.code,
            date=format_date(day),
            session=spec.name,
            old=old,
            new=amount,
            booked=booked,
        )
    )


ROUTE = Route("KUOTA", (), handle, role=StaffRole.KEPALA, usage=USAGE)

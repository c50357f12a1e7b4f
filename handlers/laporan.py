"""LAPORAN <PIN> [hari] (kepala): the fraud report in one SMS; details via the CLI."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from handlers.common import staff_office, whole_number
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.errors import StaffUsage
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command
from sms_gateway.services.report import fraud_report

USAGE = "LAPORAN <PIN> [hari], mis. LAPORAN 1234 7"
MAX_DAYS = 365


def handle(ctx: Context, command: Command) -> Reply:
    """Count the suspicious patterns of the last N days (default 7) at this office."""
    days = 7
    if command.args:
        wanted = whole_number(command.args[0], 1, MAX_DAYS)
        if wanted is None:
            raise StaffUsage(USAGE, f"hari 1-{MAX_DAYS}")
        days = wanted
    office = staff_office(ctx)
    findings = fraud_report(
        ctx.session,
        ctx.now - timedelta(days=days),
        office=office.code,
        niks_per_phone=office.rules.niks_per_phone,
    )
    found = Counter(f.pattern for f in findings)
    return Reply(
        replies.render(
            "laporan",
            office_code=office.code,
            days=days,
            many_niks=found["phone_many_niks"],
            nik_limit=office.rules.niks_per_phone,
            many_phones=found["nik_many_phones"],
            no_shows=found["often_missing"],
            bursts=found["number_burst"],
        )
    )


ROUTE = Route("LAPORAN", (), handle, role=StaffRole.KEPALA, usage=USAGE)

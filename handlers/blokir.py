"""BLOKIR <PIN> <nomor HP or NIK> <hari> [alasan...] (kepala): bar from booking for N days."""

from __future__ import annotations

from handlers.common import block_target, staff_today, target_word, whole_number
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.dates import format_date
from sms_gateway.errors import StaffUsage
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "BLOKIR <PIN> <nomor HP atau NIK> <hari> [alasan], mis. BLOKIR <PIN> 0812345678 30 calo"
MAX_DAYS = 365


def handle(ctx: Context, command: Command) -> Reply:
    """Block a phone or a NIK; its next DAFTAR is refused, naming the end date."""
    if len(command.args) < 2 or not command.args[1].isdigit():
        raise StaffUsage(USAGE)
    days = whole_number(command.args[1], 1, MAX_DAYS)
    if days is None:
        raise StaffUsage(USAGE, f"hari 1-{MAX_DAYS}")
    kind, value, masked = block_target(ctx, command.args[0], USAGE)
    assert ctx.staff is not None
    block = ctx.services.office.block(
        ctx.session,
        kind,
        value,
        masked,
        days,
        " ".join(command.args[2:]),
        ctx.staff.phone,
        staff_today(ctx),
        ctx.now,
    )
    return Reply(
        replies.render(
            "blokir_ok", what=target_word(kind), masked=masked, until=format_date(block.until)
        )
    )


ROUTE = Route("BLOKIR", (), handle, role=StaffRole.KEPALA, usage=USAGE)

"""LEPAS <PIN> <nomor HP or NIK> (kepala): lift a block."""

from __future__ import annotations

from handlers.common import block_target, target_word
from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.errors import StaffUsage
from sms_gateway.messages import Reply
from sms_gateway.models import StaffRole
from sms_gateway.parser import Command

USAGE = "LEPAS <PIN> <nomor HP atau NIK>"


def handle(ctx: Context, command: Command) -> Reply:
    """Lift every block in force on this phone or NIK."""
    if not command.args:
        raise StaffUsage(USAGE)
    kind, value, masked = block_target(ctx, command.args[0], USAGE)
    lifted = ctx.services.office.unblock(ctx.session, kind, value, ctx.now)
    key = "lepas_ok" if lifted else "lepas_none"
    return Reply(replies.render(key, what=target_word(kind), masked=masked, count=lifted))


ROUTE = Route("LEPAS", (), handle, role=StaffRole.KEPALA, usage=USAGE)

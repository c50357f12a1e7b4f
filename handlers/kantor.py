"""KANTOR (OFFICES): list office codes and names."""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.messages import Reply
from sms_gateway.parser import Command


def handle(ctx: Context, command: Command) -> Reply:
    """List the offices that take bookings, with the code to add to DAFTAR."""
    return Reply(replies.offices(ctx.core.settings.offices))


ROUTE = Route("KANTOR", ("OFFICES",), handle)

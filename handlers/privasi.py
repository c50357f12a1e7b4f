"""PRIVASI (PRIVACY): who holds the sender's data, why, for how long, and their rights.

The text is ``[privacy] notice`` from the config (checked at load to fit one
SMS), with the name of the office the SMS was sent to and the retention
periods filled in.
"""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.messages import Reply
from sms_gateway.parser import Command


def handle(ctx: Context, command: Command) -> Reply:
    """Answer with the privacy notice."""
    return Reply(replies.privacy_notice(ctx.core.settings.privacy.notice_for(ctx.office.name)))


ROUTE = Route("PRIVASI", ("PRIVACY",), handle)

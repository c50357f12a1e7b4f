"""BANTUAN (INFO, HELP, ?, or an empty message): short usage with an example."""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.messages import Reply
from sms_gateway.parser import Command


def handle(ctx: Context, command: Command) -> Reply:
    """Explain how to book, check and cancel."""
    return Reply(replies.render("help"))


ROUTE = Route("BANTUAN", ("INFO", "HELP", "?", ""), handle)

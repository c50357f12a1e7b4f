"""Outbound senders: hand one SMS to a provider. One module per provider.

A sender returns the provider's id for the message (or None when it gives
none) or raises ``SendError``; ``permanent`` says whether trying again later
could help (healthchecks' transports make the same distinction). Senders know
nothing about the database: ``services/outbound.py`` records what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sms_gateway.config import Settings


class SendError(Exception):
    """The provider did not take the message."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    """Something that can hand one SMS to a provider."""

    name: str

    def send(self, to: str, text: str, message_id: int) -> str | None:
        """Send ``text`` to ``to`` (E.164); return the provider's id, raise SendError."""
        ...


def sender_for(name: str, settings: Settings) -> Sender:
    """Return the sender called ``name`` (see ``config.SENDERS``), configured from settings."""
    from sms_gateway.senders.console import ConsoleSender
    from sms_gateway.senders.gammu import GammuSender
    from sms_gateway.senders.kannel import KannelSender
    from sms_gateway.senders.twilio import TwilioSender

    if name == "twilio":
        return TwilioSender(
            settings,
            messaging_service_sid=settings.twilio.messaging_service_sid,
            status_callback=settings.twilio.status_callback,
        )
    senders: dict[str, Callable[[Settings], Sender]] = {
        "kannel": KannelSender,
        "gammu": GammuSender,
        "console": ConsoleSender,
    }
    if name not in senders:
        raise ValueError(f"unknown sender {name!r} (use twilio, {', '.join(senders)})")
    return senders[name](settings)

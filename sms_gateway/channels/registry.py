"""Which sender each configured name (``[outbound] sender``, ``send --via``) stands for.

The registry is an explicit table, so adding a channel means adding one line
here; nothing is discovered by importing.
"""

from __future__ import annotations

from collections.abc import Callable

from sms_gateway.channels.console import ConsoleSender
from sms_gateway.channels.gammu.sender import GammuSender
from sms_gateway.channels.kannel.sender import KannelSender
from sms_gateway.channels.twilio.sender import TwilioSender
from sms_gateway.config import Settings
from sms_gateway.sending import Sender


def _twilio(settings: Settings) -> Sender:
    """Twilio, sending from the Messaging Service and with the status callback configured."""
    return TwilioSender(
        settings,
        messaging_service_sid=settings.twilio.messaging_service_sid,
        status_callback=settings.twilio.status_callback,
    )


# In the order the error message lists them.
REGISTRY: dict[str, Callable[[Settings], Sender]] = {
    "twilio": _twilio,
    "kannel": KannelSender,
    "gammu": GammuSender,
    "console": ConsoleSender,
}


def sender_for(name: str, settings: Settings) -> Sender:
    """Return the sender called ``name`` (see ``config.SENDERS``), configured from settings."""
    factory = REGISTRY.get(name)
    if factory is None:
        raise ValueError(f"unknown sender {name!r} (use {', '.join(REGISTRY)})")
    return factory(settings)

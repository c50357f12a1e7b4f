"""The sender interface: what the outbox hands SMS to, and every channel's sender implements.

It lives below both sides, so the services (``services/outbound.py``) and the
channels (``channels/<provider>/sender.py``) depend on it and never on each
other. A sender returns the provider's id for the message (or None when it gives
none) or raises ``SendError``; ``permanent`` says whether trying again later
could help (healthchecks' transports make the same distinction). Senders know
nothing about the database: ``services/outbound.py`` records what happened.
"""

from __future__ import annotations

from typing import Protocol


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

"""The two shapes every transport agrees on: a message in, a reply out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MAX_TEXT = 1600  # Twilio's limit for a reassembled inbound SMS; longer text is cut


@dataclass(frozen=True)
class InboundMessage:
    """One SMS as a transport adapter hands it inward: verified and normalised."""

    transport: str  # "twilio", "cli", ...
    sender: str  # E.164, normalised by the adapter
    text: str
    recipient: str | None = None  # the gateway number it was sent to (E.164 or short code)
    external_id: str | None = None  # the provider's id, used to answer retries once
    received_at: datetime | None = None

    def __post_init__(self) -> None:
        if len(self.text) > MAX_TEXT:
            object.__setattr__(self, "text", self.text[:MAX_TEXT])


@dataclass(frozen=True)
class Reply:
    """The text to send back to the sender (already one GSM-7 segment)."""

    text: str

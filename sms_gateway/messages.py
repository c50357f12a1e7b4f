"""The two shapes every transport agrees on: a message in, a reply out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

MAX_TEXT = 1600  # Twilio's limit for a reassembled inbound SMS; longer text is cut

# Control characters carry no meaning in an SMS, and PostgreSQL text cannot hold NUL;
# keep only tab, newline and carriage return (the parser treats them as spaces).
_CONTROLS = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r") | {0x7F: None}

# How a message was answered, as the metrics count it (sms_inbound_messages{outcome}).
Outcome = Literal["ok", "refused", "duplicate", "limited"]


@dataclass(frozen=True)
class InboundMessage:
    """One SMS as a transport adapter hands it inward: verified and normalised."""

    transport: str  # "twilio", "cli", ...
    sender: str  # E.164, normalised by the adapter
    text: str
    recipient: str | None = None  # the gateway number it was sent to (E.164 or short code)
    external_id: str | None = None  # the provider's id, used to answer retries once
    received_at: datetime | None = None
    # True when the transport hands the reply back in its HTTP response (Twilio,
    # Kannel); False when it must be sent separately afterwards (Gammu SMSD).
    reply_inline: bool = True

    def __post_init__(self) -> None:
        text = self.text.translate(_CONTROLS)[:MAX_TEXT]
        if text != self.text:
            object.__setattr__(self, "text", text)
        if self.external_id is not None and not self.external_id.isprintable():
            raise ValueError("a provider message id must be printable text")


@dataclass(frozen=True)
class Reply:
    """The text to send back to the sender (already one GSM-7 segment)."""

    text: str
    message_id: int | None = None  # the outbound row in the message log, once written
    duplicate: bool = False  # a provider retry: the stored reply to an earlier delivery
    needs_sending: bool = False  # not yet handed to a provider (see InboundMessage.reply_inline)
    outcome: Outcome = "ok"  # for metrics

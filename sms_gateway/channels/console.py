"""Print outbound SMS instead of sending them: for local use and trials.

Nothing leaves the machine and nothing can fail, so a trial can run the whole
booking flow without a modem, Kannel or a Twilio account.
"""

from __future__ import annotations

import sys
from typing import TextIO

from sms_gateway.config import Settings


class ConsoleSender:
    """Write each SMS as one line to a text stream (standard output by default)."""

    name = "console"

    def __init__(self, settings: Settings, *, stream: TextIO | None = None) -> None:
        self.settings = settings
        self.stream = stream

    def send(self, to: str, text: str, message_id: int) -> str | None:
        """Print the SMS and return a made-up id that names the message."""
        # Look up sys.stdout at send time, so redirection after start-up (and
        # pytest's capsys) still applies.
        stream = self.stream or sys.stdout
        print(f"SMS to {to} (#{message_id}): {text}", file=stream, flush=True)
        return f"console-{message_id}"

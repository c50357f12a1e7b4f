"""Queue SMS for Gammu SMSD with ``gammu-smsd-inject`` (SMSD sends them via the modem).

``gammu-smsd-inject`` writes into SMSD's storage (the files or SQL backend),
so it works whether or not the daemon is running, and the message goes out
when the modem is free. It needs a storage backend: ``Service = null`` cannot
take outbound messages (REFERENCE.md 3).
"""

from __future__ import annotations

import re
import subprocess

from sms_gateway.config import Settings
from sms_gateway.sending import SendError

TIMEOUT_S = 30
_WRITTEN = re.compile(r"Written message with ID (\S+)")


class GammuSender:
    """Hand SMS to Gammu SMSD's outbox."""

    name = "gammu"

    def __init__(self, settings: Settings) -> None:
        self.config = settings.gammu

    def command(self, to: str, text: str) -> list[str]:
        """Return the gammu-smsd-inject command line for one SMS.

        ``-textutf8`` reads the text as UTF-8 whatever the locale, and ``-autolen``
        picks GSM-7 or UCS-2 from the text and splits a long one; plain ``-text``
        would cut at 160 characters and garble non-GSM characters.
        """
        # -autolen is an upper bound on characters read, counted in UTF-16 units.
        units = max(1, len(text.encode("utf-16-le")) // 2)
        return [
            self.config.inject,
            "-c",
            self.config.smsdrc,
            "TEXT",
            to,
            "-autolen",
            str(units),
            "-textutf8",
            text,
        ]

    def send(self, to: str, text: str, message_id: int) -> str | None:
        """Inject one SMS into SMSD's outbox; return SMSD's id for it."""
        try:
            result = subprocess.run(
                self.command(to, text),
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError:
            raise SendError(
                f"{self.config.inject} not found (install gammu-smsd)", permanent=True
            ) from None
        except subprocess.TimeoutExpired:
            raise SendError("gammu-smsd-inject did not finish in time", permanent=False) from None
        output = f"{result.stdout}\n{result.stderr}".strip()
        written = _WRITTEN.search(output)
        if result.returncode != 0 or written is None:
            last = output.splitlines()[-1] if output else f"exit {result.returncode}"
            raise SendError(f"gammu-smsd-inject failed: {last}", permanent=False)
        # The id is the outbox file's path; its name alone is unique and short.
        return written.group(1).rsplit("/", 1)[-1]

"""Logging setup: plain text for people, or one JSON object per line for log collectors.

Either way a NIK never reaches a log line in clear: every message passes
through ``mask_niks_in_text`` as a last line of defence.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from sms_gateway.config import LoggingSettings
from sms_gateway.nik import mask_niks_in_text

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class MaskingFilter(logging.Filter):
    """Mask anything that looks like a NIK in the final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_niks_in_text(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message (and error)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = mask_niks_in_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: LoggingSettings, level: int | None = None) -> None:
    """Send log records to stderr in the configured format."""
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(
        JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level or settings.level, handlers=[handler], force=True)
    # Alembic narrates every start-up check at INFO; only its warnings are news.
    logging.getLogger("alembic").setLevel(logging.WARNING)

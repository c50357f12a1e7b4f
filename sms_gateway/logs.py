"""Logging setup: plain text for people, or one JSON object per line for log collectors.

Either way personal data never reaches a log line in clear: every handler
this module installs (the gateway's own, and the access log of ``serve``)
takes the final text of a record, its traceback included, through
``redact.redact``, the same mask the database columns apply.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, TextIO

from werkzeug.serving import WSGIRequestHandler

from sms_gateway.config import LoggingSettings
from sms_gateway.redact import redact

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A query string in a request line: Kannel's GET carries the shared key and the
# applicant's text there.
_QUERY = re.compile(r"\?[^\s\"']*")


class MaskingFilter(logging.Filter):
    """Mask long digit runs (a NIK, however typed) in a record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class MaskingFormatter(logging.Formatter):
    """A text formatter whose tracebacks are masked too (an error may quote a value)."""

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return redact(super().formatException(ei))


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
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def masking_handler(settings: LoggingSettings) -> logging.StreamHandler[TextIO]:
    """Return a stderr handler in the configured format that masks every record."""
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(
        JsonFormatter() if settings.format == "json" else MaskingFormatter(TEXT_FORMAT)
    )
    return handler


def configure_logging(settings: LoggingSettings, level: int | None = None) -> None:
    """Send log records to stderr in the configured format."""
    logging.basicConfig(
        level=level or settings.level, handlers=[masking_handler(settings)], force=True
    )
    # Alembic narrates every start-up check at INFO; only its warnings are news.
    logging.getLogger("alembic").setLevel(logging.WARNING)


class QueryFreeRequestHandler(WSGIRequestHandler):
    """The development server's request handler, logging paths without query strings.

    ``sms-gateway serve`` logs a line per request, and werkzeug's line (and its
    "bad request" line) quotes the whole request line: for Kannel, the shared
    key and the SMS text. Only the path is worth keeping.
    """

    def log(self, type: str, message: str, *args: Any) -> None:
        """Log through werkzeug's logger with every query string cut off."""
        text = message % args if args else message
        super().log(type, "%s", _QUERY.sub("?..", text))

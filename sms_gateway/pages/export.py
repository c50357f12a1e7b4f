"""The public figures as data: JSON and CSV, and the responses that carry them.

The same figures the HTML pages show, for anyone who wants to check or chart them:
``report_dict``/``report_csv`` for the transparency report, ``board_dict`` for the
waiting-room display's polling script.
"""

from __future__ import annotations

import io
import json
from typing import Any

from flask import Response

from sms_gateway import csv_safe
from sms_gateway.services.transparency import COUNT_FIELDS, CallBoard, DayFigures, OfficeReport

# The display polls this often; the JSON says so, and the page's script reads it.
POLL_SECONDS = 2.5
# Public figures change slowly; a minute of caching spares the database on busy days.
REPORT_CACHE = "public, max-age=60"

CSV_COLUMNS = (
    "office",
    "date",
    "open",
    "closed_reason",
    *COUNT_FIELDS,
    "lottery_status",
    "lottery_commitment",
    "lottery_seed",
    "lottery_entries",
    "lottery_winners",
)


def day_dict(day: DayFigures) -> dict[str, Any]:
    """Return one day's figures as JSON-ready data."""
    lottery = None
    if day.lottery is not None:
        lot = day.lottery
        lottery = {
            "status": lot.status.value,
            "commitment": lot.commitment,
            "opens_at": lot.opens_at.isoformat(),
            "closes_at": lot.closes_at.isoformat(),
            "secret": lot.secret,
            "seed": lot.seed,
            "entries_digest": lot.entries_digest,
            "entries": lot.entries,
            "winners": lot.winners,
            "verify_command": lot.verify_command,
        }
    return {
        "date": day.day.isoformat(),
        "open": day.closed_reason is None,
        "closed_reason": day.closed_reason,
        **day.counts.as_dict(),
        "lottery": lottery,
    }


def report_dict(report: OfficeReport) -> dict[str, Any]:
    """Return an office's report as JSON-ready data."""
    return {
        "office": {"code": report.code, "name": report.name},
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "today": report.today.isoformat(),
        "days": [day_dict(d) for d in report.days],
        "totals": report.totals.as_dict(),
    }


def report_csv(reports: list[OfficeReport]) -> str:
    """Return the reports' days as CSV, one row per office day."""
    out = io.StringIO()
    # Closing reasons are free text from an SMS or the config: never a formula.
    writer = csv_safe.writer(out)
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        for day in report.days:
            lot = day.lottery
            writer.writerow(
                [
                    report.code,
                    day.day.isoformat(),
                    "1" if day.closed_reason is None else "0",
                    day.closed_reason or "",
                    *day.counts.as_dict().values(),
                    lot.status.value if lot else "",
                    lot.commitment if lot else "",
                    (lot.seed or "") if lot else "",
                    "" if lot is None or lot.entries is None else lot.entries,
                    "" if lot is None or lot.winners is None else lot.winners,
                ]
            )
    return out.getvalue()


def board_dict(board: CallBoard) -> dict[str, Any]:
    """Return the call board as the display's JSON."""
    return {
        "office": {"code": board.code, "name": board.name},
        "now": board.now.isoformat(),
        "today": board.now.date().isoformat(),
        "clock": f"{board.now:%H:%M}",
        "poll_seconds": POLL_SECONDS,
        "counters": [
            {
                "counter": c.counter,
                "number": c.call.number if c.call else None,
                "called_at": c.call.called_at.isoformat() if c.call else None,
            }
            for c in board.counters
        ],
        "recent": [
            {"number": c.number, "counter": c.counter, "called_at": c.called_at.isoformat()}
            for c in board.recent
        ],
        "waiting": board.waiting,
    }


def csv_response(body: str, filename: str) -> Response:
    """Return ``body`` as a CSV download named ``filename``."""
    response = Response(body, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = REPORT_CACHE
    return response


def json_response(data: dict[str, Any], cache: str = REPORT_CACHE) -> Response:
    """Return ``data`` as JSON, cached as ``cache`` says."""
    # Keys in the order written (jsonify would sort them), UTF-8 as is: "Kantor Imigrasi ...".
    response = Response(
        json.dumps(data, ensure_ascii=False, indent=1) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response.headers["Cache-Control"] = cache
    return response

"""The public pages' routes: the transparency report and the waiting-room display.

Each view reads its office and range through ``params`` (which refuses with a 404
or a 400 on its own), asks the transparency service for the figures, and hands
them to a template, to ``chart`` for the SVG, or to ``export`` for JSON and CSV.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from pathlib import Path

from flask import Blueprint, Flask, Response, render_template

from sms_gateway.config import OfficeSpec
from sms_gateway.dates import format_date, weekday_short
from sms_gateway.pages.chart import chart_scale, week_chart
from sms_gateway.pages.export import (
    POLL_SECONDS,
    REPORT_CACHE,
    board_dict,
    csv_response,
    json_response,
    report_csv,
    report_dict,
)
from sms_gateway.pages.params import (
    EXTENSION,
    Refused,
    office_or_404,
    requested_range,
    span_links,
    transparency,
)
from sms_gateway.services.transparency import OfficeReport, Transparency
from sms_gateway.services.wiring import Services

# The templates stay in sms_gateway/templates, next to the package, where the
# package data (pyproject.toml) ships them from.
bp = Blueprint(
    "pages", __name__, template_folder=str(Path(__file__).resolve().parent.parent / "templates")
)

# The table's columns: field name, heading. Office cancellations (TUTUP) are noted per day.
TABLE_COLUMNS = (
    ("quota", "Kuota"),
    ("booked", "Terisi"),
    ("checked_in", "Hadir"),
    ("no_show", "Tidak datang"),
    ("released", "Dilepas"),
    ("from_waitlist", "Dari daftar tunggu"),
    ("served", "Selesai"),
    ("cancelled", "Batal"),
)


def init_app(app: Flask, services: Services) -> None:
    """Attach the public pages to ``app``, reading through the services' database."""
    app.extensions[EXTENSION] = Transparency(services.core, services.bookings)
    app.register_blueprint(bp)


@bp.errorhandler(Refused)
def refused(exc: Refused) -> Response:
    """Send what ``params`` refused the request with: its 404 or 400."""
    return exc.response


@bp.app_template_filter("tanggal")
def tanggal(day: date) -> str:
    """Format a date the Indonesian way: ``Sen 30-11-2026``."""
    return f"{weekday_short(day)} {format_date(day)}"


@bp.app_template_filter("hari")
def hari(day: date) -> str:
    """Format a date short, for table rows: ``Sen 30-11`` (the period shows the year)."""
    return f"{weekday_short(day)} {day.day:02d}-{day.month:02d}"


@bp.app_template_filter("jam")
def jam(moment: datetime) -> str:
    """Format a time of day as ``HH:MM``."""
    return f"{moment:%H:%M}"


def html_response(
    body: str, cache: str = REPORT_CACHE, script_nonce: str | None = None
) -> Response:
    """Return a page with its headers: no external assets, a script only with ``script_nonce``."""
    response = Response(body, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = cache
    # No external assets anywhere; the transparency pages run no script at all.
    scripts = f"'nonce-{script_nonce}'" if script_nonce else "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src {scripts}; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _all_reports() -> tuple[date, date, list[OfficeReport]]:
    """Return the requested range and every office's report over it."""
    start, end = requested_range(None)
    service = transparency()
    return start, end, service.reports(list(service.core.settings.offices), start, end)


def _office_report(code: str, *, as_json: bool = False) -> tuple[OfficeSpec, OfficeReport]:
    """Return the office ``code`` names and its report over the requested range."""
    office = office_or_404(code, as_json=as_json)
    start, end = requested_range(office)
    return office, transparency().report(office, start, end)


@bp.get("/transparansi")
def index() -> Response:
    """Every office's totals over the range, with links to each office's page."""
    start, end, reports = _all_reports()
    service = transparency()
    return html_response(
        render_template(
            "transparansi_index.html",
            reports=reports,
            start=start,
            end=end,
            generated=service.core.clock().astimezone(service.core.settings.booking.timezone),
            span=span_links(start, end),
            columns=TABLE_COLUMNS,
        )
    )


@bp.get("/transparansi.json")
def index_json() -> Response:
    """Every office's days over the range, as JSON."""
    start, end, reports = _all_reports()
    service = transparency()
    return json_response(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "generated_at": service.core.clock().isoformat(),
            "offices": [report_dict(r) for r in reports],
        }
    )


@bp.get("/transparansi.csv")
def index_csv() -> Response:
    """Every office's days over the range, as CSV."""
    start, end, reports = _all_reports()
    return csv_response(report_csv(reports), f"transparansi-{start}_{end}.csv")


@bp.get("/transparansi/<code>")
def office_page(code: str) -> Response:
    """One office's days: the table, a bar chart per week, and any lottery rounds."""
    office, report = _office_report(code)
    service = transparency()
    scale = chart_scale(report)
    return html_response(
        render_template(
            "transparansi_kantor.html",
            report=report,
            charts=[week_chart(report.code, w, scale) for w in report.weeks],
            generated=service.core.clock().astimezone(office.timezone),
            span=span_links(report.start, report.end),
            columns=TABLE_COLUMNS,
        )
    )


@bp.get("/transparansi/<code>.json")
def office_json(code: str) -> Response:
    """One office's days, as JSON."""
    _, report = _office_report(code, as_json=True)
    return json_response(report_dict(report))


@bp.get("/transparansi/<code>.csv")
def office_csv(code: str) -> Response:
    """One office's days, as CSV."""
    office, report = _office_report(code)
    filename = f"transparansi-{office.code}-{report.start}_{report.end}.csv"
    return csv_response(report_csv([report]), filename)


@bp.get("/layar/<code>")
def display(code: str) -> Response:
    """The waiting-room TV: numbers being called per counter, and the last few called."""
    office = office_or_404(code)
    nonce = secrets.token_urlsafe(16)
    board = transparency().call_board(office)
    return html_response(
        render_template(
            "layar.html",
            board=board,
            poll_ms=int(POLL_SECONDS * 1000),
            nonce=nonce,
        ),
        cache="no-store",
        script_nonce=nonce,
    )


@bp.get("/layar/<code>.json")
def display_json(code: str) -> Response:
    """What the display shows, for its polling script: never cached."""
    office = office_or_404(code, as_json=True)
    return json_response(board_dict(transparency().call_board(office)), cache="no-store")

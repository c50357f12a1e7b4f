"""The public pages: the transparency report and the waiting-room display.

``GET /transparansi`` and ``/transparansi/<KODE>`` show, per office and day, the
quota and what became of the seats (see ``services/transparency.py`` for the
definitions), as server-rendered HTML without JavaScript, and as CSV and JSON.
``GET /layar/<KODE>`` is the full-screen call board for the waiting room's TV;
it polls ``/layar/<KODE>.json`` every few seconds. No page shows a phone number,
a NIK or a booking code.
"""

from __future__ import annotations

import io
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request

from sms_gateway import csv_safe
from sms_gateway.config import OfficeSpec
from sms_gateway.dates import format_date, weekday_short
from sms_gateway.gateway import Gateway
from sms_gateway.services.transparency import (
    COUNT_FIELDS,
    MAX_RANGE_DAYS,
    CallBoard,
    DayFigures,
    OfficeReport,
    Transparency,
    Week,
)

bp = Blueprint("pages", __name__, template_folder="templates")

EXTENSION = "sms_gateway_pages"
# A range given by one end only spans this many days from it.
ONE_SIDED_SPAN = timedelta(days=28)
# The display polls this often; the JSON says so, and the page's script reads it.
POLL_SECONDS = 2.5
# Public figures change slowly; a minute of caching spares the database on busy days.
REPORT_CACHE = "public, max-age=60"

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# The dates a range may name. A year's margin on each side keeps every date the
# pages compute from them (a one-sided range, the links to the previous and next
# range, the report's days) inside Python's calendar, which ends at 0001-01-01 and
# 9999-12-31: past it the arithmetic raises OverflowError, which would be a 500.
FIRST_DAY = date(2, 1, 1)
LAST_DAY = date(9998, 12, 31)

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


def init_app(app: Flask, gateway: Gateway) -> None:
    """Attach the public pages to ``app``, reading through ``gateway``'s database."""
    app.extensions[EXTENSION] = Transparency(
        gateway.sessions, gateway.settings, gateway.calendar, gateway.bookings, gateway.clock
    )
    app.register_blueprint(bp)


def _service() -> Transparency:
    service: Transparency = current_app.extensions[EXTENSION]
    return service


# -- request parsing ---------------------------------------------------------------------


class RangeError(ValueError):
    """``from``/``to`` cannot be used; the message says why, in Indonesian."""


def parse_range(args: Mapping[str, str], default: tuple[date, date]) -> tuple[date, date]:
    """Read ``from`` and ``to`` (YYYY-MM-DD) from the query, or use ``default``.

    One end alone spans four weeks from it. The range may be at most
    ``MAX_RANGE_DAYS`` days long, must not run backwards, and names dates from
    ``FIRST_DAY`` to ``LAST_DAY`` only.
    """
    start, end = _query_date(args, "from"), _query_date(args, "to")
    if start is None and end is None:
        return default
    if start is None:
        assert end is not None
        start = end - ONE_SIDED_SPAN
    if end is None:
        end = start + ONE_SIDED_SPAN
    if end < start:
        raise RangeError(
            f"Tanggal 'to' ({end.isoformat()}) sebelum tanggal 'from' ({start.isoformat()})."
        )
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RangeError(
            f"Rentang {(end - start).days + 1} hari terlalu panjang: paling banyak "
            f"{MAX_RANGE_DAYS} hari per permintaan."
        )
    return start, end


def _query_date(args: Mapping[str, str], name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    shown = raw[:20]
    if _ISO_DATE.match(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            pass
        else:
            if not FIRST_DAY <= day <= LAST_DAY:
                raise RangeError(
                    f"Tanggal '{name}' ({shown}) di luar jangkauan: pakai tanggal antara "
                    f"{FIRST_DAY.isoformat()} dan {LAST_DAY.isoformat()}."
                )
            return day
    raise RangeError(
        f"Tanggal '{name}' tidak valid ({shown!r}): tulis YYYY-MM-DD, mis. 2026-12-01."
    )


def _bad_request(message: str) -> Response:
    return Response(message + "\n", status=400, content_type="text/plain; charset=utf-8")


# -- the weekly chart --------------------------------------------------------------------

CHART_GROUP = 84  # width of one day's group of bars
CHART_BAR = 20
CHART_GAP = 4
CHART_TOP = 22  # room for the value above the tallest bar
CHART_PLOT = 120  # height of the plot area
CHART_BOTTOM = 26  # room for the day labels
SERIES = (
    ("booked", "terisi", "Terisi"),
    ("checked_in", "hadir", "Hadir"),
    ("no_show", "absen", "Tidak datang"),
)


@dataclass(frozen=True)
class Bar:
    """One bar of the weekly chart, with its value label and tooltip."""

    x: float
    y: float
    height: float
    css: str
    value: int
    tooltip: str


@dataclass(frozen=True)
class QuotaMark:
    """The dashed line at a day's quota."""

    x1: float
    x2: float
    y: float
    tooltip: str


@dataclass(frozen=True)
class DayLabel:
    """A day's name under its bars, and a note for a closed day."""

    x: float
    text: str
    closed: str | None


@dataclass(frozen=True)
class WeekChart:
    """Everything the template needs to draw one week as inline SVG."""

    ident: str
    title: str
    description: str
    width: int
    height: int
    bar_width: int
    baseline: float
    bars: tuple[Bar, ...]
    quotas: tuple[QuotaMark, ...]
    labels: tuple[DayLabel, ...]


def chart_scale(report: OfficeReport) -> int:
    """Return the value the full bar height stands for: the same for every week shown."""
    return max(
        [1] + [max(d.counts.quota, d.counts.booked, d.counts.checked_in) for d in report.days]
    )


def week_chart(code: str, week: Week, scale: int) -> WeekChart:
    """Lay out one week's bars (booked, checked in, no-show per day) and quota marks."""
    baseline = CHART_TOP + CHART_PLOT
    bars: list[Bar] = []
    quotas: list[QuotaMark] = []
    labels: list[DayLabel] = []
    parts = []
    for i, day in enumerate(week.days):
        left = i * CHART_GROUP + (CHART_GROUP - 3 * CHART_BAR - 2 * CHART_GAP) / 2
        name = f"{weekday_short(day.day)} {format_date(day.day)}"
        labels.append(
            DayLabel(
                i * CHART_GROUP + CHART_GROUP / 2,
                f"{weekday_short(day.day)} {day.day.day}",
                "tutup" if day.closed_reason else None,
            )
        )
        if day.closed_reason:
            parts.append(f"{name}: tutup")
            continue
        for j, (field, css, label) in enumerate(SERIES):
            value = getattr(day.counts, field)
            height = CHART_PLOT * value / scale
            bars.append(
                Bar(
                    x=left + j * (CHART_BAR + CHART_GAP),
                    y=baseline - height,
                    height=height,
                    css=css,
                    value=value,
                    tooltip=f"{name}: {label.lower()} {value}",
                )
            )
        quota = day.counts.quota
        y = baseline - CHART_PLOT * quota / scale
        quotas.append(
            QuotaMark(
                left - 3, left + 3 * CHART_BAR + 2 * CHART_GAP + 3, y, f"{name}: kuota {quota}"
            )
        )
        parts.append(
            f"{name}: kuota {quota}, terisi {day.counts.booked}, hadir {day.counts.checked_in}, "
            f"tidak datang {day.counts.no_show}"
        )
    first, last = week.days[0].day, week.days[-1].day
    return WeekChart(
        ident=f"grafik-{code}-{week.year}-w{week.number:02d}",
        title=f"Minggu ke-{week.number} {week.year} ({format_date(first)} s/d {format_date(last)})",
        description="; ".join(parts),
        width=max(len(week.days), 1) * CHART_GROUP,
        height=CHART_TOP + CHART_PLOT + CHART_BOTTOM,
        bar_width=CHART_BAR,
        baseline=baseline,
        bars=tuple(bars),
        quotas=tuple(quotas),
        labels=tuple(labels),
    )


# -- serialisation -----------------------------------------------------------------------


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


def _csv_response(body: str, filename: str) -> Response:
    response = Response(body, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = REPORT_CACHE
    return response


def _json_response(data: dict[str, Any], cache: str = REPORT_CACHE) -> Response:
    # Keys in the order written (jsonify would sort them), UTF-8 as is: "Kantor Imigrasi ...".
    response = Response(
        json.dumps(data, ensure_ascii=False, indent=1) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response.headers["Cache-Control"] = cache
    return response


# -- views -------------------------------------------------------------------------------


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


def _office_or_none(code: str) -> OfficeSpec | None:
    return _service().settings.office(code)


def _not_found(code: str, as_json: bool = False) -> Response:
    if as_json:
        response = _json_response({"error": f"kantor {code.upper()[:8]} tidak ada"}, "no-store")
        response.status_code = 404
        return response
    html = render_template(
        "tidak_ditemukan.html", code=code.upper()[:8], offices=_service().settings.offices
    )
    return Response(html, status=404, content_type="text/html; charset=utf-8")


def _html(body: str, cache: str = REPORT_CACHE, script_nonce: str | None = None) -> Response:
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


def _range_for(office: OfficeSpec | None) -> tuple[date, date]:
    return parse_range(request.args, _service().default_range(office))


@bp.get("/transparansi")
def index() -> Response:
    """Every office's totals over the range, with links to each office's page."""
    try:
        start, end = _range_for(None)
    except RangeError as exc:
        return _bad_request(str(exc))
    service = _service()
    reports = service.reports(list(service.settings.offices), start, end)
    return _html(
        render_template(
            "transparansi_index.html",
            reports=reports,
            start=start,
            end=end,
            generated=service.clock().astimezone(service.settings.booking.timezone),
            span=_span_links(start, end),
            columns=TABLE_COLUMNS,
        )
    )


@bp.get("/transparansi.json")
def index_json() -> Response:
    """Every office's days over the range, as JSON."""
    try:
        start, end = _range_for(None)
    except RangeError as exc:
        return _bad_request(str(exc))
    service = _service()
    reports = service.reports(list(service.settings.offices), start, end)
    return _json_response(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "generated_at": service.clock().isoformat(),
            "offices": [report_dict(r) for r in reports],
        }
    )


@bp.get("/transparansi.csv")
def index_csv() -> Response:
    """Every office's days over the range, as CSV."""
    try:
        start, end = _range_for(None)
    except RangeError as exc:
        return _bad_request(str(exc))
    service = _service()
    reports = service.reports(list(service.settings.offices), start, end)
    return _csv_response(report_csv(reports), f"transparansi-{start}_{end}.csv")


@bp.get("/transparansi/<code>")
def office_page(code: str) -> Response:
    """One office's days: the table, a bar chart per week, and any lottery rounds."""
    office = _office_or_none(code)
    if office is None:
        return _not_found(code)
    try:
        start, end = _range_for(office)
    except RangeError as exc:
        return _bad_request(str(exc))
    service = _service()
    report = service.report(office, start, end)
    scale = chart_scale(report)
    return _html(
        render_template(
            "transparansi_kantor.html",
            report=report,
            charts=[week_chart(report.code, w, scale) for w in report.weeks],
            generated=service.clock().astimezone(office.timezone),
            span=_span_links(start, end),
            columns=TABLE_COLUMNS,
        )
    )


@bp.get("/transparansi/<code>.json")
def office_json(code: str) -> Response:
    """One office's days, as JSON."""
    office = _office_or_none(code)
    if office is None:
        return _not_found(code, as_json=True)
    try:
        start, end = _range_for(office)
    except RangeError as exc:
        return _bad_request(str(exc))
    return _json_response(report_dict(_service().report(office, start, end)))


@bp.get("/transparansi/<code>.csv")
def office_csv(code: str) -> Response:
    """One office's days, as CSV."""
    office = _office_or_none(code)
    if office is None:
        return _not_found(code)
    try:
        start, end = _range_for(office)
    except RangeError as exc:
        return _bad_request(str(exc))
    report = _service().report(office, start, end)
    return _csv_response(report_csv([report]), f"transparansi-{office.code}-{start}_{end}.csv")


@bp.get("/layar/<code>")
def display(code: str) -> Response:
    """The waiting-room TV: numbers being called per counter, and the last few called."""
    office = _office_or_none(code)
    if office is None:
        return _not_found(code)
    nonce = secrets.token_urlsafe(16)
    board = _service().call_board(office)
    return _html(
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
    office = _office_or_none(code)
    if office is None:
        return _not_found(code, as_json=True)
    return _json_response(board_dict(_service().call_board(office)), cache="no-store")


@dataclass(frozen=True)
class Span:
    """Query strings for the previous and next range of the same length."""

    earlier: str
    later: str
    current: str


def _span_links(start: date, end: date) -> Span:
    length = end - start + timedelta(days=1)
    earlier = f"?from={start - length}&to={end - length}"
    later = f"?from={start + length}&to={end + length}"
    return Span(earlier, later, f"?from={start}&to={end}")

"""What a request to the public pages asks for: an office and a date range.

Every view starts the same way: look the office up by its code, read ``from`` and
``to`` from the query. ``office_or_404`` and ``requested_range`` do it for all of
them; what they cannot serve they raise as ``Refused``, carrying the response to
send instead (the friendly 404 page, or a plain 400 that says what is wrong), which
the blueprint's error handler returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from flask import Response, current_app, render_template, request

from sms_gateway.config import OfficeSpec
from sms_gateway.pages.export import json_response
from sms_gateway.services.transparency import MAX_RANGE_DAYS, Transparency

# Where ``init_app`` keeps the transparency service, in ``app.extensions``.
EXTENSION = "sms_gateway_pages"
# A range given by one end only spans this many days from it.
ONE_SIDED_SPAN = timedelta(days=28)

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# The dates a range may name. A year's margin on each side keeps every date the
# pages compute from them (a one-sided range, the links to the previous and next
# range, the report's days) inside Python's calendar, which ends at 0001-01-01 and
# 9999-12-31: past it the arithmetic raises OverflowError, which would be a 500.
FIRST_DAY = date(2, 1, 1)
LAST_DAY = date(9998, 12, 31)


def transparency() -> Transparency:
    """Return the current app's transparency service, as ``init_app`` attached it."""
    service: Transparency = current_app.extensions[EXTENSION]
    return service


class Refused(Exception):
    """The request cannot be served; ``response`` is what to send instead."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def office_or_404(code: str, *, as_json: bool = False) -> OfficeSpec:
    """Return the office ``code`` names, or refuse with a 404 (a page, or JSON)."""
    office = transparency().core.settings.office(code)
    if office is None:
        raise Refused(_not_found(code, as_json))
    return office


def requested_range(office: OfficeSpec | None) -> tuple[date, date]:
    """Return the query's range, by default ``office``'s (all offices' for None); 400 if bad."""
    try:
        return parse_range(request.args, transparency().default_range(office))
    except RangeError as exc:
        raise Refused(
            Response(str(exc) + "\n", status=400, content_type="text/plain; charset=utf-8")
        ) from exc


def _not_found(code: str, as_json: bool) -> Response:
    shown = code.upper()[:8]
    if as_json:
        response = json_response({"error": f"kantor {shown} tidak ada"}, "no-store")
        response.status_code = 404
        return response
    html = render_template(
        "tidak_ditemukan.html", code=shown, offices=transparency().core.settings.offices
    )
    return Response(html, status=404, content_type="text/html; charset=utf-8")


# -- the date range ----------------------------------------------------------------------


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


@dataclass(frozen=True)
class Span:
    """Query strings for the previous and next range of the same length, and this one."""

    earlier: str
    later: str
    current: str


def span_links(start: date, end: date) -> Span:
    """Return the query strings of the ranges before and after ``start``..``end``."""
    length = end - start + timedelta(days=1)
    earlier = f"?from={start - length}&to={end - length}"
    later = f"?from={start + length}&to={end + length}"
    return Span(earlier, later, f"?from={start}&to={end}")

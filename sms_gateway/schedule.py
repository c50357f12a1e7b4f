"""When an office is open and which dates can be booked.

An office is closed on weekdays outside its ``open_days``, on Indonesian
national holidays (and cuti bersama, unless configured otherwise) from the
``holidays`` package, and on its configured ``closed_dates``. A date can be
booked when the office is open and it lies between ``min_days_ahead`` and
``max_days_ahead`` days from today, in the office's time zone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Literal

import holidays

from sms_gateway.config import OfficeSpec, Settings
from sms_gateway.dates import weekday_name
from sms_gateway.errors import DateNotBookable

MAX_REASON = 40
# Why a date lies outside the bookable range (a ``DateNotBookable`` kind).
OutOfRange = Literal["past", "too_soon", "too_far"]
NO_CLOSURES: Mapping[date, str] = MappingProxyType({})


class OfficeCalendar:
    """Answer "is this office open on this day" and "what can be booked from today"."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._years: dict[int, holidays.HolidayBase] = {}
        self._configured: dict[tuple[str, date], str | None] = {}

    def _holidays(self, year: int) -> holidays.HolidayBase | dict[date, str]:
        if not self.settings.calendar.national_holidays:
            return {}
        # The holidays object fills years lazily, mutating itself; build one per
        # year under a lock so threads of the web server never race on it.
        with self._lock:
            found = self._years.get(year)
            if found is None:
                categories = (
                    ("public", "government") if self.settings.calendar.cuti_bersama else ("public",)
                )
                found = holidays.country_holidays(
                    "ID", years=year, categories=categories, language="id"
                )
                self._years[year] = found
            return found

    def today(self, office: OfficeSpec, now: datetime) -> date:
        """Return the office's local date at the aware instant ``now``."""
        return now.astimezone(office.timezone).date()

    def last_finished_day(self, office: OfficeSpec, now: datetime) -> date:
        """Return the latest office day that is over: today after the last session, else
        yesterday."""
        local = now.astimezone(office.timezone)
        closing = max(s.end for s in office.sessions)
        return local.date() if local.time() >= closing else local.date() - timedelta(days=1)

    def closed_reason(
        self, office: OfficeSpec, day: date, closures: Mapping[date, str] = NO_CLOSURES
    ) -> str | None:
        """Return why the office is closed on ``day`` (Indonesian, short), or None if open.

        ``closures`` are the days the office head closed by SMS (TUTUP), with reasons;
        the booking service reads them from the database.
        """
        if day in closures:
            return closures[day] or "kantor tutup"
        key = (office.code, day)
        if key not in self._configured:
            # The configured calendar never changes while the process runs; the
            # "next open date" of a refusal asks about the same days again and again.
            self._configured[key] = self._configured_reason(office, day)
        return self._configured[key]

    def _configured_reason(self, office: OfficeSpec, day: date) -> str | None:
        if day in office.closed_dates:
            return office.closed_dates[day] or "kantor tutup"
        name = self._holidays(day.year).get(day)
        if name:
            # Several holidays can fall on one day; the package joins them with "; ".
            return str(name).split(";")[0].strip()[:MAX_REASON]
        if day.weekday() not in office.open_days:
            return f"hari {weekday_name(day)}"
        return None

    def is_open(
        self, office: OfficeSpec, day: date, closures: Mapping[date, str] = NO_CLOSURES
    ) -> bool:
        """Return True when the office serves applicants on ``day``."""
        return self.closed_reason(office, day, closures) is None

    def bookable_range(self, today: date) -> tuple[date, date]:
        """Return the first and last date that may be booked from ``today``."""
        booking = self.settings.booking
        return (
            today + timedelta(days=booking.min_days_ahead),
            today + timedelta(days=booking.max_days_ahead),
        )

    def bookable_days(
        self, office: OfficeSpec, today: date, closures: Mapping[date, str] = NO_CLOSURES
    ) -> Iterator[date]:
        """Yield the open, bookable dates from ``today``, in order."""
        first, last = self.bookable_range(today)
        day = first
        while day <= last:
            if self.is_open(office, day, closures):
                yield day
            day += timedelta(days=1)

    def next_bookable(
        self,
        office: OfficeSpec,
        today: date,
        start: date | None = None,
        closures: Mapping[date, str] = NO_CLOSURES,
    ) -> date | None:
        """Return the first open, bookable date from ``start`` (default: the first allowed)."""
        days = self.bookable_days(office, today, closures)
        return next((d for d in days if start is None or d >= start), None)

    def check_bookable(
        self, office: OfficeSpec, day: date, today: date, closures: Mapping[date, str] = NO_CLOSURES
    ) -> None:
        """Raise DateNotBookable, with the reason and the next open date, if ``day`` is not."""
        out_of_range = self._out_of_range(day, today)
        if out_of_range is not None:
            kind, limit_days = out_of_range
            next_open = self.next_bookable(office, today, closures=closures)
            raise DateNotBookable(kind, day, office, next_open, limit_days=limit_days)
        reason = self.closed_reason(office, day, closures)
        if reason is not None:
            nearest = self.nearest_bookable(office, today, day, closures)
            raise DateNotBookable("closed", day, office, nearest, reason=reason)

    def _out_of_range(self, day: date, today: date) -> tuple[OutOfRange, int] | None:
        """Return why ``day`` lies outside the bookable range, and the limit to name; or None."""
        first, last = self.bookable_range(today)
        booking = self.settings.booking
        if day < today:
            return "past", 0
        if day < first:
            return "too_soon", booking.min_days_ahead
        if day > last:
            return "too_far", booking.max_days_ahead
        return None

    def nearest_bookable(
        self, office: OfficeSpec, today: date, day: date, closures: Mapping[date, str] = NO_CLOSURES
    ) -> date | None:
        """Return the open, bookable date nearest ``day``: the next one, else the one before."""
        after = self.next_bookable(office, today, day + timedelta(days=1), closures)
        if after is not None:
            return after
        before = [d for d in self.bookable_days(office, today, closures=closures) if d < day]
        return before[-1] if before else None

"""Read the dates applicants type (8/12, 08-12-26, 8 Des, besok, senin) into calendar dates."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

# Month words applicants actually type: Indonesian full/short forms, old spellings
# (pebruari, nopember) and the English forms that differ, since people mix them.
MONTHS: dict[str, int] = {
    "januari": 1, "jan": 1, "january": 1,
    "februari": 2, "feb": 2, "pebruari": 2, "peb": 2, "february": 2,
    "maret": 3, "mar": 3, "march": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "jun": 6, "june": 6,
    "juli": 7, "jul": 7, "july": 7,
    "agustus": 8, "agu": 8, "agt": 8, "ags": 8, "agust": 8, "aug": 8, "august": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10, "oct": 10, "october": 10,
    "november": 11, "nov": 11, "nop": 11, "nopember": 11,
    "desember": 12, "des": 12, "dec": 12, "december": 12,
}  # fmt: skip

# Weekday words -> date.weekday() numbers (Monday == 0).
WEEKDAYS: dict[str, int] = {
    "senin": 0, "selasa": 1, "rabu": 2, "kamis": 3, "jumat": 4, "sabtu": 5,
    "minggu": 6, "ahad": 6,
}  # fmt: skip

# Relative words -> days after today.
RELATIVE_DAYS: dict[str, int] = {
    "hari ini": 0, "hariini": 0, "sekarang": 0,
    "besok": 1, "bsk": 1, "besuk": 1,
    "lusa": 2,
}  # fmt: skip

# Plain ASCII on purpose: replies go out as GSM-7 SMS.
WEEKDAY_SHORT: tuple[str, ...] = ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min")
WEEKDAY_NAMES: tuple[str, ...] = (
    "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu",
)  # fmt: skip

# The backreference \2 forces one separator throughout, so "8-12/2026" is refused.
_NUMERIC_RE = re.compile(r"(\d{1,2})\s*([-/.])\s*(\d{1,2})(?:\s*\2\s*(\d+))?")
_ISO_RE = re.compile(r"(\d{4})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{1,2})")
_MONTH_NAME_RE = re.compile(r"(\d{1,2})[\s./-]*([a-z]+)(?:[\s./-]*(\d+))?")
_WEEKDAY_RE = re.compile(r"(?:hari\s*)?([a-z]+)(?:\s+depan)?")
_APOSTROPHES_RE = re.compile(r"['`\u2018\u2019]")
_SPACES_RE = re.compile(r"\s+")


# Why a date text was refused; each has its own reply.
DateProblem = Literal["empty", "unrecognised", "impossible"]


class DateParseError(ValueError):
    """The applicant's date text could not be turned into a calendar date."""

    kind: DateProblem
    text: str  # the text as the applicant sent it (stripped)

    def __init__(self, kind: DateProblem, text: str) -> None:
        """Record why `text` was refused."""
        # Pass both fields to ValueError so the exception survives pickling/copying.
        super().__init__(kind, text)
        self.kind = kind
        self.text = text

    def __str__(self) -> str:
        """Describe the failure for logs."""
        return f"{self.kind} date: {self.text!r}"


def parse_date(text: str, today: date) -> date:
    """Turn an applicant's date text into a date, relative to `today` (already in WIB)."""
    raw = text.strip()
    cleaned = _normalise(raw)
    if not cleaned:
        raise DateParseError("empty", raw)
    try:
        result = _parse_cleaned(cleaned, today)
    except ValueError:
        # date() raises ValueError for fields that cannot exist (31-02, month 13).
        raise DateParseError("impossible", raw) from None
    if result is None:
        raise DateParseError("unrecognised", raw)
    return result


def format_date(d: date) -> str:
    """Format `d` as dd-mm-yyyy."""
    # Not strftime: %Y is not zero-padded for years < 1000 on every platform.
    return f"{d.day:02d}-{d.month:02d}-{d.year:04d}"


def weekday_short(d: date) -> str:
    """Return the Indonesian three-letter weekday abbreviation of `d`."""
    return WEEKDAY_SHORT[d.weekday()]


def weekday_name(d: date) -> str:
    """Return the Indonesian weekday name of `d`."""
    return WEEKDAY_NAMES[d.weekday()]


def _normalise(raw: str) -> str:
    """Lower-case, drop apostrophes (jum'at), squeeze spaces, drop trailing . and ,."""
    text = _APOSTROPHES_RE.sub("", raw.lower())
    text = _SPACES_RE.sub(" ", text)
    return text.rstrip(".,").strip()


def _parse_cleaned(text: str, today: date) -> date | None:
    """Return the date for normalised `text` or None; raise ValueError if it cannot exist."""
    if text in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS[text])
    if (m := _WEEKDAY_RE.fullmatch(text)) and m[1] in WEEKDAYS:
        # Strictly after today: "senin" sent on a Monday means next week's Monday.
        return today + timedelta(days=(WEEKDAYS[m[1]] - today.weekday() - 1) % 7 + 1)
    if m := _ISO_RE.fullmatch(text):
        return date(int(m[1]), int(m[3]), int(m[4]))
    if m := _NUMERIC_RE.fullmatch(text):
        return _build(int(m[1]), int(m[3]), m[4], today)
    if (m := _MONTH_NAME_RE.fullmatch(text)) and m[2] in MONTHS:
        return _build(int(m[1]), MONTHS[m[2]], m[3], today)
    return None


def _build(day: int, month: int, year_text: str | None, today: date) -> date | None:
    """Build a date from parts; a missing year means the next occurrence on or after today."""
    if year_text is None:
        return _next_occurrence(day, month, today)
    if len(year_text) == 2:
        return date(2000 + int(year_text), month, day)
    if len(year_text) == 4:
        return date(int(year_text), month, day)
    return None  # 1- or 3-digit years are more likely typos than dates


def _next_occurrence(day: int, month: int, today: date) -> date:
    """Return the first valid day/month on or after `today`; raise ValueError if none exists."""
    date(2000, month, day)  # leap year: accepts 29-02 but rejects 30-02, month 13, day 0
    # Nine years always contain a 29 Feb (leap years can be 8 apart, e.g. 2096 -> 2104).
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise ValueError(f"no year from {today.year} has {day:02d}-{month:02d}")

"""Read the gateway's SMS as a person would: which message is it, and what does it say.

Every text the gateway sends comes from a template in ``sms_gateway.replies``;
``classify`` names the template a text came from, so the simulator reacts to
what the applicant was actually told (and counts refusals by their reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sms_gateway.replies import template_of

_BOOKING = re.compile(
    r"Antrean (?P<queue>[A-Z0-9]+)-\d+ .*?, \w+ (?P<day>\d\d-\d\d-\d{4}) "
    r"(?P<session>[A-Z0-9]+), datang .*?Kode (?P<code>[A-Z0-9]+)"
)
_SUGGESTED = re.compile(r"DAFTAR <NIK> (\d\d-\d\d-\d{4})")
_UNTIL = re.compile(r"s/d (\d\d-\d\d-\d{4})")


@dataclass(frozen=True)
class Seat:
    """A booking as its SMS describes it."""

    office: str
    day: date
    session: str
    code: str


def classify(body: str) -> str:
    """Return the template key a gateway text came from ("" for none, "silence" if empty)."""
    if not body:
        return "silence"
    return template_of(body)[0] or ""


def parse_day(text: str) -> date:
    """Read ``dd-mm-yyyy``."""
    return datetime.strptime(text, "%d-%m-%Y").date()


def seat(body: str) -> Seat | None:
    """Return the booking a confirmation, status or promotion SMS describes."""
    m = _BOOKING.search(body)
    if m is None:
        return None
    return Seat(m["queue"], parse_day(m["day"]), m["session"], m["code"])


def suggested_day(body: str) -> date | None:
    """Return the date a refusal suggests ("Kirim DAFTAR <NIK> 09-12-2026"), if any."""
    found = _SUGGESTED.findall(body)
    return parse_day(found[-1]) if found else None


def until(body: str) -> date | None:
    """Return the end date of a ban ("s/d 01-01-2027"), if the text names one."""
    m = _UNTIL.search(body)
    return parse_day(m[1]) if m else None

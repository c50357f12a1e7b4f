"""What an applicant asks for when booking, and how it is read from DAFTAR's words.

The arguments come as tokens in the order people type them: the NIK, possibly
in groups (``3528 0115 0590 0001``); then the date, possibly in words
(``8 Des 2026``); then, in any order, a session name and an office code.
``parse_request`` is pure (no database): DAFTAR and TUNGGU on the full path and
the crowd lane all read a request with it, so they read it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sms_gateway.config import OfficeSpec, SessionSpec, Settings
from sms_gateway.dates import DateParseError, parse_date
from sms_gateway.errors import InvalidDate, InvalidNik, UnknownSession, UnknownWord
from sms_gateway.nik import Nik, NikError, parse_nik, take_nik
from sms_gateway.replies import EXAMPLE_NIK
from sms_gateway.schedule import OfficeCalendar

# A first argument with this many digits was meant as a NIK, even if it has a typo.
NIK_LIKE_DIGITS = 6


@dataclass(frozen=True)
class BookingRequest:
    """What an applicant asked for, already validated."""

    phone: str
    nik: Nik
    day: date
    office: OfficeSpec
    session: SessionSpec | None  # None: the first session with a free seat


def parse_request(
    settings: Settings,
    calendar: OfficeCalendar,
    default_office: OfficeSpec,
    phone: str,
    now: datetime,
    args: Sequence[str],
) -> BookingRequest:
    """Read the NIK, date, session and office from DAFTAR's arguments.

    Pure: no database. ``default_office`` is the office whose number received
    the SMS; raises the DomainError that explains a malformed request.
    """
    nik_text, rest = take_nik(args)
    nik = _read_nik(nik_text, args[0])

    session_names = settings.session_names
    office = session_word = None
    date_tokens: list[str] = []
    for token in rest:
        word = token.upper()
        if office is None and settings.office(word) is not None:
            office = settings.office(word)
        elif session_word is None and word in session_names:
            session_word = word
        else:
            date_tokens.append(token)
    office = office or default_office

    session = None
    if session_word is not None:
        session = office.session(session_word)
        if session is None:
            raise UnknownSession(session_word, office)

    today = calendar.today(office, now)
    try:
        day = parse_date(" ".join(date_tokens), today)
    except DateParseError as exc:
        _blame_trailing_word(date_tokens, today, settings, office)
        raise InvalidDate(exc.kind, exc.text, calendar.next_bookable(office, today)) from None
    return BookingRequest(phone=phone, nik=nik, day=day, office=office, session=session)


def _read_nik(nik_text: str, first_arg: str) -> Nik:
    if not nik_text:
        if sum(c.isdigit() for c in first_arg) < NIK_LIKE_DIGITS:
            raise InvalidNik("missing")
        nik_text = first_arg  # e.g. a letter O typed for a zero: say what is wrong with it
    try:
        nik = parse_nik(nik_text)
    except NikError as exc:
        raise InvalidNik(exc.part, exc.detail) from None
    if nik.digits == EXAMPLE_NIK:
        raise InvalidNik("example")
    return nik


def _blame_trailing_word(
    date_tokens: list[str], today: date, settings: Settings, office: OfficeSpec
) -> None:
    """Raise UnknownWord if the date parses without its last word (unknown office/session)."""
    if len(date_tokens) < 2 or not date_tokens[-1].isalpha():
        return
    try:
        parse_date(" ".join(date_tokens[:-1]), today)
    except DateParseError:
        return
    raise UnknownWord(date_tokens[-1], office, settings.offices)

from __future__ import annotations

import pickle
from datetime import date, timedelta

import pytest

from sms_gateway.dates import (
    DateParseError,
    format_date,
    parse_date,
    weekday_name,
    weekday_short,
)

TODAY = date(2026, 11, 27)  # a Friday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # dd-mm-yyyy with each separator, zero-padded or not
        ("08-12-2026", date(2026, 12, 8)),
        ("8-12-2026", date(2026, 12, 8)),
        ("08/12/2026", date(2026, 12, 8)),
        ("8/1/2027", date(2027, 1, 8)),
        ("08.12.2026", date(2026, 12, 8)),
        ("8.1.2027", date(2027, 1, 8)),
        ("8 - 12 - 2026", date(2026, 12, 8)),
        # two-digit years mean 20yy
        ("08-12-26", date(2026, 12, 8)),
        ("8/1/27", date(2027, 1, 8)),
        ("8.1.27", date(2027, 1, 8)),
        ("1-1-00", date(2000, 1, 1)),
        # no year: next occurrence on or after today
        ("28-11", date(2026, 11, 28)),
        ("27-11", date(2026, 11, 27)),
        ("26-11", date(2027, 11, 26)),
        ("5/1", date(2027, 1, 5)),
        ("8.12", date(2026, 12, 8)),
        # ISO order
        ("2026-12-08", date(2026, 12, 8)),
        ("2027/1/5", date(2027, 1, 5)),
        ("2026.12.08", date(2026, 12, 8)),
    ],
)
def test_numeric_formats(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 Desember 2026", date(2026, 12, 8)),
        ("8 des", date(2026, 12, 8)),
        ("8 Des 26", date(2026, 12, 8)),
        ("08-des-2026", date(2026, 12, 8)),
        ("8/des/2026", date(2026, 12, 8)),
        ("8.des.27", date(2027, 12, 8)),
        ("8des", date(2026, 12, 8)),
        ("8des2026", date(2026, 12, 8)),
        ("8 des. 2026", date(2026, 12, 8)),
        ("8 DESEMBER", date(2026, 12, 8)),
        ("8 dEsEmBeR 2026", date(2026, 12, 8)),
        # no year: next occurrence on or after today
        ("27 nov", date(2026, 11, 27)),
        ("26 nov", date(2027, 11, 26)),
        ("1 januari", date(2027, 1, 1)),
    ],
)
def test_month_name_formats(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("word", "month"),
    [
        *[(w, 1) for w in ("januari", "jan", "january")],
        *[(w, 2) for w in ("februari", "feb", "pebruari", "peb", "february")],
        *[(w, 3) for w in ("maret", "mar", "march")],
        *[(w, 4) for w in ("april", "apr")],
        *[(w, 5) for w in ("mei", "may")],
        *[(w, 6) for w in ("juni", "jun", "june")],
        *[(w, 7) for w in ("juli", "jul", "july")],
        *[(w, 8) for w in ("agustus", "agu", "agt", "ags", "agust", "aug", "august")],
        *[(w, 9) for w in ("september", "sep", "sept")],
        *[(w, 10) for w in ("oktober", "okt", "oct", "october")],
        *[(w, 11) for w in ("november", "nov", "nop", "nopember")],
        *[(w, 12) for w in ("desember", "des", "dec", "december")],
    ],
)
def test_every_month_word(word: str, month: int) -> None:
    assert parse_date(f"15 {word} 2027", TODAY) == date(2027, month, 15)
    assert parse_date(f"15-{word.upper()}-27", TODAY) == date(2027, month, 15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hari ini", TODAY),
        ("hariini", TODAY),
        ("sekarang", TODAY),
        ("HARI  INI", TODAY),
        ("besok", date(2026, 11, 28)),
        ("bsk", date(2026, 11, 28)),
        ("besuk", date(2026, 11, 28)),
        ("Besok.", date(2026, 11, 28)),
        ("lusa", date(2026, 11, 29)),
    ],
)
def test_relative_words(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("senin", date(2026, 11, 30)),
        ("selasa", date(2026, 12, 1)),
        ("rabu", date(2026, 12, 2)),
        ("kamis", date(2026, 12, 3)),
        ("jumat", date(2026, 12, 4)),  # today is Friday: a week ahead, never today
        ("jum'at", date(2026, 12, 4)),
        ("Jum\u2019at", date(2026, 12, 4)),
        ("sabtu", date(2026, 11, 28)),
        ("minggu", date(2026, 11, 29)),
        ("ahad", date(2026, 11, 29)),
        ("hari senin", date(2026, 11, 30)),
        ("senin depan", date(2026, 11, 30)),
        ("Hari Jumat Depan", date(2026, 12, 4)),
        ("SELASA", date(2026, 12, 1)),
    ],
)
def test_weekday_names(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  08-12-2026  ", date(2026, 12, 8)),
        ("08-12-2026.", date(2026, 12, 8)),
        ("08-12-2026,", date(2026, 12, 8)),
        ("8 des,", date(2026, 12, 8)),
        ("8   Desember   2026", date(2026, 12, 8)),
        ("\tbesok\n", date(2026, 11, 28)),
    ],
)
def test_whitespace_and_trailing_punctuation(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        # year rollover
        ("5-1", date(2026, 12, 30), date(2027, 1, 5)),
        ("5 jan", date(2026, 12, 30), date(2027, 1, 5)),
        ("30-12", date(2026, 12, 30), date(2026, 12, 30)),
        ("29-12", date(2026, 12, 30), date(2027, 12, 29)),
        ("jumat", date(2026, 12, 31), date(2027, 1, 1)),
        ("besok", date(2026, 12, 31), date(2027, 1, 1)),
        # same weekday as today means next week
        ("senin", date(2026, 11, 30), date(2026, 12, 7)),
        ("senin depan", date(2026, 11, 30), date(2026, 12, 7)),
        ("minggu", date(2026, 11, 29), date(2026, 12, 6)),
        # 29 February without a year: next leap year whose 29 Feb is on or after today
        ("29-02", TODAY, date(2028, 2, 29)),
        ("29 feb", TODAY, date(2028, 2, 29)),
        ("29-02", date(2028, 2, 29), date(2028, 2, 29)),
        ("29-02", date(2028, 1, 10), date(2028, 2, 29)),
        ("29-02", date(2028, 3, 1), date(2032, 2, 29)),
        ("29-02", date(2096, 3, 1), date(2104, 2, 29)),  # 2100 is not a leap year
    ],
)
def test_edge_todays(text: str, today: date, expected: date) -> None:
    assert parse_date(text, today) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\t\n", "empty"),
        (".", "empty"),
        (" , ", "empty"),
        ("abc", "unrecognised"),
        ("12345", "unrecognised"),
        ("8 foo", "unrecognised"),
        ("8", "unrecognised"),
        ("8-12-202", "unrecognised"),  # 3-digit year
        ("8-12-2", "unrecognised"),  # 1-digit year
        ("8-12-20266", "unrecognised"),
        ("8 des 202", "unrecognised"),
        ("8-12/2026", "unrecognised"),  # mixed separators are refused
        ("8/12-2026", "unrecognised"),
        ("8 12 2026", "unrecognised"),  # spaces alone are not a date separator
        ("123-12-2026", "unrecognised"),
        ("2026-12", "unrecognised"),
        ("des 8", "unrecognised"),
        ("hari", "unrecognised"),
        ("depan", "unrecognised"),
        ("besok lusa", "unrecognised"),
        ("31-02", "impossible"),
        ("30/02/2027", "impossible"),
        ("29-02-2027", "impossible"),
        ("29.02.27", "impossible"),
        ("30-02", "impossible"),  # no year has it, unlike 29-02
        ("31-04", "impossible"),
        ("8-13-2026", "impossible"),
        ("8-13", "impossible"),
        ("0-12-2026", "impossible"),
        ("32-12-2026", "impossible"),
        ("00-12", "impossible"),
        ("8-0-2026", "impossible"),
        ("31 april 2027", "impossible"),
        ("30 feb", "impossible"),
        ("29 feb 2027", "impossible"),
        ("0 des", "impossible"),
        ("32 des", "impossible"),
        ("2026-02-30", "impossible"),
        ("2026-13-01", "impossible"),
        ("0000-01-01", "impossible"),
    ],
)
def test_errors(text: str, kind: str) -> None:
    with pytest.raises(DateParseError) as exc_info:
        parse_date(text, TODAY)
    assert exc_info.value.kind == kind
    assert exc_info.value.text == text.strip()


def test_error_keeps_original_text_and_is_value_error() -> None:
    with pytest.raises(ValueError) as exc_info:
        parse_date("  31-02.  ", TODAY)
    exc = exc_info.value
    assert isinstance(exc, DateParseError)
    assert exc.text == "31-02."
    assert str(exc) == "impossible date: '31-02.'"


def test_error_survives_pickling() -> None:
    copy = pickle.loads(pickle.dumps(DateParseError("unrecognised", "abc")))
    assert (copy.kind, copy.text) == ("unrecognised", "abc")


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 12, 8), "08-12-2026"),
        (date(2027, 1, 5), "05-01-2027"),
        (date(2026, 11, 27), "27-11-2026"),
        (date(999, 1, 1), "01-01-0999"),
    ],
)
def test_format_date(d: date, expected: str) -> None:
    assert format_date(d) == expected


def test_format_date_round_trips_through_parse_date() -> None:
    d = date(2027, 3, 4)
    assert parse_date(format_date(d), TODAY) == d


@pytest.mark.parametrize(
    ("d", "short", "name"),
    [
        (date(2026, 11, 30), "Sen", "Senin"),
        (date(2026, 12, 1), "Sel", "Selasa"),
        (date(2026, 12, 2), "Rab", "Rabu"),
        (date(2026, 12, 3), "Kam", "Kamis"),
        (date(2026, 12, 4), "Jum", "Jumat"),
        (date(2026, 12, 5), "Sab", "Sabtu"),
        (date(2026, 12, 6), "Min", "Minggu"),
    ],
)
def test_weekday_helpers(d: date, short: str, name: str) -> None:
    assert weekday_short(d) == short
    assert weekday_name(d) == name


def test_weekday_name_parses_back_to_the_next_such_day() -> None:
    for offset in range(1, 8):
        d = TODAY + timedelta(days=offset)
        assert parse_date(weekday_name(d), TODAY) == d

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pytest

from sms_gateway.nik import (
    PROVINCE_CODES,
    Nik,
    NikError,
    mask_nik,
    parse_nik,
    take_nik,
)

# Jawa Timur (35), regency 28, district 01, born 15-05-(19)90, serial 0001.
NIK = "3528011505900001"
NIK_MASKED = "3528********0001"
# DKI Jakarta (31), a woman born 01-07-(19)85: day 01 + 40 = 41.
OTHER_NIK = "3171014107850002"

# REFERENCE.md section 6: the 38 province codes a NIK may start with.
OFFICIAL_PROVINCES = (
    "11", "12", "13", "14", "15", "16", "17", "18", "19",
    "21",
    "31", "32", "33", "34", "35", "36",
    "51", "52", "53",
    "61", "62", "63", "64", "65",
    "71", "72", "73", "74", "75", "76",
    "81", "82",
    "91", "92", "93", "94", "95", "96",
)  # fmt: skip
OUTSIDE_PROVINCES = (
    "00", "01", "10", "20", "22", "30", "37", "50", "54",
    "60", "66", "70", "77", "80", "83", "90", "97", "99",
)  # fmt: skip


def make_nik(
    *, province: str = "35", day: str = "15", month: str = "05", serial: str = "0001"
) -> str:
    """Return NIK with one part replaced (regency 28, district 01 and year 90 stay)."""
    text = f"{province}2801{day}{month}90{serial}"
    assert len(text) == 16
    return text


# --- parse_nik: accepted ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(NIK, id="one-block"),
        pytest.param("3528 0115 0590 0001", id="groups-of-4-with-spaces"),
        pytest.param("3528.0115.0590.0001", id="groups-with-dots"),
        pytest.param("3528-0115-0590-0001", id="groups-with-dashes"),
        pytest.param("3528 0115.0590-0001", id="mixed-separators"),
        pytest.param("  3528011505900001\n", id="surrounding-whitespace"),
    ],
)
def test_nik_written_with_separators_parses_to_its_16_digits(text: str) -> None:
    assert parse_nik(text).digits == NIK


@pytest.mark.parametrize(
    ("day", "month"),
    [
        pytest.param("01", "01", id="man-first-day-of-year"),
        pytest.param("31", "12", id="man-day-31"),
        pytest.param("41", "05", id="woman-day-1-plus-40"),
        pytest.param("55", "05", id="woman-day-15-plus-40"),
        pytest.param("71", "12", id="woman-day-31-plus-40"),
    ],
)
def test_nik_with_day_in_men_or_women_range_is_valid(day: str, month: str) -> None:
    text = make_nik(day=day, month=month)
    assert parse_nik(text).digits == text


def test_nik_with_day_plus_40_is_a_woman_and_valid() -> None:
    assert parse_nik(OTHER_NIK).digits == OTHER_NIK


@pytest.mark.parametrize("province", OFFICIAL_PROVINCES)
def test_nik_from_every_official_province_is_accepted(province: str) -> None:
    text = make_nik(province=province)
    assert parse_nik(text).digits == text


def test_province_code_set_is_exactly_the_official_list() -> None:
    assert {int(code) for code in OFFICIAL_PROVINCES} == set(PROVINCE_CODES)


# --- parse_nik: refused, with the part that is wrong ------------------------


@pytest.mark.parametrize("province", OUTSIDE_PROVINCES)
def test_nik_from_a_code_outside_the_province_list_is_refused(province: str) -> None:
    with pytest.raises(NikError) as exc_info:
        parse_nik(make_nik(province=province))
    assert exc_info.value.part == "province"
    assert exc_info.value.detail == province


@pytest.mark.parametrize(
    ("text", "part", "detail"),
    [
        pytest.param("3528O11505900001", "chars", "only digits", id="letter-O-for-zero"),
        pytest.param("NIK3528011505900", "chars", "only digits", id="letters-in-front"),
        pytest.param("3528/0115/0590/0001", "chars", "only digits", id="slash-separator"),
        pytest.param(
            "\u0663\u0665\u0662\u0668\u0660\u0661\u0661\u0665"
            "\u0660\u0665\u0669\u0660\u0660\u0660\u0660\u0661",
            "chars",
            "only digits",
            id="arabic-indic-digits",
        ),
        pytest.param("352801150590001", "length", "15", id="15-digits"),
        pytest.param("35280115059000011", "length", "17", id="17-digits"),
        pytest.param("3528 0115 0590 001", "length", "15", id="15-digits-in-groups"),
        pytest.param(make_nik(province="10"), "province", "10", id="province-10"),
        pytest.param(make_nik(province="20"), "province", "20", id="province-20"),
        pytest.param(make_nik(province="37"), "province", "37", id="province-37"),
        pytest.param(make_nik(province="99"), "province", "99", id="province-99"),
        pytest.param(make_nik(day="00"), "day", "00", id="day-00"),
        pytest.param(make_nik(day="32"), "day", "32", id="day-32"),
        pytest.param(make_nik(day="40"), "day", "40", id="day-40-between-ranges"),
        pytest.param(make_nik(day="72"), "day", "72", id="day-72"),
        pytest.param(make_nik(month="00"), "month", "00", id="month-00"),
        pytest.param(make_nik(month="13"), "month", "13", id="month-13"),
        pytest.param(make_nik(serial="0000"), "serial", "0000", id="serial-0000"),
    ],
)
def test_malformed_nik_is_refused_naming_the_wrong_part(text: str, part: str, detail: str) -> None:
    with pytest.raises(NikError) as exc_info:
        parse_nik(text)
    assert exc_info.value.part == part
    assert exc_info.value.detail == detail
    # The error travels into logs: it must not carry the number typed.
    digits = re.sub(r"\D", "", text)
    assert len(digits) < 6 or digits not in str(exc_info.value)


def test_nik_error_is_a_value_error_with_part_and_detail_in_its_message() -> None:
    err = NikError("length", "15")
    assert isinstance(err, ValueError)
    assert str(err) == "length: 15"
    assert str(NikError("serial")) == "serial"


# --- Nik: never shows its digits --------------------------------------------


@pytest.mark.parametrize(
    "render",
    [
        pytest.param(repr, id="repr"),
        pytest.param(str, id="str"),
        pytest.param(lambda nik: f"{nik}", id="f-string"),
        pytest.param(lambda nik: f"{nik!r}", id="f-string-repr"),
        pytest.param(lambda nik: repr([nik, {"nik": nik}]), id="inside-containers"),
    ],
)
def test_nik_rendering_never_contains_the_full_digits(render: Callable[[Nik], str]) -> None:
    text = render(parse_nik(NIK))
    assert NIK not in text
    assert NIK_MASKED in text


def test_nik_masked_form_keeps_first_four_and_last_four_digits() -> None:
    assert parse_nik("3528 0115 0590 0001").masked == NIK_MASKED


def test_mask_nik_hides_the_middle_eight_digits() -> None:
    assert mask_nik(OTHER_NIK) == "3171********0002"


# --- keyed_hash ---------------------------------------------------------------

SECRET = b"0123456789abcdef0123456789abcdef"


def test_keyed_hash_is_deterministic_for_the_same_nik_and_secret() -> None:
    assert parse_nik(NIK).keyed_hash(SECRET) == parse_nik("3528 0115 0590 0001").keyed_hash(SECRET)


def test_keyed_hash_differs_by_secret() -> None:
    nik = parse_nik(NIK)
    assert nik.keyed_hash(SECRET) != nik.keyed_hash(b"another-secret-of-32-bytes-long!")


def test_keyed_hash_differs_by_nik() -> None:
    assert parse_nik(NIK).keyed_hash(SECRET) != parse_nik(OTHER_NIK).keyed_hash(SECRET)


def test_keyed_hash_is_64_lowercase_hex_characters_without_the_nik() -> None:
    digest = parse_nik(NIK).keyed_hash(SECRET)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert NIK not in digest


def test_keyed_hash_is_not_a_plain_unkeyed_sha256() -> None:
    assert parse_nik(NIK).keyed_hash(SECRET) != hashlib.sha256(NIK.encode()).hexdigest()


# --- take_nik -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "nik_text", "rest"),
    [
        pytest.param([NIK, "08-12"], NIK, ["08-12"], id="one-block-then-date"),
        pytest.param(
            ["3528", "0115", "0590", "0001", "08-12"],
            "3528011505900001",
            ["08-12"],
            id="groups-of-4-then-date",
        ),
        pytest.param(
            ["3528.0115.0590.0001", "8", "Des"],
            "3528.0115.0590.0001",
            ["8", "Des"],
            id="dotted-block-then-date-in-words",
        ),
        pytest.param(
            ["3528.0115", "0590.0001", "SIANG"],
            "3528.01150590.0001",
            ["SIANG"],
            id="two-dotted-groups-then-session",
        ),
        pytest.param(["3528-0115-0590-0001"], "3528-0115-0590-0001", [], id="dashed-block-alone"),
        pytest.param(
            ["3528", "0115", "0590", "001", "08-12"],
            "352801150590001",
            ["08-12"],
            id="15-digit-nik-in-groups-leaves-the-date",
        ),
        pytest.param(
            ["352801150590001", "08-12"],
            "352801150590001",
            ["08-12"],
            id="15-digit-block-leaves-the-date",
        ),
        pytest.param(["3528", "0115", "besok"], "35280115", ["besok"], id="non-digit-token-stops"),
        pytest.param(
            ["3528", "0115", "0590", "8/12"],
            "352801150590",
            ["8/12"],
            id="slash-date-is-not-a-nik-group",
        ),
        pytest.param(["besok"], "", ["besok"], id="no-nik-at-all"),
        pytest.param([], "", [], id="no-tokens"),
        pytest.param(
            ["35280115059000011", "08-12"],
            "35280115059000011",
            ["08-12"],
            id="overlong-first-block-is-kept-for-the-length-error",
        ),
    ],
)
def test_take_nik_splits_the_nik_tokens_from_the_rest(
    tokens: list[str], nik_text: str, rest: list[str]
) -> None:
    assert take_nik(tokens) == (nik_text, rest)


def test_take_nik_never_takes_a_date_that_would_exceed_16_digits() -> None:
    nik_text, rest = take_nik(("3528", "0115", "0590", "001", "08-12", "PAGI"))
    assert len(re.sub(r"\D", "", nik_text)) <= 16
    assert rest == ["08-12", "PAGI"]


def test_take_nik_accepts_a_tuple_and_returns_a_list_rest() -> None:
    nik_text, rest = take_nik(("3528", "0115", "0590", "0001", "08-12"))
    assert parse_nik(nik_text) == Nik(NIK)
    assert rest == ["08-12"]

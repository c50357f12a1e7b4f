from __future__ import annotations

import pytest

from sms_gateway.parser import Command, parse

NIK = "3528011505900001"


def full_width(text: str) -> str:
    """Return ``text`` the way some phones send it: full-width letters and digits."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" for c in text)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        pytest.param("daftar", "DAFTAR", id="lower-case"),
        pytest.param("Daftar", "DAFTAR", id="title-case"),
        pytest.param("DAFTAR", "DAFTAR", id="upper-case"),
        pytest.param("cEk", "CEK", id="mixed-case"),
    ],
)
def test_keyword_is_upper_cased_whatever_case_was_typed(text: str, word: str) -> None:
    assert parse(text) == Command(word, ())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"DAFTAR {NIK} 8/12", id="spaces"),
        pytest.param(f"daftar#{NIK}#8/12", id="hash"),
        pytest.param(f"DAFTAR*{NIK}*8/12", id="star"),
        pytest.param(f"DAFTAR,{NIK},8/12", id="comma"),
        pytest.param(f"DAFTAR;{NIK};8/12", id="semicolon"),
        pytest.param(f"DAFTAR\n{NIK}\n8/12", id="newlines"),
        pytest.param(f"DAFTAR\r\n{NIK}\r\n8/12", id="crlf"),
        pytest.param(f"DAFTAR\t{NIK}\t8/12", id="tab"),
        pytest.param(f"  DAFTAR   {NIK}    8/12  ", id="extra-spaces"),
        pytest.param(f"DAFTAR # {NIK} ,, 8/12 ;", id="mixed-and-repeated-separators"),
    ],
)
def test_every_separator_people_use_splits_the_arguments(text: str) -> None:
    assert parse(text) == Command("DAFTAR", (NIK, "8/12"))


def test_arguments_keep_their_case_and_inner_punctuation() -> None:
    assert parse("daftar 3528.0115.0590.0001 8-Des-2026 Siang") == Command(
        "DAFTAR", ("3528.0115.0590.0001", "8-Des-2026", "Siang")
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("\n\t \r\n", id="whitespace-mix"),
        pytest.param("#,;*", id="separators-only"),
        pytest.param("\u3000", id="ideographic-space"),
    ],
)
def test_empty_or_blank_message_gives_an_empty_command(text: str) -> None:
    command = parse(text)
    assert command == Command("", ())
    assert command.rest == ""


def test_question_mark_is_a_word_of_its_own() -> None:
    assert parse("?") == Command("?", ())
    assert parse(" ? ") == Command("?", ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"DAFTAR{NIK}", Command("DAFTAR", (NIK,)), id="glued-block"),
        pytest.param(
            f"daftar{NIK} 8/12 PAGI",
            Command("DAFTAR", (NIK, "8/12", "PAGI")),
            id="glued-lower-case-with-more-args",
        ),
        pytest.param(
            "DAFTAR3528.0115.0590.0001 8/12",
            Command("DAFTAR", ("3528.0115.0590.0001", "8/12")),
            id="glued-dotted-nik",
        ),
        pytest.param(
            "DAFTAR3528 0115 0590 0001",
            Command("DAFTAR", ("3528", "0115", "0590", "0001")),
            id="glued-first-group",
        ),
        pytest.param("CEK2", Command("CEK", ("2",)), id="glued-single-digit"),
    ],
)
def test_keyword_glued_to_digits_is_split_off(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "word"),
    [
        pytest.param("cek.", "CEK", id="trailing-dot"),
        pytest.param("DAFTAR:", "DAFTAR", id="trailing-colon"),
        pytest.param("batal!", "BATAL", id="trailing-exclamation"),
        pytest.param("Batal!!", "BATAL", id="repeated-exclamation"),
    ],
)
def test_trailing_punctuation_on_the_keyword_is_dropped(text: str, word: str) -> None:
    assert parse(text).word == word


def test_keyword_with_trailing_colon_keeps_its_arguments() -> None:
    assert parse(f"DAFTAR: {NIK} 8/12") == Command("DAFTAR", (NIK, "8/12"))


def test_keyword_made_only_of_punctuation_is_kept_as_typed() -> None:
    assert parse("...") == Command("...", ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            full_width(f"daftar {NIK} 8/12"),
            Command("DAFTAR", (NIK, "8/12")),
            id="full-width-letters-digits-and-space",
        ),
        pytest.param(full_width("CEK"), Command("CEK", ()), id="full-width-keyword"),
        pytest.param(full_width(f"DAFTAR{NIK}"), Command("DAFTAR", (NIK,)), id="full-width-glued"),
    ],
)
def test_full_width_characters_are_folded_to_ascii(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        pytest.param(f"DAFTAR  {NIK}\n8   Des  2026", f"{NIK} 8 Des 2026", id="single-spaces"),
        pytest.param(f"daftar#{NIK}#8/12", f"{NIK} 8/12", id="separators-become-spaces"),
        pytest.param("CEK", "", id="no-arguments"),
    ],
)
def test_rest_joins_the_arguments_with_single_spaces(text: str, rest: str) -> None:
    assert parse(text).rest == rest


def test_keyword_glued_to_digits_by_a_colon_is_split_off() -> None:
    assert parse(f"DAFTAR:{NIK} 8/12") == Command("DAFTAR", (NIK, "8/12"))

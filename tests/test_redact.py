"""The one masking function (sms_gateway/redact.py) and the replies that never echo.

What a sender types reaches storage and logs only through ``redact``; these
tests hold it to every form a NIK or a PIN arrives in, to leaving the
gateway's own texts alone, and to being idempotent (a masked text masked
again is unchanged: log lines quote stored bodies).
"""

from __future__ import annotations

import re
import unicodedata

import pytest

from handlers.routes import default_router
from sms_gateway import replies
from sms_gateway.keywords import STAFF_KEYWORDS
from sms_gateway.nik import parse_nik, take_nik
from sms_gateway.parser import parse
from sms_gateway.redact import EXAMPLE_NIK, redact, redact_command
from tests.test_replies import WORST  # the worst-case template values

NIK = "3528011505900001"
MASKED = "3528********0001"
OTHER_NIK = "3171014107850002"
PIN = "111222"


def recoverable(text: str, secret: str = NIK) -> bool:
    """True when the digits of ``secret`` can be read back from ``text``, in any script."""
    folded = unicodedata.normalize("NFKC", text)
    digits = "".join(str(unicodedata.decimal(c)) for c in folded if c.isdecimal())
    return secret in digits


def arabic(digits: str) -> str:
    return "".join(chr(0x660 + int(d)) for d in digits)


def full_width(digits: str) -> str:
    return "".join(chr(ord(d) + 0xFEE0) for d in digits)


# Every form of a NIK the fuzzing and the scan found, plus what the parser reads.
NIK_FORMS = [
    pytest.param(f"DAFTAR {NIK} 8/12", id="plain"),
    pytest.param("DAFTAR 3528 (0115) 0590 0001 8/12", id="brackets"),
    pytest.param("DAFTAR 3528 [0115] 0590-0001 8/12", id="square-brackets-and-dash"),
    pytest.param("DAFTAR 3528.0115.0590.0001", id="dots"),
    pytest.param("DAFTAR 3528 - 0115 - 0590 - 0001", id="spaced-dashes"),
    pytest.param("DAFTAR 3528/0115/0590/0001 8/12", id="slashes"),
    pytest.param("DAFTAR#3528#0115#0590#0001#08-12", id="hashes"),
    pytest.param("DAFTAR*3528*0115*0590*0001*08-12", id="stars"),
    pytest.param("DAFTAR 3528**0115**0590**0001 8/12", id="double-stars"),
    pytest.param("DAFTAR 3528 **** 0115 0590 0001", id="a-row-of-stars"),
    pytest.param("DAFTAR 3528,0115,0590,0001 8/12", id="commas"),
    pytest.param("DAFTAR;3528;0115;0590;0001;8/12", id="semicolons"),
    pytest.param("DAFTAR\n3528\n0115\n0590\n0001\n8/12", id="newlines"),
    pytest.param("DAFTAR 3528  0115  0590  0001 8/12", id="double-spaces"),
    pytest.param(f"DAFTAR{NIK}", id="glued-to-the-keyword"),
    pytest.param(f"DAFTAR {NIK}7 8/12", id="17-digit-typo"),
    pytest.param(f"DAFTAR 9{NIK} 8/12", id="17-digit-typo-in-front"),
    pytest.param(f"DAFTAR {arabic(NIK)} 8/12", id="arabic-indic-digits"),
    pytest.param(f"DAFTAR {full_width(NIK)} 8/12", id="full-width-digits"),
    pytest.param(f"DAFTAR {NIK[:8]}{arabic(NIK[8:])}", id="mixed-scripts"),
    pytest.param(f"Pak, NIK saya {NIK} tolong dicek", id="in-a-sentence"),
    pytest.param(f"YA {NIK}", id="ya"),
    pytest.param(f"DAFTAR {NIK} {NIK}", id="twice"),
    pytest.param(repr(f"DAFTAR\n{NIK[:8]}\n{NIK[8:]}"), id="as-repr-in-a-log-line"),
    pytest.param(f"HADIR {PIN} PMK-001 {NIK}", id="staff-hadir"),
    pytest.param(f"BLOKIR {PIN} {NIK} 30 calo", id="staff-blokir"),
    pytest.param(f"TUTUP {PIN} {NIK}", id="staff-tutup-with-a-nik-for-a-date"),
]


@pytest.mark.parametrize("text", NIK_FORMS)
def test_no_nik_form_survives_the_mask(text: str) -> None:
    assert recoverable(text) or recoverable(text, OTHER_NIK)
    assert not recoverable(redact(text))
    assert not recoverable(redact_command(text))


@pytest.mark.parametrize("text", NIK_FORMS)
def test_masking_is_idempotent(text: str) -> None:
    once = redact_command(text)
    assert redact_command(once) == once
    assert redact(redact(text)) == redact(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"DAFTAR {NIK} 08-12-2026", f"DAFTAR {MASKED} 08-12-2026"),
        ("DAFTAR 3528 (0115) 0590 0001 8/12", f"DAFTAR {MASKED} 8/12"),
        (f"DAFTAR {NIK} 8 12 2026", f"DAFTAR {MASKED} 8 12 2026"),
        (f"{NIK} dan {OTHER_NIK}", f"{MASKED} dan 3171********0002"),
        (f"DAFTAR {arabic(NIK)}", f"DAFTAR {MASKED}"),
        (f"{MASKED} 08 12 2026", f"{MASKED} 08 12 2026"),  # never masked twice
        ("PMK-001 " + NIK, "PMK-001 " + MASKED),  # the code before it stays
        ("nomor 123456789012345", "nomor 1234*******2345"),  # 15 digits: masked whole
    ],
)
def test_a_nik_is_masked_and_what_stands_beside_it_stays_readable(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "+6281234567890",
        "081234567890",
        "hubungi +62 812-3456-7890",
        "DAFTAR 08-12-2026",
        "tanggal 2026-12-08 jam 08.00",
        "REKAP 111 08-12-2026",  # a PIN-less text is never touched by redact()
        "antrean 12, 13, 14",
        "CEK",
        "",
        f"DAFTAR {EXAMPLE_NIK} 8/12",  # published in every help text
        "jangkar #12 9123456789012345678f31c1dfafcadd2ddd092971ed11cc030eec7188eb23b5",
    ],
)
def test_texts_without_a_nik_are_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"PANGGIL {PIN} 2", "PANGGIL **** 2"),
        (f"PANGIL {PIN} 2", "PANGIL **** 2"),  # one letter missing
        (f"SELSAI {PIN} PMK-001", "SELSAI **** PMK-001"),
        (f"hadir {PIN}", "hadir ****"),
        (f"HADIR{PIN} PMK-001", "HADIR**** PMK-001"),  # glued
        (f"HADIR: {PIN} PMK-001", "HADIR: **** PMK-001"),
        (f"  rekpa#{PIN}", "  rekpa#****"),  # transposed letters
        (f"LAPRAN {PIN}", "LAPRAN ****"),
        (f"KUOTA {PIN} 08-12-2026 PAGI 40", "KUOTA **** 08-12-2026 PAGI 40"),
        (f"HADIR {PIN} PMK-001 {NIK}", f"HADIR **** PMK-001 {MASKED}"),
    ],
)
def test_the_pin_of_a_staff_like_command_is_masked(text: str, expected: str) -> None:
    assert redact_command(text) == expected
    assert redact_command(expected) == expected


@pytest.mark.parametrize(
    "text",
    ["DAFTAR 3528 8/12", "BATAL PMK-001", "CEK", "YA", "UBAH PMK-001 9/12", "TUNGGU 1234"],
)
def test_applicant_commands_keep_their_arguments(text: str) -> None:
    assert redact_command(text) == text


def test_no_applicant_keyword_is_within_two_typos_of_a_staff_keyword() -> None:
    # Otherwise an applicant's first argument would be masked as a PIN.
    from sms_gateway.redact import edit_distance

    staff = STAFF_KEYWORDS
    for route in default_router().routes:
        if route.for_staff:
            continue
        for word in route.words:
            if len(word) >= 3:
                close = [k for k in staff if edit_distance(word, k, 2) <= 2]
                assert not close, f"{word} is close to {close}"


def _realistic(name: str) -> dict[str, str]:
    values = dict(WORST)
    values.update(
        queue="PMK-012",
        session="PAGI",
        alt="SIANG",
        sessions="PAGI/SIANG",
        given="PMK-9",
        text="8/12",
        word="X",
        counter="3",
        free="PAGI 12, SIANG 0",
        reason="libur",
        why=" (libur)",
        problem="",
        hash="9123456789012345678f31c1dfafcadd2ddd092971ed11cc030eec7188eb23b5",
        seq="1234567890",
    )
    return values


@pytest.mark.parametrize("name", sorted(replies.TEMPLATES))
def test_no_reply_template_is_changed_by_the_mask(name: str) -> None:
    # The message log stores replies through the mask, and a provider retry gets
    # the stored text back: it must be the very text that was sent.
    for values in (WORST, _realistic(name)):
        text = replies.TEMPLATES[name].format(**values)
        assert redact(text) == text, text


@pytest.mark.parametrize(
    "typed",
    [NIK, "3528.0115.0590.0001", arabic(NIK), "PMK-99999999999999999999", "123456789"],
)
def test_echo_never_repeats_more_than_eight_digits(typed: str) -> None:
    shown = replies.echo(typed)
    folded = unicodedata.normalize("NFKC", shown)
    assert not re.search(r"\d(?:\W?\d){8}", folded), shown


def test_replies_to_a_nik_in_the_wrong_place_do_not_echo_it() -> None:
    from sms_gateway import errors

    text = replies.refusal(errors.InvalidDate("unrecognised", NIK, None))
    assert NIK not in text and "3528.." in text


@pytest.mark.parametrize(
    "text",
    ["DAFTAR 3528 (0115) 0590 0001 8/12", f"DAFTAR {NIK}", "DAFTAR*3528*0115*0590*0001*08-12"],
)
def test_the_parser_books_forms_the_mask_hides(text: str) -> None:
    # Not a mask that is strict only on paper: the gateway books these messages,
    # so they are the ones that must never be stored in clear.
    nik_text, _rest = take_nik(parse(text).args)
    assert parse_nik(nik_text).digits == NIK
    assert not recoverable(redact_command(text))

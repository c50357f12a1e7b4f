from __future__ import annotations

import pytest

from sms_gateway.gsm import (
    SEGMENT_SEPTETS,
    fits_one_segment,
    septets,
    to_gsm7,
    truncate_to_segment,
)

ESC = 0x1B


@pytest.mark.parametrize(
    ("text", "count"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("Halo", 4, id="ascii"),
        pytest.param("Antrean 08:00-12:00, no. 12!", 28, id="ascii-punctuation"),
        pytest.param("\n", 1, id="newline"),
        pytest.param("@£$¥", 4, id="basic-set-symbols"),
        pytest.param("é", 1, id="e-acute-is-gsm7"),
        pytest.param("Ç", 1, id="capital-c-cedilla-is-gsm7"),
        pytest.param("€", 2, id="euro-is-an-escape-pair"),
        pytest.param("[", 2, id="bracket-is-an-escape-pair"),
        pytest.param("{}^~|\\", 12, id="extension-table"),
        pytest.param("€10 [A]", 10, id="mixed-basic-and-extension"),
    ],
)
def test_septets_counts_gsm7_text_with_escape_pairs_costing_two(text: str, count: int) -> None:
    assert septets(text) == count


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("😀", id="emoji"),
        pytest.param("á", id="a-acute"),
        pytest.param("ç", id="small-c-cedilla"),
        pytest.param("ê", id="e-circumflex"),
        pytest.param("\u2019", id="curly-apostrophe"),
        pytest.param("\u2013", id="en-dash"),
        pytest.param("\u00a0", id="non-breaking-space"),
        pytest.param("`", id="backtick"),
        pytest.param("Halo 😀", id="one-bad-character-spoils-the-text"),
    ],
)
def test_septets_is_none_for_text_outside_gsm7(text: str) -> None:
    assert septets(text) is None


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("a" * 160, True, id="160-septets"),
        pytest.param("a" * 161, False, id="161-septets"),
        pytest.param("€" * 80, True, id="80-euros-are-160-septets"),
        pytest.param("€" * 81, False, id="81-euros-are-162-septets"),
        pytest.param("a" * 159 + "€", False, id="escape-pair-tips-over-160"),
        pytest.param("a" * 158 + "€", True, id="escape-pair-just-fits"),
        pytest.param("Halo \u2019", False, id="short-but-not-gsm7"),
    ],
)
def test_fits_one_segment_at_the_160_septet_boundary(text: str, fits: bool) -> None:
    assert fits_one_segment(text) is fits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("\u2018kutip\u2019", "'kutip'", id="curly-single-quotes"),
        pytest.param("\u201ckutip\u201d", '"kutip"', id="curly-double-quotes"),
        pytest.param("08.00\u201312.00", "08.00-12.00", id="en-dash"),
        pytest.param("a\u2014b", "a-b", id="em-dash"),
        pytest.param("Kantor\u00a0Imigrasi", "Kantor Imigrasi", id="non-breaking-space"),
        pytest.param("tunggu\u2026", "tunggu...", id="ellipsis"),
        pytest.param("a\u200bb", "ab", id="zero-width-space-dropped"),
        pytest.param("a\tb", "a b", id="tab-to-space"),
        pytest.param("`x`", "'x'", id="backtick"),
        pytest.param("Café", "Café", id="e-acute-stays"),
        pytest.param("Ç", "Ç", id="capital-c-cedilla-stays"),
        pytest.param("Bogotá", "Bogota", id="a-acute-loses-its-accent"),
        pytest.param("Curaçao", "Curacao", id="small-c-cedilla-loses-its-cedilla"),
        pytest.param("fête", "fete", id="e-circumflex-loses-its-accent"),
        pytest.param("Terima kasih 😀", "Terima kasih ?", id="emoji-to-question-mark"),
        pytest.param("中", "?", id="cjk-to-question-mark"),
        pytest.param("Harga €10 [A]", "Harga €10 [A]", id="extension-characters-stay"),
        pytest.param("Antrean no. 12", "Antrean no. 12", id="plain-text-unchanged"),
    ],
)
def test_to_gsm7_replaces_look_alikes_and_drops_the_rest(text: str, expected: str) -> None:
    result = to_gsm7(text)
    assert result == expected
    assert septets(result) is not None


def test_to_gsm7_turns_a_pasted_sentence_into_one_cheap_segment() -> None:
    pasted = "\u201cSampai jumpa\u201d \u2013 Kantor\u00a0Imigrasi Malang\u2026 \U0001f64f"
    result = to_gsm7(pasted)
    assert result == '"Sampai jumpa" - Kantor Imigrasi Malang... ?'
    assert fits_one_segment(result)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * 161, id="161-ascii"),
        pytest.param("a" * 500, id="500-ascii"),
        pytest.param("€" * 81, id="81-euros"),
        pytest.param("€" * 100, id="100-euros"),
        pytest.param("a" * 159 + "€", id="escape-pair-at-the-end"),
        pytest.param("a" * 157 + "€€", id="two-escape-pairs-at-the-end"),
        pytest.param("a" * 158 + "€" * 5, id="escape-pairs-straddling-the-limit"),
        pytest.param("kata " * 40, id="words-and-spaces"),
        pytest.param("[x] " * 50, id="brackets-everywhere"),
    ],
)
def test_truncate_to_segment_never_exceeds_160_septets(text: str) -> None:
    result = truncate_to_segment(text)
    count = septets(result)
    assert count is not None
    assert count <= SEGMENT_SEPTETS
    assert result.endswith("..")
    assert text.startswith(result[:-2])


def test_truncate_to_segment_never_splits_an_escape_pair() -> None:
    result = truncate_to_segment("€" * 100)
    assert result == "€" * 79 + ".."
    encoded = result.encode("gsm03.38")
    assert len(encoded) == SEGMENT_SEPTETS
    body = encoded[:-2]
    # Every ESC is followed by the euro's second septet, never cut after the ESC.
    assert body == bytes([ESC, 0x65]) * 79


def test_truncate_to_segment_drops_an_escape_pair_that_would_not_fit_whole() -> None:
    # 157 + 2 would leave no room for "..": the euro goes, the pair is not split.
    assert truncate_to_segment("a" * 157 + "€€") == "a" * 157 + ".."


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("Antrean Anda no. 12", id="short"),
        pytest.param("a" * 160, id="exactly-160-septets"),
        pytest.param("€" * 80, id="exactly-160-septets-of-escape-pairs"),
    ],
)
def test_truncate_to_segment_leaves_text_that_fits_unchanged(text: str) -> None:
    assert truncate_to_segment(text) == text


def test_truncate_to_segment_honours_a_smaller_limit() -> None:
    assert truncate_to_segment("abcdefgh", limit=5) == "abc.."


def test_truncate_to_segment_strips_the_trailing_space_before_the_dots() -> None:
    # The 158-septet cut falls right after a space: "xxx" + 31 * "kata ".
    text = "xxx" + "kata " * 40
    assert truncate_to_segment(text) == "xxx" + "kata " * 30 + "kata.."


def test_septets_agrees_with_the_gsm0338_codec_on_every_character() -> None:
    # septets() reads the alphabet off the codec once and then counts with
    # str.translate; every character of the BMP's first 12,288 code points, plus
    # an emoji, must get the codec's answer, alone and among others.
    def by_codec(text: str) -> int | None:
        try:
            return len(text.encode("gsm03.38"))
        except UnicodeEncodeError:
            return None

    disagree = [
        (hex(cp), text)
        for cp in [*range(0x3000), 0x1F600]
        for text in (chr(cp), f"a{chr(cp)}{{", chr(cp) * 3)
        if septets(text) != by_codec(text)
    ]
    assert disagree == []

from __future__ import annotations

import pytest

from sms_gateway.phones import PhoneError, national_format, normalize_phone

MOBILE = "+6281234567890"


# REFERENCE.md section 5: the ways Indonesians and operator feeds write one mobile.
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("081234567890", id="national-with-trunk-0"),
        pytest.param("6281234567890", id="country-code-without-plus"),
        pytest.param("+6281234567890", id="e164"),
        pytest.param("+62 812-3456-7890", id="international-format"),
        pytest.param("+62 0812 3456 7890", id="plus-62-with-stray-trunk-0"),
        pytest.param("62 0812 3456 7890", id="62-with-stray-trunk-0"),
        pytest.param("0812-3456-7890", id="national-format-with-dashes"),
        pytest.param("  081234567890  ", id="surrounding-spaces"),
        pytest.param(
            "\u0660\u0668\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660",
            id="arabic-indic-digits",
        ),
    ],
)
def test_indonesian_mobile_in_any_common_form_normalises_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == MOBILE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("+14155552671", "+14155552671", id="us-number-stays"),
        pytest.param("0857 1234 5678", "+6285712345678", id="other-operator-prefix"),
        pytest.param("(021) 5551234", "+62215551234", id="jakarta-fixed-line"),
        # A bare 62 prefix is read as the country code first (operator/SMPP feeds).
        pytest.param("62812345678", "+62812345678", id="short-bare-62-is-country-code"),
    ],
)
def test_normalize_phone_returns_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="whitespace-only"),
        pytest.param("abc", id="letters"),
        pytest.param("08123", id="truncated-mobile"),
        pytest.param("12", id="two-digits"),
        pytest.param("1234", id="short-code-not-allowed-by-default"),
        pytest.param("0062812345678", id="00-is-not-an-international-prefix-in-id"),
    ],
)
def test_invalid_phone_raises_phone_error(raw: str) -> None:
    with pytest.raises(PhoneError):
        normalize_phone(raw)


def test_phone_error_is_a_value_error() -> None:
    assert issubclass(PhoneError, ValueError)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("1234", "1234", id="four-digit-short-code"),
        pytest.param("14045", "14045", id="five-digit-short-code"),
        pytest.param("081234567890", MOBILE, id="mobile-still-normalised"),
    ],
)
def test_short_code_is_kept_as_digits_when_allowed(raw: str, expected: str) -> None:
    assert normalize_phone(raw, allow_short_code=True) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("12", id="too-short"),
        pytest.param("123456789", id="too-long-for-a-short-code"),
        pytest.param("12-34", id="short-code-with-punctuation"),
        pytest.param("abc", id="letters"),
        pytest.param("", id="empty"),
    ],
)
def test_not_a_short_code_raises_even_when_short_codes_are_allowed(raw: str) -> None:
    with pytest.raises(PhoneError):
        normalize_phone(raw, allow_short_code=True)


def test_truncated_mobile_is_not_taken_for_a_short_code() -> None:
    with pytest.raises(PhoneError):
        normalize_phone("08123", allow_short_code=True)


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        pytest.param(MOBILE, "0812-3456-7890", id="mobile"),
        pytest.param("+62215551234", "(021) 5551234", id="jakarta-fixed-line"),
        pytest.param("1234", "1234", id="short-code-unchanged"),
        pytest.param("not a number", "not a number", id="garbage-unchanged"),
    ],
)
def test_national_format_writes_the_number_the_indonesian_way(e164: str, expected: str) -> None:
    assert national_format(e164) == expected

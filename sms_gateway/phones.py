"""Normalise phone numbers to E.164 (Indonesia by default) with phonenumbers."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException

DEFAULT_REGION = "ID"


class PhoneError(ValueError):
    """The text is not a phone number we can reply to."""


# Every inbound SMS normalises its sender and the office number it was sent to,
# and phonenumbers takes some 40 microseconds a number: the office numbers, and
# a sender's retries and next messages, are parsed once. Refusals (PhoneError)
# are not cached; a cached answer is a short string.
@lru_cache(maxsize=16384)
def normalize_phone(
    raw: str, *, region: str = DEFAULT_REGION, allow_short_code: bool = False
) -> str:
    """Return ``raw`` as E.164 (``+6281234567890``).

    Operator and SMPP feeds often send ``62812...`` without the ``+``; phonenumbers
    would read a short one as a national number starting with 62, so a bare
    ``62...`` is tried as international first. With ``allow_short_code`` a short
    code such as ``1234`` (an operator's service number) is returned as its digits.
    """
    text = (raw or "").strip()
    if not text:
        raise PhoneError("empty number")
    digits = "".join(c for c in text if c.isdigit())
    if not text.startswith("+") and digits.startswith("62"):
        try:
            number = phonenumbers.parse("+" + digits, None)
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except NumberParseException:
            pass
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise PhoneError(str(exc)) from None
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # Operator short codes (1234, 99876) never start with the trunk prefix 0, so a
    # truncated mobile number such as 08123 is not mistaken for one.
    if allow_short_code and 3 <= len(digits) <= 8 and digits == text and digits[0] != "0":
        return digits
    raise PhoneError(f"{text!r} is not a valid phone number")


def national_format(e164: str) -> str:
    """Return an E.164 number the way Indonesians write it (``0812-3456-7890``)."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def mask_phone(e164: str) -> str:
    """Return a phone number fit for logs: ``+62812****7890``."""
    return e164 if len(e164) < 9 else e164[:6] + "*" * (len(e164) - 10) + e164[-4:]

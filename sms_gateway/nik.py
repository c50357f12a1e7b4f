"""The NIK (Nomor Induk Kependudukan): validate, mask and key it without keeping it.

A NIK is 16 digits: province (2), regency (2), district (2), birth date DDMMYY
with 40 added to the day for women, and a serial (4). There is no check digit,
so only the structure can be validated. The gateway never stores or logs a NIK
in clear: it keeps an HMAC-SHA256 (for uniqueness and lookup) and a masked form,
and ``redact.py`` masks one wherever it stands in a text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

NIK_LENGTH = 16

# Province codes in use since the 2022 Papua split; old codes stay valid in NIKs
# because a NIK never changes (REFERENCE.md section 6).
PROVINCE_CODES = frozenset(
    [
        *range(11, 20),
        21,
        *range(31, 37),
        51,
        52,
        53,
        *range(61, 66),
        *range(71, 77),
        81,
        82,
        *range(91, 97),
    ]
)

_SEPARATORS = re.compile(r"[\s.\-]")
_NIK_TOKEN = re.compile(r"^[0-9.\-]+$")


# The part of a NIK found wrong; each has its own reply.
NikPart = Literal["length", "chars", "province", "day", "month", "serial"]


class NikError(ValueError):
    """The NIK is malformed; ``part`` says which part, for the reply."""

    def __init__(self, part: NikPart, detail: str = "") -> None:
        super().__init__(f"{part}: {detail}" if detail else part)
        self.part: NikPart = part
        self.detail = detail


@dataclass(frozen=True)
class Nik:
    """A structurally valid NIK. Keep it in memory only for the request."""

    digits: str

    def __repr__(self) -> str:  # never leak the digits into logs or tracebacks
        return f"Nik({self.masked})"

    __str__ = __repr__

    @property
    def masked(self) -> str:
        """Return the form staff may see: ``3528********0001``."""
        return mask_nik(self.digits)

    def keyed_hash(self, secret: bytes) -> str:
        """Return the HMAC-SHA256 hex digest that stands in for the NIK in the database."""
        return hmac.new(secret, self.digits.encode("ascii"), hashlib.sha256).hexdigest()


def parse_nik(text: str) -> Nik:
    """Validate the structure of a NIK written with optional spaces, dots or dashes."""
    digits = _SEPARATORS.sub("", text or "")
    if not digits.isdigit() or not digits.isascii():
        raise NikError("chars", "only digits")
    if len(digits) != NIK_LENGTH:
        raise NikError("length", str(len(digits)))
    if int(digits[0:2]) not in PROVINCE_CODES:
        raise NikError("province", digits[0:2])
    day, month = int(digits[6:8]), int(digits[8:10])
    if not (1 <= day <= 31 or 41 <= day <= 71):
        raise NikError("day", digits[6:8])
    if not 1 <= month <= 12:
        raise NikError("month", digits[8:10])
    try:
        date(2000, month, day % 40)  # a leap year, so 29-02 births are accepted
    except ValueError:
        raise NikError("day", digits[6:8]) from None
    if digits[12:16] == "0000":
        raise NikError("serial", "0000")
    return Nik(digits)


def take_nik(tokens: Sequence[str]) -> tuple[str, list[str]]:
    """Split leading tokens that make up a NIK from the rest of the arguments.

    People type a NIK as one block or in groups (``3528 0115 0590 0001``), so
    consume digit groups until 16 digits are reached, never more: a date that
    follows (``08-12``) must not be swallowed into a NIK that is one digit short.
    """
    taken: list[str] = []
    count = 0
    for i, token in enumerate(tokens):
        if not _NIK_TOKEN.match(token):
            return "".join(taken), list(tokens[i:])
        n = len(_SEPARATORS.sub("", token))
        if taken and count + n > NIK_LENGTH:
            return "".join(taken), list(tokens[i:])
        taken.append(token)
        count += n
        if count >= NIK_LENGTH:
            return "".join(taken), list(tokens[i + 1 :])
    return "".join(taken), []


def mask_nik(digits: str) -> str:
    """Mask the middle eight digits of a 16-digit NIK."""
    return digits[:4] + "*" * 8 + digits[12:]

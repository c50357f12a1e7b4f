"""GSM-7 checks: every reply must fit one SMS segment of 160 GSM-7 septets.

One character outside GSM-7 (a curly quote, a non-breaking space, an emoji)
turns the whole SMS into UCS-2 with 70 characters per segment, at double or
triple the cost for the office, so replies are made plain before they leave.
"""

from __future__ import annotations

import unicodedata

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

SEGMENT_SEPTETS = 160

# Look-alikes people paste from word processors, mapped to plain GSM-7.
_LOOKALIKES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ", "\u200b": "",
    "\u2026": "...", "\t": " ",
})  # fmt: skip


def _encodes_to(ch: str) -> int:
    try:
        return len(ch.encode("gsm03.38"))
    except UnicodeEncodeError:
        return 0


def _alphabet() -> tuple[dict[int, None], frozenset[str]]:
    """Read the GSM-7 alphabet off the codec: the basic table, and the escaped extension."""
    basic, extension = set(), set()
    for byte in range(128):
        basic.add(bytes([byte]).decode("gsm03.38", errors="ignore"))
        escaped = (b"\x1b" + bytes([byte])).decode("gsm03.38", errors="ignore")
        if len(escaped) == 1 and escaped not in basic:
            extension.add(escaped)
    basic |= {chr(c) for c in range(32)}  # the codec also takes ESC itself
    one = {ch for ch in basic if len(ch) == 1 and _encodes_to(ch) == 1}
    two = frozenset(ch for ch in extension if _encodes_to(ch) == 2)
    return dict.fromkeys(map(ord, one)), two


# Every reply is checked, so the check is a C-speed str.translate that deletes the
# one-septet characters, instead of the codec's per-character Python loop; what is
# left must be two-septet (escaped) characters. tests/test_gsm.py holds the two to
# the same answers.
_DROP_ONE_SEPTET, _TWO_SEPTETS = _alphabet()


def septets(text: str) -> int | None:
    """Return how many GSM-7 septets ``text`` needs, or None if it is not GSM-7."""
    rest = text.translate(_DROP_ONE_SEPTET)
    if not rest:
        return len(text)
    if any(ch not in _TWO_SEPTETS for ch in rest):
        return None
    return len(text) + len(rest)


def fits_one_segment(text: str) -> bool:
    """Return True when ``text`` is GSM-7 and fits in one 160-septet SMS."""
    count = septets(text)
    return count is not None and count <= SEGMENT_SEPTETS


def to_gsm7(text: str) -> str:
    """Return ``text`` with look-alikes replaced and anything else non-GSM-7 dropped."""
    text = text.translate(_LOOKALIKES)
    if septets(text) is not None:
        return text
    out = []
    for ch in text:
        if septets(ch) is not None:
            out.append(ch)
            continue
        # Strip accents the GSM alphabet lacks (e.g. a with acute -> a).
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and septets(base) is not None else "?")
    return "".join(out)


def truncate_to_segment(text: str, limit: int = SEGMENT_SEPTETS) -> str:
    """Cut GSM-7 ``text`` to ``limit`` septets, never splitting an escape pair."""
    if (septets(text) or 0) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        cost = septets(ch) or 1
        if used + cost > limit - 2:
            break
        out.append(ch)
        used += cost
    return "".join(out).rstrip() + ".."

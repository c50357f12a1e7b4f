"""The one masking function: what any text looks like once it is stored or logged.

Applicants and staff type personal data in every form a phone allows, and the
gateway keeps text in several places (the message log, the staff audit log,
the audit chain, office-closure and block reasons, log lines, the access
log). Every one of those takes its text through ``redact()``: the storage
boundary is the ``Redacted`` column type (``models/columns.py``), the log boundary is
``logs.py``. Nothing upstream has to remember to mask, and nothing does.

``redact()`` masks:

- **Long digit runs.** Any run of 12 or more digits, in any Unicode script
  (ASCII, full-width, Arabic-Indic ...), with up to three separators (spaces,
  newlines, dots, dashes, brackets, slashes, commas, ``#`` ...) between digit
  groups. Inside such a run, groups that add up to exactly 16 digits are
  masked as a NIK (``3528********0010``) and the rest of the run is judged on
  its own, so the date typed after a NIK stays readable; a run with no such
  groups is masked whole, keeping its first and last four digits.
  A star counts as a (masked) digit, so masking is idempotent: a masked NIK
  followed by a date is never masked a second time, and a NIK split by stars
  (``3528*0115*0590*0010``, which the parser reads) is one 19-character run.
- **The PIN of anything that looks like a staff command**: the token after a
  first word within two typing mistakes of a staff keyword (``PANGIL 111222``,
  ``selsai 111222``, ``HADIR111222``).

Two things are left alone because they cannot hold a NIK: a phone number
(a run that starts with ``0`` or ``+`` and has at most 14 digits: a NIK has
16 and never starts with 0), and a hexadecimal hash of 32 characters or more
(the audit anchor the gateway sends to the kepala). The example NIK shown in
every help text is published, so it is left as it is too.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from sms_gateway.keywords import STAFF_KEYWORDS

NIK_DIGITS = 16
MIN_RUN = 12  # digits; a shorter run is a date, a time, a count or a queue number
PIN_MASK = "****"
# The NIK printed in every usage text (replies.EXAMPLE_NIK; DAFTAR refuses it).
EXAMPLE_NIK = "3528011701950001"
_PHONE_MAX_DIGITS = 14  # +62 and up to 12 digits
_STAFF_TYPOS = 2  # edit distance at which a first word is taken for a staff keyword

# Separators people put between digit groups, and the escapes a repr() shows
# for a newline or tab (log lines quote message bodies with %r).
_SEP = r"(?:[\s.\-\u2010-\u2015\u2212()\[\]{}<>#,;:/\\|_+=~'\"`]|\\[nrt])"
_GROUP = r"[\d*]+"
_RUN = re.compile(rf"{_GROUP}(?:{_SEP}{{1,3}}{_GROUP})*")
_GROUP_RE = re.compile(_GROUP)
_DIGIT = re.compile(r"\d")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
# A placeholder for a hash while the runs are masked: neither a digit nor a separator.
_HOLD = "\ue000"
_HOLD_RE = re.compile(_HOLD)

# The first word of a command and the token after it (the PIN's position), as
# the parser splits them: wrappers and separators around, or glued to digits.
_WRAP = "\"'`\u2018\u2019\u201c\u201d()<>\\[\\]{}"
_FIRST = re.compile(
    rf"^(?P<lead>[\s#*,;{_WRAP}]*)(?P<word>[^\W\d_]+)"
    rf"(?P<sep>[:.!]?(?:[\s#*,;{_WRAP}]+|(?=\d)))(?P<pin>[^\s#*,;]+)"
)


def redact(text: str) -> str:
    """Return ``text`` as it may be stored or logged: every long digit run masked."""
    if not text:
        return text
    folded = unicodedata.normalize("NFKC", text)
    if _DIGIT.search(folded) is None:
        return folded
    hashes: list[str] = []

    def hold(match: re.Match[str]) -> str:
        hashes.append(match.group(0))
        return _HOLD

    held = _HEX.sub(hold, folded)
    masked = _RUN.sub(_mask_run, held)
    if hashes:
        restore = iter(hashes)
        masked = _HOLD_RE.sub(lambda _m: next(restore), masked)
    return masked


def redact_command(text: str) -> str:
    """Return a command someone typed as it may be stored: ``redact`` and the PIN masked.

    For what arrives (an inbound SMS, a staff command in the audit log), never
    for what the gateway says: a reply that begins "Tanggal 8/12" is not a
    mistyped PANGGIL.
    """
    return redact(_mask_pin(unicodedata.normalize("NFKC", text or "")))


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) < MIN_RUN:
        return run  # too short to hold 12 digits: most runs (dates, times, counts)
    spans = [m.span() for m in _GROUP_RE.finditer(run)]
    sizes = [_size(run[a:b]) for a, b in spans]
    total = sum(sizes)
    if total < MIN_RUN:
        return run
    if "*" not in run and total <= _PHONE_MAX_DIGITS and _is_phone(match):
        return run
    return _mask_groups(run, spans, sizes)


def _mask_groups(run: str, spans: list[tuple[int, int]], sizes: list[int]) -> str:
    """Mask a run given as group spans: a 16-character window as a NIK, the rest on its own."""
    lo, hi = 0, len(spans)
    # A row of stars at either end (a PIN mask) is text, not part of what is masked.
    while lo < hi and not sizes[lo]:
        lo += 1
    while hi > lo and not sizes[hi - 1]:
        hi -= 1
    if sum(sizes[lo:hi]) < MIN_RUN:
        return run
    for i in range(lo, hi):
        if not sizes[i]:
            continue
        total, j = 0, i
        for j in range(i, hi):
            total += sizes[j]
            if total >= NIK_DIGITS:
                break
        if total == NIK_DIGITS:
            start, end = spans[i][0], spans[j][1]
            after = [(a - end, b - end) for a, b in spans[j + 1 :]]
            return (
                _mask_groups(run[:start], spans[:i], sizes[:i])
                + _mask_chars(run, spans[i : j + 1], sizes[i : j + 1])
                + _mask_groups(run[end:], after, sizes[j + 1 :])
            )
    start, end = spans[lo][0], spans[hi - 1][1]
    return run[:start] + _mask_chars(run, spans[lo:hi], sizes[lo:hi]) + run[end:]


def _mask_chars(run: str, spans: list[tuple[int, int]], sizes: list[int]) -> str:
    """Join the groups' characters and keep only the first and last four."""
    chars = "".join(_ascii(run[a:b]) for (a, b), n in zip(spans, sizes, strict=True) if n)
    if chars == EXAMPLE_NIK:
        return run[spans[0][0] : spans[-1][1]]
    return chars[:4] + "*" * (len(chars) - 8) + chars[-4:]


def _ascii(chars: str) -> str:
    if chars.isascii():
        return chars
    return "".join(c if c == "*" else str(unicodedata.decimal(c)) for c in chars)


def _size(group: str) -> int:
    """Digits a group stands for: a star is a masked digit, but a group of stars alone
    (the PIN mask, a row of asterisks) stands for none."""
    return len(group) if group.strip("*") else 0


def _is_phone(match: re.Match[str]) -> bool:
    before = match.string[match.start() - 1] if match.start() else ""
    return before == "+" or match.group(0)[0] == "0"


def _mask_pin(text: str) -> str:
    found = _FIRST.match(text)
    if found is None or PIN_MASK in found.group("sep"):
        return text  # masked already
    word = found.group("word").upper()
    if not _staff_like(word):
        return text
    return text[: found.start("pin")] + PIN_MASK + text[found.end("pin") :]


@lru_cache(maxsize=4096)  # first words repeat (DAFTAR, CEK...); the distance is not cheap
def _staff_like(word: str) -> bool:
    if word in STAFF_KEYWORDS:
        return True
    if len(word) < 3:
        return False
    return any(edit_distance(word, k, _STAFF_TYPOS) <= _STAFF_TYPOS for k in STAFF_KEYWORDS)


def edit_distance(a: str, b: str, cap: int) -> int:
    """Return the optimal-string-alignment distance of a and b, or cap + 1 when larger."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ca != cb),
            )
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > cap:
            return cap + 1
        previous2, previous = previous, current
    return previous[-1]

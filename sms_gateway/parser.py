"""Split an SMS into a keyword and its arguments, once, the way people type.

Applicants write in any case, with extra spaces or newlines, and use ``#``,
``*`` or ``,`` as separators (``daftar#3528...#8/12``). Some glue the keyword
to the NIK (``DAFTAR3528...``). The parser undoes all that; handlers receive
the tokens and never look at the raw text again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s#*,;]+")
# Quotes and brackets around a word, as in a copied template ("DAFTAR <3528...>")
# or a phone that turned straight quotes into curly ones.
_WRAPPERS = "\"'`\u2018\u2019\u201c\u201d()<>[]{}"
_GLUED = re.compile(r"^([A-Za-z]+)[:.]?(\d[\d.\-/]*)$")


@dataclass(frozen=True)
class Command:
    """A parsed SMS: the first word upper-cased, and the remaining tokens."""

    word: str  # "" for an empty message
    args: tuple[str, ...]

    @property
    def rest(self) -> str:
        """Return the arguments joined by single spaces."""
        return " ".join(self.args)


def parse(text: str) -> Command:
    """Parse an SMS body into a Command."""
    # NFKC folds full-width digits and letters some phones send into plain ones.
    normalised = unicodedata.normalize("NFKC", text or "")
    tokens = [t.strip(_WRAPPERS) for t in _SEPARATORS.split(normalised)]
    tokens = [t for t in tokens if t]
    if not tokens:
        return Command("", ())
    first, *rest = tokens
    glued = _GLUED.match(first)
    if glued:
        first = glued.group(1)
        rest.insert(0, glued.group(2))
    # "DAFTAR:" or "cek." still name the command.
    return Command(first.strip(".:!").upper() or first, tuple(rest))

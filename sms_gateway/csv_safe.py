"""CSV that a spreadsheet opens as data: every cell neutralised against formula injection.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``,
``-`` or ``@`` (and, after a leading tab or carriage return, the same) as a
formula: ``=HYPERLINK(...)`` in a TUTUP reason or a staff name would become a
link or a command in the office's spreadsheet. Following OWASP's advice, such a
cell is written with a single quote in front, which spreadsheets show as text.

Every CSV the gateway writes (the public pages, the CLI's listings) goes through
``writer`` here, so no output can forget it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

# The first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Left alone: a plain number (-3, +12.5) or a phone number, possibly with its last
# digits masked (+6281234567890, +6281200000xxx). A spreadsheet reads these as a
# number or, at worst, an error; none can call anything. Quoting them would corrupt
# every E.164 number an operator copies out of a listing.
_INERT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?x*")


def safe_cell(value: object) -> object:
    """Return ``value`` as it may stand in a CSV cell: text that could run as a formula
    gets a leading single quote; numbers and other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _INERT.fullmatch(value):
        return "'" + value
    return value


class SafeWriter:
    """A ``csv.writer`` that neutralises every cell it writes (see ``safe_cell``)."""

    def __init__(self, stream: SupportsWrite[str], *, lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(stream, lineterminator=lineterminator)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write several rows."""
        for row in rows:
            self.writerow(row)


def writer(stream: SupportsWrite[str], *, lineterminator: str = "\r\n") -> SafeWriter:
    """Return a CSV writer on ``stream`` whose cells cannot run in a spreadsheet."""
    return SafeWriter(stream, lineterminator=lineterminator)

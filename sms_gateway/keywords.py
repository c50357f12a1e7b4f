"""The staff commands' keywords, for the code that must know them below the router.

The masking at the storage boundary (redact.py) must recognise a staff command,
even mistyped, to hide the PIN that follows it; it sits below the models, so it
cannot ask the router (which sits above the handlers). The router checks at
construction that its staff routes are exactly these words, so the two cannot drift.
"""

from __future__ import annotations

STAFF_KEYWORDS: frozenset[str] = frozenset({
    "HADIR", "PANGGIL", "SELESAI", "REKAP",
    "KUOTA", "TUTUP", "BUKA", "BLOKIR", "LEPAS", "SIARAN", "LAPORAN",
})  # fmt: skip

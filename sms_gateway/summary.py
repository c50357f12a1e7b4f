"""How one office day stands: the counts REKAP reports, as a value the replies can render."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sms_gateway.models import BookingStatus


@dataclass(frozen=True)
class DaySummary:
    """How one office day stands (REKAP)."""

    counts: Counter[BookingStatus]
    free: dict[str, int]  # session name -> free seats

    @property
    def booked(self) -> int:
        """Seats taken: everything but cancellations and releases (their seats went back)."""
        gone = (BookingStatus.CANCELLED, BookingStatus.CANCELLED_BY_OFFICE, BookingStatus.RELEASED)
        return sum(n for status, n in self.counts.items() if status not in gone)

    @property
    def arrived(self) -> int:
        """Applicants who checked in (whether or not served yet)."""
        return sum(
            self.counts[s]
            for s in (
                BookingStatus.CHECKED_IN,
                BookingStatus.CALLED,
                BookingStatus.SERVED,
                BookingStatus.EXPIRED,
            )
        )

"""Seats and applicants, counted the same way for the gateway run and the baseline.

Every seat of a measured day ends in one outcome:

- ``genuine``: used by the applicant who booked it;
- ``resold``: used by someone who bought the number from a scalper;
- ``no_show``: held by a genuine applicant who did not come (forgot, or was
  served elsewhere already);
- ``ghost``: a ghost booker's extra seat, left empty;
- ``scalper``: held by a scalper and not used (unsold, or refused at the counter);
- ``empty``: never held on the day (not booked, or freed too late to refill).

``wasted`` is everything but ``genuine`` and ``resold``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

OUTCOMES = ("genuine", "resold", "no_show", "ghost", "scalper", "empty")
WASTED = ("no_show", "ghost", "scalper", "empty")
SERVED_WITHIN = timedelta(days=14)


@dataclass
class RunResult:
    """What one system did with the month."""

    name: str
    capacity: dict[date, int] = field(default_factory=dict)  # seats per measured day
    seats: dict[date, Counter[str]] = field(default_factory=dict)  # outcome counts per day
    served: dict[int, date] = field(default_factory=dict)  # applicant id -> day served
    via_scalper: set[int] = field(default_factory=set)  # served on a bought number
    dropped: set[int] = field(default_factory=set)  # cancelled: no longer need a seat
    scalper_bookings: int = 0
    scalper_used: int = 0
    scalper_sold: int = 0
    refusals: dict[str, Counter[str]] = field(default_factory=dict)  # actor kind -> reasons
    counters: Counter[str] = field(default_factory=Counter)

    def add_seat(self, day: date, outcome: str, n: int = 1) -> None:
        """Count ``n`` seats of ``day`` as ``outcome``."""
        self.seats.setdefault(day, Counter())[outcome] += n

    def refuse(self, kind: str, reason: str) -> None:
        """Count one refusal of ``kind``'s request (e.g. "scalper", "too_many_niks")."""
        self.refusals.setdefault(kind, Counter())[reason] += 1

    def finish_seats(self) -> None:
        """Fill each measured day's unaccounted seats as ``empty``."""
        for day, cap in self.capacity.items():
            counts = self.seats.setdefault(day, Counter())
            counts["empty"] += cap - sum(counts.values())

    def total(self, outcome: str) -> int:
        """Return the seats of all measured days with ``outcome``."""
        return sum(c[outcome] for c in self.seats.values())


@dataclass(frozen=True)
class Figures:
    """The headline numbers of one run."""

    seats: int
    genuine: int
    resold: int
    wasted: int
    by_outcome: dict[str, int]
    genuine_share: float
    wasted_share: float
    applicants: int  # genuine applicants who could be served within 14 days in the window
    served_14: float  # share of them served within 14 days of their earliest date
    median_wait_days: float  # of everyone served, days after their earliest date
    scalper_bookings: int
    scalper_sold: int
    scalper_used: int


def figures(result: RunResult, wants: dict[int, date], end: date) -> Figures:
    """Compute the headline numbers; ``wants`` maps applicant id to earliest acceptable date."""
    seats = sum(result.capacity.values())
    by = {o: result.total(o) for o in OUTCOMES}
    wasted = sum(by[o] for o in WASTED)
    eligible = [i for i, d in wants.items() if d + SERVED_WITHIN <= end and i not in result.dropped]
    in_time = [
        i for i in eligible if i in result.served and result.served[i] <= wants[i] + SERVED_WITHIN
    ]
    waits = [
        max((day - wants[i]).days, 0) for i, day in result.served.items() if i not in result.dropped
    ]
    return Figures(
        seats=seats,
        genuine=by["genuine"],
        resold=by["resold"],
        wasted=wasted,
        by_outcome=by,
        genuine_share=by["genuine"] / seats if seats else 0.0,
        wasted_share=wasted / seats if seats else 0.0,
        applicants=len(eligible),
        served_14=len(in_time) / len(eligible) if eligible else 0.0,
        median_wait_days=float(statistics.median(waits)) if waits else 0.0,
        scalper_bookings=result.scalper_bookings,
        scalper_sold=result.scalper_sold,
        scalper_used=result.scalper_used,
    )

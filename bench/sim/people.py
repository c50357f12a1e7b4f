"""The seeded population: genuine applicants (some of them ghost bookers) and scalpers.

Everything random about a person is drawn here, once, from the seed, so the
gateway run and the baseline meet exactly the same people with the same
habits. What happens to them afterwards depends on the system they meet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sms_gateway.nik import PROVINCE_CODES
from sms_gateway.replies import EXAMPLE_NIK

# Regencies of East Java near the example offices (Pamekasan 35.28, Malang 35.07/35.73).
HOME_REGENCIES = ("3528", "3527", "3526", "3507", "3573", "3529")
DAY_STARTS, DAY_ENDS = time(6, 0), time(22, 0)


@dataclass(frozen=True)
class Habits:
    """How a population behaves; the defaults are the simulator's assumptions."""

    ghost_share: float = 0.15  # genuine applicants who also book other offices
    cancel_share: float = 0.05  # cancel in time (no longer need the seat)
    forget_share: float = 0.10  # forget the day unless reminded
    mishap_share: float = 0.03  # cannot come on the day whatever they said (ill, no transport)
    answer_share: float = 0.90  # answer a reminder with YA
    answer_minutes: float = 60.0  # mean delay of that answer
    patience_days: tuple[int, int] = (3, 14)  # a later date than this is not taken
    lead_days: tuple[int, int] = (2, 10)  # earliest acceptable date after arriving
    scalpers: int = 3
    sims_per_scalper: int = 25
    scalper_bookings_per_day: int = 6
    scalper_lead_days: tuple[int, int] = (3, 10)
    sell_share: float = 0.7  # scalper seats a buyer is found for on the day


@dataclass
class Applicant:
    """A person who needs one appointment at their preferred office."""

    id: int
    nik: str
    phone: str
    office: str
    arrives: datetime  # local (office) time, naive
    wants: date  # earliest acceptable date
    patience: int
    ghost: bool
    cancels: bool
    forgets: bool
    mishap: bool  # misses the first booked day, reminded and confirmed or not
    answers: bool
    answer_delay: timedelta
    family_phone: str  # a ghost's second phone


@dataclass
class Scalper:
    """A calo with many SIM cards and NIKs that are not his."""

    id: int
    phones: list[str]
    niks: list[str] = field(default_factory=list)


@dataclass
class Population:
    """Everyone in one simulated month."""

    applicants: list[Applicant]
    scalpers: list[Scalper]
    habits: Habits


class NikMaker:
    """Make distinct, structurally valid NIKs (province, district, birth date, serial)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = {EXAMPLE_NIK}
        self.provinces = sorted(PROVINCE_CODES)

    def make(self, regency: str | None = None) -> str:
        """Return a new NIK, from ``regency`` (4 digits) or anywhere in Indonesia."""
        rng = self.rng
        while True:
            area = regency or f"{rng.choice(self.provinces):02d}{rng.randint(1, 30):02d}"
            born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))
            day = born.day + (40 if rng.random() < 0.5 else 0)
            nik = (
                f"{area}{rng.randint(1, 25):02d}{day:02d}{born.month:02d}"
                f"{born.year % 100:02d}{rng.randint(1, 9999):04d}"
            )
            if nik not in self.seen:
                self.seen.add(nik)
                return nik


def arrival_times(rng: random.Random, day: date, rate: float) -> list[datetime]:
    """Return a Poisson process of ``rate`` expected arrivals over ``day``'s waking hours."""
    start = datetime.combine(day, DAY_STARTS)
    span = (datetime.combine(day, DAY_ENDS) - start).total_seconds()
    times: list[datetime] = []
    t = rng.expovariate(rate) if rate > 0 else 2.0
    while t < 1.0:
        times.append(start + timedelta(seconds=int(t * span)))
        t += rng.expovariate(rate)
    return times


def generate(
    seed: int,
    rates: dict[str, float],
    first_day: date,
    last_day: date,
    habits: Habits,
) -> Population:
    """Draw the population: arrivals per office per day at ``rates``, and the scalpers."""
    rng = random.Random(seed)
    niks = NikMaker(random.Random(seed + 1))
    applicants: list[Applicant] = []
    day = first_day
    while day <= last_day:
        for office, rate in rates.items():
            for moment in arrival_times(rng, day, rate):
                n = len(applicants)
                applicants.append(
                    Applicant(
                        id=n,
                        nik=niks.make(rng.choice(HOME_REGENCIES)),
                        phone=f"+62812{n:08d}",
                        office=office,
                        arrives=moment,
                        wants=day + timedelta(days=rng.randint(*habits.lead_days)),
                        patience=rng.randint(*habits.patience_days),
                        ghost=rng.random() < habits.ghost_share,
                        cancels=rng.random() < habits.cancel_share,
                        forgets=rng.random() < habits.forget_share,
                        answers=rng.random() < habits.answer_share,
                        answer_delay=timedelta(
                            minutes=1 + rng.expovariate(1 / habits.answer_minutes)
                        ),
                        family_phone=f"+62813{n:08d}",
                        mishap=rng.random() < habits.mishap_share,
                    )
                )
        day += timedelta(days=1)
    applicants.sort(key=lambda a: (a.arrives, a.id))
    scalpers = [
        Scalper(
            id=s,
            phones=[f"+62857{s:02d}{k:06d}" for k in range(habits.sims_per_scalper)],
        )
        for s in range(habits.scalpers)
    ]
    return Population(applicants, scalpers, habits)


def fake_nik(niks: NikMaker) -> str:
    """Return a NIK a scalper invents (anywhere in Indonesia)."""
    return niks.make()

"""The old web queue, as a small model fed the same population.

First come, first served over the same 30-day booking window and the same
seats; no rule across offices (a ghost holds a seat at every office), no
reminder or confirmation, no waitlist, no penalties, no limits per phone, and a
queue number is worth the same in anyone's hands (a scalper's seat sold on the
day is used by the buyer). A freed seat (a cancellation) goes back on sale.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from tqdm import tqdm

from bench.sim.outcomes import RunResult
from bench.sim.people import Applicant, Population
from bench.sim.world import World


@dataclass
class Holding:
    """One seat held in the web queue."""

    office: str
    day: date
    session: str
    holder: int  # applicant id, or -1 - scalper id
    extra: bool = False  # a ghost's seat beyond the first


class Baseline:
    """Run the old web queue over the month."""

    def __init__(
        self, world: World, population: Population, seed: int, *, progress: bool = True
    ) -> None:
        self.world = world
        self.population = population
        self.habits = population.habits
        self.rng = random.Random(seed + 3)
        self.progress = progress
        self.result = RunResult("baseline")
        self.offices = {o.code: o for o in world.offices}
        self.taken: dict[tuple[str, date, str], int] = defaultdict(int)
        self.holdings: dict[int, list[Holding]] = defaultdict(list)  # applicant -> seats
        self.by_day: dict[date, list[Holding]] = defaultdict(list)
        self.people = {a.id: a for a in population.applicants}
        self.served: set[int] = set()
        self.bought: set[int] = set()
        self.missed: set[int] = set()  # forgot once; they remember the next time

    def _free(self, office: str, first: date, today: date) -> tuple[date, str] | None:
        spec = self.offices[office]
        last = today + timedelta(days=self.world.settings.booking.max_days_ahead)
        day = max(first, today + timedelta(days=self.world.settings.booking.min_days_ahead))
        while day <= last:
            if self.world.is_open(spec, day):
                for s in spec.sessions:
                    if self.taken[(office, day, s.name)] < s.quota:
                        return day, s.name
            day += timedelta(days=1)
        return None

    def _book(self, office: str, first: date, today: date, holder: int, extra: bool) -> bool:
        found = self._free(office, first, today)
        if found is None:
            return False
        day, session = found
        self.taken[(office, day, session)] += 1
        held = Holding(office, day, session, holder, extra)
        self.by_day[day].append(held)
        if holder >= 0:
            self.holdings[holder].append(held)
        return True

    def _release(self, held: Holding) -> None:
        self.taken[(held.office, held.day, held.session)] -= 1
        if held in self.by_day.get(held.day, []):
            self.by_day[held.day].remove(held)

    def _apply(self, a: Applicant, today: date, retry: dict[date, list[Applicant]]) -> None:
        if a.id in self.served or a.id in self.result.dropped or self.holdings[a.id]:
            return
        if not self._book(a.office, a.wants, today, a.id, extra=False):
            retry[today + timedelta(days=1)].append(a)
            return
        if a.ghost:
            for code in self.offices:
                if code != a.office:
                    self._book(code, a.wants, today, a.id, extra=True)

    def run(self) -> RunResult:
        """Run every day; return the seats and applicants counted like the gateway's."""
        arrivals: dict[date, list[Applicant]] = defaultdict(list)
        for a in self.population.applicants:
            arrivals[a.arrives.date()].append(a)
        retry: dict[date, list[Applicant]] = defaultdict(list)
        lead = self.habits.scalper_lead_days
        for today in tqdm(self.world.days, desc="baseline", unit="day", disable=not self.progress):
            self._serve(today, retry)
            # Cancellations the day before (when the gateway's reminder would have come).
            for held in list(self.by_day[today + timedelta(days=1)]):
                if held.holder >= 0 and self.people[held.holder].cancels and not held.extra:
                    for h in self.holdings.pop(held.holder, []):
                        self._release(h)
                    self.result.dropped.add(held.holder)
            for a in retry.pop(today, []) + arrivals.get(today, []):
                self._apply(a, today, retry)
            for scalper in self.population.scalpers:
                for _ in range(self.habits.scalper_bookings_per_day):
                    office = self.rng.choice(self.world.offices).code
                    first = today + timedelta(days=self.rng.randint(*lead))
                    if self._book(office, first, today, -1 - scalper.id, extra=False):
                        self.result.scalper_bookings += 1
        self._finish()
        return self.result

    def _serve(self, today: date, retry: dict[date, list[Applicant]]) -> None:
        counted = self.world.start <= today <= self.world.end
        for held in sorted(self.by_day.pop(today, []), key=lambda h: (h.holder < 0, h.holder)):
            outcome = self._outcome(held, today, retry)
            if counted:
                self.result.add_seat(today, outcome)

    def _outcome(self, held: Holding, today: date, retry: dict[date, list[Applicant]]) -> str:
        if held.holder < 0:
            buyer = self._buyer(held.office, today)
            if buyer is None:
                return "scalper"
            self.result.scalper_sold += 1
            self.result.scalper_used += 1
            self.bought.add(buyer)
            self.result.via_scalper.add(buyer)
            self._mark_served(buyer, today)
            return "resold"
        a = self.people[held.holder]
        if held in self.holdings.get(a.id, []):
            self.holdings[a.id].remove(held)
        if a.id in self.served:
            return "ghost" if a.ghost else "no_show"
        if (a.forgets or a.mishap) and a.id not in self.missed:
            self.missed.add(a.id)
            for h in self.holdings.pop(a.id, []):
                self._release(h)  # they rebook from scratch when they notice
            retry[today + timedelta(days=1)].append(a)
            return "no_show"
        self._mark_served(a.id, today)
        return "genuine"

    def _mark_served(self, applicant: int, today: date) -> None:
        if applicant not in self.served:
            self.served.add(applicant)
            self.result.served[applicant] = today

    def _buyer(self, office: str, today: date) -> int | None:
        if self.rng.random() >= self.habits.sell_share:
            return None
        pool = [
            a.id
            for a in self.population.applicants
            if a.office == office
            and a.id not in self.served
            and a.id not in self.result.dropped
            and a.id not in self.bought
            and a.arrives.date() <= today
            and a.wants <= today
            and not any(h.day <= today for h in self.holdings.get(a.id, []))
        ]
        return self.rng.choice(pool) if pool else None

    def _finish(self) -> None:
        world = self.world
        for day in world.measured():
            cap = sum(world.capacity(o, day) for o in world.offices)
            if cap:
                self.result.capacity[day] = cap
        self.result.finish_seats()

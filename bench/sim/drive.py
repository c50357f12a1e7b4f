"""The month against the real gateway: every action is an SMS through ``Gateway.handle``.

Applicants, scalpers and counter staff only text. Time moves through the
gateway's injectable clock; the time-driven jobs run through ``Jobs.tick``
(what ``sms-gateway tick --now`` and the worker call) every 30 simulated
minutes and at 21:01, right after the confirmation deadline. SMS the gateway
sends on its own (reminders, releases, promotions) leave through the worker's
own ``Outbound.drain`` with a sender that hands them to the simulated phones.
Staff are registered through the service ``sms-gateway staff add`` uses, and
every check-in is an SMS ``HADIR <PIN> <KODE> <NIK>`` with the NIK on the KTP
of whoever stands at the counter. The database is only read: to check the
invariants after every tick, and to count the seats at the end.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import Row, text
from tqdm import tqdm

from bench.sim.outcomes import RunResult
from bench.sim.people import Applicant, NikMaker, Population, Scalper
from bench.sim.texts import Seat, classify, seat, suggested_day, until
from bench.sim.world import World
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.services import staff as staff_service

PIN = "2468"
TICK_EVERY = timedelta(minutes=30)
AFTER_DEADLINE = clock_time(21, 1)
USED = ("served", "expired", "checked_in", "called")
HOLDING_SQL = "('active', 'checked_in', 'called')"
SEAT_SQL = "('active', 'checked_in', 'called', 'served', 'no_show', 'expired')"


@dataclass
class SimClock:
    """The gateway's clock; the simulator sets ``now`` before every action."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Person:
    """What one applicant knows from the SMS they received."""

    who: Applicant
    seat: Seat | None = None
    waiting: bool = False
    reminded_for: date | None = None
    served: bool = False
    dropped: bool = False
    bought: bool = False
    retrying: bool = False
    missed: bool = False  # forgot once; they remember the next time


@dataclass
class Calo:
    """What one scalper knows: the seats his SIMs hold, and which SIMs are barred."""

    who: Scalper
    holdings: dict[str, Seat] = field(default_factory=dict)
    barred: dict[str, date] = field(default_factory=dict)
    turn: int = 0


class Phones:
    """The network's side of the worker: collect what ``Outbound.drain`` sends."""

    name = "sim"

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []

    def send(self, to: str, text: str, message_id: int) -> str | None:
        """Hold the SMS for the simulated phone; return a provider id."""
        self.delivered.append((to, text))
        return f"sim-{message_id}"


class GatewayRun:
    """Drive one seeded month through a real gateway on a fresh database."""

    def __init__(
        self, world: World, population: Population, seed: int, *, progress: bool = True
    ) -> None:
        self.world = world
        self.habits = population.habits
        self.tz = world.offices[0].timezone
        self.clock = SimClock(self._at(world.first_arrival, clock_time(0, 0)))
        self.gateway = Gateway(world.settings, clock=self.clock)
        self.result = RunResult("gateway")
        self.rng = random.Random(seed + 3)
        self.niks = NikMaker(random.Random(seed + 2))
        self.niks.seen.update(a.nik for a in population.applicants)
        self.people = [Person(a) for a in population.applicants]
        self.calos = [Calo(s) for s in population.scalpers]
        self.owner: dict[str, Person | Calo] = {p.who.phone: p for p in self.people}
        self.owner.update({ph: c for c in self.calos for ph in c.who.phones})
        self.staff = {o.code: f"+628110000{i:04d}" for i, o in enumerate(world.offices)}
        self.numbers = {o.code: o.sms_number for o in world.offices}
        self.phones = Phones()
        self.progress = progress
        self.quota = {(o.code, s.name): s.quota for o in world.offices for s in o.sessions}
        self.violations: list[str] = []
        self.seconds: dict[str, float] = {"hadir": 0.0, "other": 0.0, "tick": 0.0}
        self._heap: list[tuple[datetime, int, Callable[[], object]]] = []
        self._seq = itertools.count()

    # -- time --------------------------------------------------------------------------

    def _at(self, day: date, moment: clock_time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self.tz)

    def _later(self, when: datetime, action: Callable[[], object]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), action))

    def _today(self) -> date:
        return self.clock.now.astimezone(self.tz).date()

    def run(self) -> RunResult:
        """Run every day, count the seats, close the gateway; return the result."""
        try:
            self._register_staff()
            for person in self.people:
                self._later(
                    person.who.arrives.replace(tzinfo=self.tz),
                    functools.partial(self._apply, person, person.who.wants),
                )
            for day in tqdm(self.world.days, desc="gateway", unit="day", disable=not self.progress):
                self._plan_day(day)
                midnight = self._at(day + timedelta(days=1), clock_time(0, 0))
                while self._heap and self._heap[0][0] < midnight:
                    when, _, action = heapq.heappop(self._heap)
                    self.clock.now = when
                    action()
            self._count_seats()
        finally:
            self.gateway.close()
        self.result.counters["violations"] = len(self.violations)
        return self.result

    def _plan_day(self, day: date) -> None:
        start = self._at(day, clock_time(0, 0))
        for k in range(int(timedelta(days=1) / TICK_EVERY)):
            self._later(start + k * TICK_EVERY, self._tick)
        self._later(self._at(day, AFTER_DEADLINE), self._tick)
        self._later(self._at(day, clock_time(6, 0)), lambda: self._morning(day))
        for calo in self.calos:
            for _ in range(self.habits.scalper_bookings_per_day):
                when = start + timedelta(hours=7, minutes=self.rng.randint(0, 120))
                self._later(when, functools.partial(self._scalp, calo))

    # -- the gateway's doors ------------------------------------------------------------

    def _send(self, phone: str, body: str, office: str | None = None) -> tuple[str, str]:
        """Text the gateway as ``phone``; return the reply and its template key."""
        started = time.perf_counter()
        reply = self.gateway.handle(
            InboundMessage(
                transport="sim",
                sender=phone,
                text=body,
                recipient=self.numbers.get(office or "", None),
            )
        )
        kind = "hadir" if body.startswith("HADIR") else "other"
        self.seconds[kind] += time.perf_counter() - started
        self.result.counters["messages"] += 1
        key = classify(reply.text)
        if not key:
            self.result.counters["unrecognised_replies"] += 1
        return reply.text, key

    def _register_staff(self) -> None:
        with self.gateway.sessions.begin() as session:
            for code, phone in self.staff.items():
                staff_service.add_staff(
                    session,
                    phone=phone,
                    office=code,
                    role=StaffRole.PETUGAS,
                    name=f"Petugas {code}",
                    pin=PIN,
                    now=self.clock.now,
                )

    def _tick(self) -> None:
        started = time.perf_counter()
        done = self.gateway.jobs.tick(self.clock.now)
        self.result.counters["reminders"] += done.reminded
        self.result.counters["released"] += done.released
        self.result.counters["promoted"] += done.promoted
        self._drain()
        self._check_invariants()
        self.seconds["tick"] += time.perf_counter() - started

    def _drain(self) -> None:
        self.gateway.outbound.drain(self.phones)
        delivered, self.phones.delivered = self.phones.delivered, []
        for to, body in delivered:
            owner = self.owner.get(to)
            if isinstance(owner, Person):
                self._person_sms(owner, body)
            elif isinstance(owner, Calo):
                self._calo_sms(owner, to, body)

    # -- genuine applicants -----------------------------------------------------------

    def _apply(self, p: Person, wanted: date, tries: int = 0) -> None:
        p.retrying = False
        if p.served or p.dropped or p.seat or p.waiting:
            return
        day = max(wanted, self._today() + timedelta(days=1))
        body, key = self._send(p.who.phone, f"DAFTAR {p.who.nik} {day:%d-%m-%Y} {p.who.office}")
        if key in ("booked", "already_booked"):
            p.seat = seat(body)
            if p.who.ghost:
                self._ghost(p)
            return
        nxt = suggested_day(body)
        if tries >= 3:
            self._retry(p)
        elif key == "day_full_try_next" and nxt:
            if nxt <= p.who.wants + timedelta(days=p.who.patience):
                self._apply(p, nxt, tries + 1)
            else:
                self._wait(p, day)
        elif key == "all_full":
            self._wait(p, day)
        elif key in ("date_closed", "date_too_soon", "date_past") and nxt:
            self._apply(p, nxt, tries + 1)
        elif key in ("penalized", "blocked_nik", "blocked_phone"):
            self.result.refuse("genuine", key)
            self._retry(p, after=until(body))
        else:
            self.result.refuse("genuine", key or "unrecognised")
            self._retry(p)

    def _wait(self, p: Person, day: date) -> None:
        _, key = self._send(p.who.phone, f"TUNGGU {p.who.nik} {day:%d-%m-%Y} {p.who.office}")
        if key == "tunggu_ok":
            p.waiting = True
            self.result.counters["waitlist_joined"] += 1
        elif key == "not_waitlistable":
            self._apply(p, day, 3)
        else:
            self.result.refuse("genuine", key or "unrecognised")
            self._retry(p)

    def _retry(self, p: Person, after: date | None = None) -> None:
        """Try again on a later morning (the day after ``after``, or tomorrow)."""
        if p.retrying:
            return
        p.retrying = True
        day = max(after or self._today(), self._today()) + timedelta(days=1)
        when = self._at(day, clock_time(7, 0)) + timedelta(minutes=self.rng.randint(0, 600))
        self._later(when, lambda: self._apply(p, p.who.wants))

    def _ghost(self, p: Person) -> None:
        """Book the other offices too, from the own phone and from a relative's."""
        for office in self.world.offices:
            if office.code == p.who.office or p.seat is None:
                continue
            day = f"{p.seat.day:%d-%m-%Y}"
            for phone in (p.who.phone, p.who.family_phone):
                _, key = self._send(phone, f"DAFTAR {p.who.nik} {day} {office.code}")
                if key == "booked":  # the rules failed: count it, it would be a ghost seat
                    self.result.counters["ghost_extra_booked"] += 1
                else:
                    self.result.refuse("ghost", key or "unrecognised")

    def _person_sms(self, p: Person, body: str) -> None:
        key = classify(body)
        self.result.counters[f"sms_{key or 'unrecognised'}"] += 1
        if key in ("reminder", "reminder_confirm") and p.seat is not None:
            p.reminded_for = p.seat.day
            if p.who.cancels:
                self._later(self.clock.now + p.who.answer_delay, lambda: self._cancel(p))
            elif p.who.answers:
                self._later(self.clock.now + p.who.answer_delay, lambda: self._confirm(p))
        elif key == "promoted":
            p.seat, p.waiting = seat(body), False
            self.result.counters["promoted_seats"] += 1
            if p.seat is not None and self._today() >= p.seat.day - timedelta(days=1):
                p.reminded_for = p.seat.day
            if p.who.cancels:
                self._later(self.clock.now + p.who.answer_delay, lambda: self._cancel(p))
        elif key == "released":
            p.seat = None
            self._retry(p)
        elif key == "wait_expired":
            p.waiting = False
            self._retry(p)

    def _confirm(self, p: Person) -> None:
        _, key = self._send(p.who.phone, "YA")
        self.result.counters[f"ya_{key}"] += 1

    def _cancel(self, p: Person) -> None:
        if p.dropped or p.served:
            return
        _, key = self._send(p.who.phone, "BATAL")
        self.result.counters[f"batal_{key}"] += 1
        p.seat, p.waiting, p.dropped = None, False, True
        self.result.dropped.add(p.who.id)
        self._drain()  # the freed seat's promotion SMS goes out at once

    # -- the day at the offices -------------------------------------------------------

    def _morning(self, day: date) -> None:
        """Decide who comes today, and which scalper seats find a buyer."""
        for p in self.people:
            if p.seat is None or p.seat.day != day or p.served:
                continue
            if p.who.mishap and not p.missed:
                p.missed = True
                self.result.counters["mishap"] += 1
                p.seat = None
                self._retry(p)  # they book again the next day
                continue
            if p.who.forgets and not p.missed and p.reminded_for != day:
                p.missed = True
                self.result.counters["forgot"] += 1
                p.seat = None
                self._retry(p)  # they notice the next day
                continue
            self._later(self._arrival(day, p.seat.session), functools.partial(self._check_in, p))
        for calo in self.calos:
            for phone, held in list(calo.holdings.items()):
                if held.day != day:
                    continue
                del calo.holdings[phone]
                calo.barred[phone] = day + timedelta(days=1)  # held until the day is swept
                buyer = self._buyer(held.office, day)
                if buyer is None:
                    continue
                buyer.bought = True
                self.result.scalper_sold += 1
                self._later(
                    self._arrival(day, held.session),
                    functools.partial(self._resold_check_in, buyer, held),
                )

    def _arrival(self, day: date, session: str) -> datetime:
        start = clock_time(13, 0) if session != "PAGI" else clock_time(8, 0)
        span = 90 if session != "PAGI" else 210
        return self._at(day, start) + timedelta(minutes=self.rng.randint(0, span))

    def _buyer(self, office: str, day: date) -> Person | None:
        if self.rng.random() >= self.habits.sell_share:
            return None
        pool = [
            p
            for p in self.people
            if p.who.office == office
            and not (p.served or p.dropped or p.bought)
            and p.who.arrives.date() <= day
            and p.who.wants <= day
            and (p.seat is None or p.seat.day > day)
        ]
        return self.rng.choice(pool) if pool else None

    def _hadir(self, office: str, code: str, nik: str) -> tuple[str, str]:
        return self._send(self.staff[office], f"HADIR {PIN} {code} {nik}")

    def _check_in(self, p: Person) -> None:
        if p.seat is None:
            return
        _, key = self._hadir(p.seat.office, p.seat.code, p.who.nik)
        if key == "hadir_ok":
            p.served, p.seat = True, None
            self.result.served[p.who.id] = self._today()
        else:
            self.result.refuse("counter", key or "unrecognised")
            p.seat = None
            self._retry(p)

    def _resold_check_in(self, buyer: Person, held: Seat) -> None:
        _, key = self._hadir(held.office, held.code, buyer.who.nik)
        if key == "hadir_ok":
            self.result.scalper_used += 1
            self.result.via_scalper.add(buyer.who.id)
            if not buyer.served:
                buyer.served = True
                self.result.served[buyer.who.id] = self._today()
        else:
            self.result.refuse("resold_at_counter", key or "unrecognised")

    # -- scalpers ---------------------------------------------------------------------

    def _scalp(self, calo: Calo) -> None:
        today = self._today()
        phones = calo.who.phones
        phone = None
        for k in range(len(phones)):
            candidate = phones[(calo.turn + k) % len(phones)]
            if candidate not in calo.holdings and calo.barred.get(candidate, today) <= today:
                phone, calo.turn = candidate, (calo.turn + k + 1) % len(phones)
                break
        if phone is None:
            self.result.counters["scalper_no_free_sim"] += 1
            return
        office = self.rng.choice(self.world.offices).code
        day = today + timedelta(days=self.rng.randint(*self.habits.scalper_lead_days))
        nik = self.niks.make()
        for _ in range(2):
            body, key = self._send(phone, f"DAFTAR {nik} {day:%d-%m-%Y} {office}")
            self.result.counters["scalper_attempts"] += 1
            if key == "booked":
                held = seat(body)
                if held is not None:
                    calo.holdings[phone] = held
                    self.result.scalper_bookings += 1
                return
            nxt = suggested_day(body)
            if key in ("day_full_try_next", "date_closed") and nxt:
                day = nxt
                continue
            self.result.refuse("scalper", key or "unrecognised")
            if key in ("penalized", "blocked_nik", "blocked_phone"):
                calo.barred[phone] = (until(body) or today) + timedelta(days=1)
            elif key == "too_many_niks":
                calo.barred[phone] = today + timedelta(days=30)
            return

    def _calo_sms(self, calo: Calo, phone: str, body: str) -> None:
        key = classify(body)
        if key in ("reminder", "reminder_confirm"):
            self._later(self.clock.now + timedelta(minutes=5), lambda: self._send(phone, "YA"))
        elif key == "released":
            calo.holdings.pop(phone, None)

    # -- reading the database (checks and the count) ------------------------------------

    def _rows(self, sql: str) -> list[Row[*tuple[Any, ...]]]:
        with self.gateway.engine.connect() as conn:
            return list(conn.execute(text(sql)).all())

    def _check_invariants(self) -> None:
        """No session oversold, no phone or NIK holding two bookings."""
        # Days already swept cannot gain seats; the final count covers them anyway.
        since = f"'{(self._today() - timedelta(days=1)).isoformat()}'"
        for r in self._rows(
            "SELECT office_code, slot_date, session_name, booked, quota_override "
            f"FROM session_slots WHERE slot_date >= {since}"
        ):
            quota = r.quota_override if r.quota_override is not None else self.quota[(r[0], r[2])]
            if r.booked > quota:
                self.violations.append(f"{self.clock.now}: slot {tuple(r)} over quota {quota}")
        for r in self._rows(
            "SELECT office_code, booking_date, session_name, count(*) FROM bookings "
            f"WHERE status IN {SEAT_SQL} AND booking_date >= {since} "
            "GROUP BY office_code, booking_date, session_name"
        ):
            if r[3] > self.quota[(r[0], r[2])]:
                self.violations.append(f"{self.clock.now}: {tuple(r)} bookings over quota")
        for column in ("phone", "nik_hash"):
            for r in self._rows(
                f"SELECT {column}, count(*) FROM bookings WHERE status IN {HOLDING_SQL} "
                f"GROUP BY {column} HAVING count(*) > 1"
            ):
                self.violations.append(f"{self.clock.now}: {column} holds {r[1]} bookings")

    def _count_seats(self) -> None:
        world, result = self.world, self.result
        for day in world.measured():
            cap = sum(world.capacity(o, day) for o in world.offices)
            if cap:
                result.capacity[day] = cap
        rows = self._rows(
            "SELECT booking_date, phone, status FROM bookings "
            f"WHERE status IN {SEAT_SQL} AND booking_date >= '{world.start.isoformat()}' "
            f"AND booking_date <= '{world.end.isoformat()}'"
        )
        for r in rows:
            day = r[0] if isinstance(r[0], date) else date.fromisoformat(r[0])
            used = r[2] in USED
            if isinstance(self.owner.get(r[1]), Calo):
                result.add_seat(day, "resold" if used else "scalper")
            else:
                result.add_seat(day, "genuine" if used else "no_show")
        result.finish_seats()

"""Busy-day benchmark: an ordinary working day at the office, against the real deployment.

``flash_crowd.py`` measures the minute a quota opens, when nearly every message
is a DAFTAR refused because the day is full (answered by the crowd lane). This
script measures an ordinary busy day instead, where the full path answers most
messages: applicants booking, cancelling, moving, confirming and checking their
bookings, joining the waitlist of a full day, and four counters checking
applicants in, calling and serving them all day long. It reuses flash_crowd's
machinery (gunicorn with ``deploy/gunicorn.conf.py``, signed Twilio webhooks,
wrk with ``bench/replay.lua``, the ceiling app, the fresh PostgreSQL database
or SQLite file, the audit chain check)::

    .venv/bin/python bench/busy_day.py                     # 10,000 requests, PostgreSQL
    .venv/bin/python bench/busy_day.py --requests 2000
    .venv/bin/python bench/busy_day.py --requests 1000 --sqlite --no-profile
    make bench-day BENCH_ARGS="--requests 2000 --no-ceiling"

The day (fixed random seed, so every run sends the same texts): one office
(PMK) open every day, sessions PAGI (1000 seats) and SIANG (500), bookable
from today (``min_days_ahead = 0``). Before the replay the script registers
four counter officers (petugas) and a kepala, and seeds the database through
the real rules (``Gateway.handle`` in-process, one DAFTAR after another):
bookings for today (for the counters to check in), bookings spread over the
coming week (for BATAL, UBAH, YA and CEK), and one day, the day after
tomorrow, filled to its quota (for TUNGGU; CEK from some of its applicants).
The seeded phones, NIKs, codes, days and queue numbers make the requests. Then
the replay, shuffled: about 30% DAFTAR from fresh applicants for days with free
seats (today included), 8% BATAL, 8% UBAH to another day with seats and 8% YA,
each of a seeded booking of the week (a seeded phone sends at most one of these
three), 8% TUNGGU from fresh applicants for the full day, 15% CEK (10% from
seeded phones that send nothing else, half of them of the week and half of the
full day, 5% from phones that booked nothing); and from the four staff phones
8% ``HADIR <PIN> <KODE> <last 4 NIK digits>`` of today's bookings, 8%
``PANGGIL <PIN> <loket>`` and 7% ``SELESAI <PIN> <queue number>`` of a booking
checked in earlier. As in flash_crowd, a request that depends on another one
(SELESAI on its HADIR; a PANGGIL on there being more check-ins than calls, as
far as the day allows) comes at least two connections' worth of requests after
it.

How to read the output: the table is flash_crowd's (requests per second over
the whole replay, latency percentiles per request in ms, non-2xx answers,
requests left without an answer, answers slower than Twilio's 15 s), for the
gateway and the ceiling (``bench/ceiling_app.py``, the same requests, the same
gunicorn settings), then the ratio gateway/ceiling. The ``replies`` line counts
the answers by reply template (``booked``, ``cancelled``, ``hadir_ok``...; see
sms_gateway/replies.py); ``unexpected`` lists replies a request of that kind
should not have got on this day (a refusal where the seeded state promised an
acknowledgement), with what became of the booking, which is worth a look even
when no check fails. (A rare ``selesai_not_here`` whose booking is checked in
afterwards is the replay's order, not the gateway: one connection can lag two
rounds behind another, e.g. behind a staff phone's lock, so a SELESAI can
still overtake its HADIR, as a derived request can in flash_crowd.) Then the
checks, on the database after the replay:

- ``oversold``: per office day and session, bookings holding a seat (every
  status but cancelled, cancelled_by_office and released) beyond the quota
  (the staff override, else the configured one), plus bookings holding a seat
  that the seat counter does not count (the counter would hand them out again).
  A counter above its bookings (seats nobody can have any more) is ``lost``.
- ``duplicates``: phones or NIKs with more than one booking in active,
  checked_in or called; a phone or NIK holding both such a booking and a place
  on the waitlist; queue numbers handed out twice; one applicant called
  (``panggil_ok``) twice.
- ``lost``: acknowledging replies the database does not back: a ``booked`` or
  CEK ``status`` whose code is not that phone's booking on that day; a
  ``cancelled`` whose booking is not cancelled; an ``ubah_ok`` whose booking is
  not on the day, session and number it announces; a ``ya_ok`` not recorded as
  confirmed; a ``tunggu_ok`` without its waitlist entry; a ``hadir_ok`` whose
  booking is not checked in, called or served; a ``panggil_ok`` not called (or
  served); a ``selesai_ok`` not served; plus answers that acknowledge another
  command (a wrong answer), plus the seats lost by a counter above its bookings.
- ``errors``: non-2xx answers, requests without an answer, answers slower
  than 15 s and gateway log errors (tracebacks, "database is locked"), as in
  flash_crowd.
- ``chain``: ``sms-gateway audit verify`` on the run's database.

"Where the time goes" (skip it with ``--no-profile``): the very same messages
are handled once more in-process, on a fresh database seeded the same way,
with ``Gateway.handle`` called directly in one thread (no HTTP, no gunicorn, no
signature check, no concurrency). The table gives per command keyword the
messages, how many the crowd lane answered and how many the full path
answered after the lane declined (PostgreSQL only: the lane answers DAFTAR,
CEK, and BATAL from a phone with nothing to cancel; it declines the rest), the
mean and total milliseconds per message, the time the lane spent on messages
it then declined, and the HTTP run's p50 and p99 for comparison. The
in-process total is then set against the HTTP run: its wall time times the
workers, the worker-seconds it had. The difference is HTTP, gunicorn, the
signature checks, waiting on another worker's locks (four staff phones take
turns on their phone's lock; every change takes the audit chain's head lock),
and the machine shared with wrk and PostgreSQL. The in-process run's database
gets the same checks (one line), and they count for the exit status too.

With ``--keep`` the temporary directory keeps the config, ``seeds.tsv`` (every
seeded booking: phone, NIK, code, day, session, queue number),
``requests.tsv``, wrk's output, the answers and the gunicorn logs, and the
PostgreSQL databases are not dropped.

The last line is always
``busy-day: ratio=R p99_ms=P errors=E oversold=O duplicates=D lost=L``.
The exit status is 0 when oversold, duplicates and lost are 0 (and the audit
chain verifies), else 1. It never judges speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from bench import flash_crowd as fc
from bench.processes import Processes, free_port
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import Booking, SessionSlot, StaffRole, WaitlistEntry
from sms_gateway.services.staff import add_staff

SEED = 8  # every run sends the same day
OFFICE = fc.OFFICE
OFFICE_NAME = fc.OFFICE_NAME
OFFICE_NUMBER = fc.OFFICE_NUMBER
TIMEZONE = fc.TIMEZONE
# Quotas grow (times 2, 3...) only when today's check-ins would not fit (over 15,000 requests).
SESSIONS = (("PAGI", "08:00", "12:00", 1000), ("SIANG", "13:00", "16:00", 500))
LOAD = 0.6  # bookings planned per open day at most, as a share of its seats: days keep free seats
FULL_DAY_AHEAD = 2  # the day filled to its quota: the day after tomorrow
MIN_DAYS = 7  # bookings spread over at least the next week

HOLDING = ("active", "checked_in", "called")
SEAT_RETURNED = ("cancelled", "cancelled_by_office", "released")  # every other status holds one
AT_COUNTER = ("checked_in", "called", "served")

# Shares of the replayed requests; DAFTAR gets the rest (30%).
SHARES = {
    "batal": 0.08,
    "ubah": 0.08,
    "ya": 0.08,
    "tunggu": 0.08,
    "cek": 0.10,  # from a seeded phone
    "cek_new": 0.05,  # from a phone that booked nothing
    "hadir": 0.08,
    "panggil": 0.08,
    "selesai": 0.07,
}
DERIVED = ("selesai", "panggil")  # must come after the HADIRs they depend on
KEYWORDS = ("DAFTAR", "BATAL", "UBAH", "YA", "TUNGGU", "CEK", "HADIR", "PANGGIL", "SELESAI")

# The replies a request of each kind should get on this day.
EXPECTED = {
    "daftar": {"booked"},
    "batal": {"cancelled"},
    "ubah": {"ubah_ok"},
    "ya": {"ya_ok"},
    "tunggu": {"tunggu_ok"},
    "cek": {"status"},
    "cek_new": {"no_booking"},
    "hadir": {"hadir_ok"},
    "panggil": {"panggil_ok", "panggil_none"},
    "selesai": {"selesai_ok"},
}
# Replies that acknowledge one command only: given to another command, a wrong answer.
ACKNOWLEDGES = {
    "booked": "DAFTAR",
    "already_booked": "DAFTAR",
    "cancelled": "BATAL",
    "cancelled_late": "BATAL",
    "wait_left": "BATAL",
    "ubah_ok": "UBAH",
    "ya_ok": "YA",
    "tunggu_ok": "TUNGGU",
    "status": "CEK",
    "cek_waiting": "CEK",
    "hadir_ok": "HADIR",
    "hadir_again": "HADIR",
    "panggil_ok": "PANGGIL",
    "panggil_none": "PANGGIL",
    "selesai_ok": "SELESAI",
}


# -- the day ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A staff phone."""

    phone: str
    name: str
    role: StaffRole
    pin: str
    counter: str  # the loket a petugas calls to


STAFF = (
    *(
        Member(
            f"+628110000{n:04d}", f"Petugas {n}", StaffRole.PETUGAS, f"{731000 + 97 * n}", str(n)
        )
        for n in range(1, 5)
    ),
    Member("+6281100000009", "Kepala", StaffRole.KEPALA, "908172", "9"),
)
PETUGAS = STAFF[:4]


@dataclass(frozen=True)
class Applicant:
    """A booking to seed: who asks, for which day and session (None: the first free)."""

    phone: str
    nik: str
    day: date
    session: str | None
    group: str  # today, week, full


@dataclass(frozen=True)
class Seeded:
    """What the gateway gave a seeded applicant."""

    phone: str
    nik: str
    day: date
    session: str
    queue: str  # PMK-007
    code: str


@dataclass(frozen=True)
class Step:
    """One replayed message, before its text is rendered (codes come from the seeding)."""

    index: int
    kind: str  # a key of EXPECTED
    phone: str
    message_id: str
    seed: int | None = None  # the seeded booking it is about (index in Plan.applicants)
    nik: str | None = None  # a fresh applicant's NIK (daftar, tunggu)
    day: date | None = None  # the day asked for (daftar, tunggu, ubah)
    session: str | None = None
    staff: int | None = None  # index in STAFF
    with_code: bool = False  # BATAL <KODE>, YA <KODE>
    after: int | None = None  # SELESAI: the index of the HADIR it depends on


@dataclass
class Plan:
    """The whole day: what to seed and what to replay, deterministic for a seed."""

    today: date
    full_day: date
    days: list[date]  # the days after today with free seats (not the full day)
    quotas: dict[str, int]  # session name -> seats
    applicants: list[Applicant]
    steps: list[Step]
    groups: Counter[str]


def day_text(day: date) -> str:
    return f"{day:%d-%m-%Y}"


def build_plan(today: date, n: int, gap: int, seed: int = SEED) -> Plan:
    """Return the day's seeds and ``n`` requests (see the module docstring)."""
    rng = random.Random(seed)
    counts = {kind: round(n * share) for kind, share in SHARES.items()}
    counts["daftar"] = n - sum(counts.values())
    if counts["daftar"] < 0:
        raise fc.BenchError("too few requests to share out")

    phones = niks = 0

    def identity() -> tuple[str, str]:
        nonlocal phones, niks
        phones += 1
        niks += 1
        return fc.phone_number(phones), fc.nik_number(niks - 1)

    base = sum(quota for *_, quota in SESSIONS)
    scale = max(1, math.ceil(counts["hadir"] / (LOAD * base)))
    quotas = {name: quota * scale for name, *_, quota in SESSIONS}
    seats = sum(quotas.values())
    full_day = today + timedelta(days=FULL_DAY_AHEAD)
    # CEK from seeded phones: half from the week's bookings (phones that send nothing
    # else), half from the full day's applicants.
    cek_week = max(counts["cek"] // 2, counts["cek"] - seats)
    week_seeds = counts["batal"] + counts["ubah"] + counts["ya"] + cek_week
    load = week_seeds + counts["daftar"] + counts["ubah"]
    ahead = max(MIN_DAYS, math.ceil(load / (LOAD * seats)) + 1)
    days = [today + timedelta(days=k) for k in range(1, ahead + 1)]
    days.remove(full_day)
    # Today takes new bookings too, as far as its check-ins leave room.
    room = max(0.0, LOAD * seats - counts["hadir"])
    today_share = min(1 / (len(days) + 1), room / max(1, counts["daftar"] + counts["ubah"]))

    def any_day(but: date | None = None) -> date:
        if but != today and rng.random() < today_share:
            return today
        return rng.choice([d for d in days if d != but])

    applicants: list[Applicant] = []
    for _ in range(counts["hadir"]):
        applicants.append(Applicant(*identity(), today, None, "today"))
    week: list[int] = []
    for _ in range(week_seeds):
        session = "SIANG" if rng.random() < 0.3 else None
        week.append(len(applicants))
        applicants.append(Applicant(*identity(), rng.choice(days), session, "week"))
    full: list[int] = []
    for _ in range(seats):
        full.append(len(applicants))
        applicants.append(Applicant(*identity(), full_day, None, "full"))

    # Each seeded phone of the week gets at most one of BATAL, UBAH and YA.
    rng.shuffle(week)
    pools: dict[str, list[int]] = {}
    for kind in ("batal", "ubah", "ya"):
        pools[kind], week = week[: counts[kind]], week[counts[kind] :]
    rng.shuffle(full)
    pools["cek"] = week + full[: counts["cek"] - cek_week]
    pools["hadir"] = [i for i, a in enumerate(applicants) if a.group == "today"]
    for pool in pools.values():
        rng.shuffle(pool)

    labels = [kind for kind, c in counts.items() for _ in range(c)]
    rng.shuffle(labels)
    steps: list[Step] = []
    waiting: deque[tuple[int, int]] = deque()  # (position, seed) of HADIRs not yet gap old
    servable: list[tuple[int, int]] = []  # HADIRs at least gap old whose booking no SELESAI has
    checked_in = calls = 0  # HADIRs at least gap old; PANGGILs so far
    for i in range(n):
        while waiting and waiting[0][0] <= i - gap:
            servable.append(waiting.popleft())
            checked_in += 1
        eligible = {"selesai": bool(servable), "panggil": checked_in > calls}
        label = labels[i]
        if label in DERIVED and not eligible[label]:
            # Too early for it: swap in a later request that depends on nothing. None
            # left (the end of a small day): a PANGGIL goes anyway (maybe nobody is
            # waiting), a SELESAI with nobody to serve becomes a PANGGIL.
            later = next((j for j in range(i + 1, n) if labels[j] not in DERIVED), None)
            if later is not None:
                labels[i], labels[later] = labels[later], labels[i]
            elif label == "selesai":
                labels[i] = "panggil"
            label = labels[i]
        sid = f"SM{rng.getrandbits(128):032x}"
        staff = rng.randrange(len(PETUGAS))
        if label in ("daftar", "tunggu"):
            phone, nik = identity()
            if label == "daftar":
                day = any_day()
                session = rng.choices((None, "SIANG", "PAGI"), (60, 30, 10))[0]
            else:
                day, session = full_day, None
            step = Step(i, label, phone, sid, nik=nik, day=day, session=session)
        elif label == "cek_new":
            phone, _ = identity()
            step = Step(i, label, phone, sid)
        elif label in ("batal", "ya", "cek"):
            s = pools[label].pop()
            with_code = label != "cek" and rng.random() < 0.3
            step = Step(i, label, applicants[s].phone, sid, seed=s, with_code=with_code)
        elif label == "ubah":
            s = pools[label].pop()
            to = any_day(but=applicants[s].day)
            step = Step(i, label, applicants[s].phone, sid, seed=s, day=to)
        elif label == "hadir":
            s = pools[label].pop()
            waiting.append((i, s))
            step = Step(i, label, PETUGAS[staff].phone, sid, seed=s, staff=staff)
        elif label == "panggil":
            calls += 1
            step = Step(i, label, PETUGAS[staff].phone, sid, staff=staff)
        else:  # selesai
            after, s = servable.pop(rng.randrange(len(servable)))
            step = Step(i, label, PETUGAS[staff].phone, sid, seed=s, staff=staff, after=after)
        steps.append(step)
    groups = Counter(a.group for a in applicants)
    return Plan(today, full_day, days, quotas, applicants, steps, groups)


def render(step: Step, seeds: list[Seeded]) -> str:
    """Return the SMS text of a step, with the codes the seeding got."""
    booking = seeds[step.seed] if step.seed is not None else None
    pin = STAFF[step.staff].pin if step.staff is not None else ""
    kind = step.kind
    if kind in ("daftar", "tunggu"):
        assert step.day is not None
        words = [kind.upper(), str(step.nik), day_text(step.day)]
        return " ".join(words + ([step.session] if step.session else []))
    if kind in ("cek", "cek_new"):
        return "CEK"
    assert booking is not None or kind == "panggil"
    if kind in ("batal", "ya"):
        assert booking is not None
        return f"{kind.upper()} {booking.code}" if step.with_code else kind.upper()
    if kind == "ubah":
        assert step.day is not None
        return f"UBAH {day_text(step.day)}"
    if kind == "hadir":
        assert booking is not None
        return f"HADIR {pin} {booking.code} {booking.nik[-4:]}"
    if kind == "panggil":
        assert step.staff is not None
        return f"PANGGIL {pin} {STAFF[step.staff].counter}"
    assert booking is not None
    return f"SELESAI {pin} {booking.queue}"


def requests_of(plan: Plan, seeds: list[Seeded]) -> list[fc.Request]:
    """Return the replayed requests, as flash_crowd's Wire encodes them."""
    return [
        fc.Request(s.index, s.kind, s.phone, render(s, seeds), s.message_id, s.nik)
        for s in plan.steps
    ]


def keyword(text: str) -> str:
    return text.split(maxsplit=1)[0].upper()


# -- config, staff and seeds -----------------------------------------------------------------


def write_config(directory: Path, db_url: str, auth_token: str, plan: Plan) -> Path:
    """Write the gateway's config: one office open every day, PAGI and SIANG (flash_crowd's)."""
    sessions = ", ".join(
        f'{{ name = "{name}", start = "{start}", end = "{end}", quota = {plan.quotas[name]} }}'
        for name, start, end, _ in SESSIONS
    )
    return fc.write_config(
        directory,
        db_url,
        auth_token,
        sessions=sessions,
        min_days_ahead=0,  # staff work today's bookings
        max_days_ahead=max(30, (plan.days[-1] - plan.today).days + 2),
        written_by="bench/busy_day.py",
    )


def seed_database(config: Path, plan: Plan) -> tuple[list[Seeded], float]:
    """Register the staff and book every seeded applicant through the real rules.

    In-process, one DAFTAR after another through ``Gateway.handle`` (on
    PostgreSQL the crowd lane takes most of them, as it would in production).
    Return the seeded bookings and the seconds it took.
    """
    started = time.monotonic()
    gateway = Gateway(load_settings(config))
    seeds: list[Seeded] = []
    try:
        with gateway.sessions.begin() as session:
            for m in STAFF:
                add_staff(
                    session,
                    phone=m.phone,
                    office=OFFICE,
                    role=m.role,
                    name=m.name,
                    pin=m.pin,
                    now=gateway.clock(),
                )
        for n, a in enumerate(plan.applicants):
            words = ["DAFTAR", a.nik, day_text(a.day)] + ([a.session] if a.session else [])
            message = InboundMessage(
                "twilio", a.phone, " ".join(words), OFFICE_NUMBER, f"SE{n:032x}"
            )
            reply = gateway.handle(message).text
            kind, fields = fc.classify(reply)
            if kind != "booked" or fields["date"] != day_text(a.day):
                raise fc.BenchError(
                    f"seeding: {message.text!r} from {a.phone} was answered {kind}: {reply}"
                )
            seeds.append(
                Seeded(a.phone, a.nik, a.day, fields["session"], fields["queue"], fields["code"])
            )
    finally:
        gateway.close()
    return seeds, time.monotonic() - started


def write_seeds(path: Path, seeds: list[Seeded], plan: Plan) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("group\tphone\tnik\tcode\tday\tsession\tqueue\n")
        for a, s in zip(plan.applicants, seeds, strict=True):
            f.write(f"{a.group}\t{s.phone}\t{s.nik}\t{s.code}\t{s.day}\t{s.session}\t{s.queue}\n")


# -- checks ----------------------------------------------------------------------------------


@dataclass
class DayChecks:
    """What the database says about the replies the day got."""

    replies: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> reply -> n
    unexpected_examples: list[str] = field(default_factory=list)
    slots: int = 0
    seats_held: int = 0
    over_quota: int = 0
    counter_behind: int = 0  # seats held that the counter does not count
    counter_ahead: int = 0  # counted seats that no booking holds
    oversold: int = 0
    slot_notes: list[str] = field(default_factory=list)
    phone_duplicates: int = 0
    nik_duplicates: int = 0
    booked_and_waiting: int = 0
    queue_duplicates: int = 0
    called_twice: int = 0
    duplicates: int = 0
    acknowledging: int = 0
    unbacked: int = 0
    wrong_answers: int = 0
    lost: int = 0
    lost_examples: list[str] = field(default_factory=list)
    busy_replies: int = 0
    unanswered: int = 0


def queue_seq(queue: str) -> int | None:
    office, _, seq = queue.rpartition("-")
    return int(seq) if office == OFFICE and seq.isdigit() else None


def check_day(
    engine: Engine,
    plan: Plan,
    seeds: list[Seeded],
    requests: list[fc.Request],
    texts: dict[int, str | None],
) -> DayChecks:
    """Compare the database with every reply; ``texts``: the reply SMS by request index.

    None in ``texts``: no 200 answer (counted as an error elsewhere, not judged here).
    """
    c = DayChecks()
    b, w, s = Booking.__table__.c, WaitlistEntry.__table__.c, SessionSlot.__table__.c
    with engine.connect() as conn:
        bookings = conn.execute(
            select(
                b.id,
                b.code,
                b.phone,
                b.nik_hash,
                b.booking_date,
                b.session_name,
                b.queue_seq,
                b.status,
                b.confirmed_at,
            ).where(b.office_code == OFFICE)
        ).all()
        slots = conn.execute(
            select(s.slot_date, s.session_name, s.booked, s.quota_override).where(
                s.office_code == OFFICE
            )
        ).all()
        waitlist = conn.execute(select(w.phone, w.nik_hash, w.day, w.status)).all()

    status = {row.id: str(row.status) for row in bookings}
    by_code = {row.code: row for row in bookings}
    by_seq = {(row.booking_date, row.queue_seq): row for row in bookings}

    # Seats: every counter against the bookings holding its seats, and its quota.
    held: Counter[tuple[date, str]] = Counter(
        (row.booking_date, row.session_name)
        for row in bookings
        if status[row.id] not in SEAT_RETURNED
    )
    counters = {(row.slot_date, row.session_name): row for row in slots}
    c.slots = len(set(held) | set(counters))
    c.seats_held = sum(held.values())
    for key in sorted(set(held) | set(counters)):
        row = counters.get(key)
        counted = row.booked if row is not None else 0
        override = row.quota_override if row is not None else None
        quota = plan.quotas.get(key[1], 0) if override is None else override
        over = max(0, held[key] - quota)
        behind, ahead = max(0, held[key] - counted), max(0, counted - held[key])
        c.over_quota += over
        c.counter_behind += behind
        c.counter_ahead += ahead
        if (over or behind or ahead) and len(c.slot_notes) < 10:
            c.slot_notes.append(
                f"{key[0]} {key[1]}: {held[key]} bookings hold a seat, counter {counted}, "
                f"quota {quota}"
            )
    c.oversold = c.over_quota + c.counter_behind

    # One booking (or waitlist place) per phone and per NIK; numbers once; one call each.
    holding = [row for row in bookings if status[row.id] in HOLDING]
    c.phone_duplicates = sum(1 for n in Counter(r.phone for r in holding).values() if n > 1)
    c.nik_duplicates = sum(1 for n in Counter(r.nik_hash for r in holding).values() if n > 1)
    waiting = [row for row in waitlist if str(row.status) == "waiting"]
    holders = {r.phone for r in holding} | {r.nik_hash for r in holding}
    c.booked_and_waiting = sum(1 for r in waiting if r.phone in holders or r.nik_hash in holders)
    c.queue_duplicates = sum(
        n - 1 for n in Counter((r.booking_date, r.queue_seq) for r in bookings).values() if n > 1
    )

    kinds: Counter[str] = Counter()
    unexpected: defaultdict[str, Counter[str]] = defaultdict(Counter)
    called: Counter[str] = Counter()
    waiting_phones = {
        (r.phone, r.day) for r in waitlist if str(r.status) in ("waiting", "promoted")
    }
    for req in requests:
        sms = texts.get(req.index)
        if sms is None:
            c.unanswered += 1
            continue
        kind, fields = fc.classify(sms)
        kinds[kind] += 1
        if kind == "busy":
            c.busy_replies += 1
        step = plan.steps[req.index]
        seeded = seeds[step.seed] if step.seed is not None else None
        if kind not in EXPECTED[req.kind]:
            unexpected[req.kind][kind] += 1
            if len(c.unexpected_examples) < 10:
                # What became of the booking tells a refusal that was right at the time
                # (its HADIR overtaken by the SELESAI) from a change that went missing.
                mine = by_code.get(seeded.code) if seeded is not None else None
                now = f" [{mine.code} is now {status[mine.id]}]" if mine is not None else ""
                hadir = f" [after HADIR #{step.after}]" if step.after is not None else ""
                c.unexpected_examples.append(
                    f"#{req.index} {req.kind} {req.text!r}: {sms}{hadir}{now}"
                )
        command = keyword(req.text)
        if ACKNOWLEDGES.get(kind, command) != command:
            c.wrong_answers += 1
            c.lost += 1
            if len(c.lost_examples) < 10:
                c.lost_examples.append(f"#{req.index} {req.text!r} answered {kind}: {sms}")
            continue
        if kind not in ACKNOWLEDGES or kind == "panggil_none":
            continue
        c.acknowledging += 1
        problem = _reply_problem(
            kind, fields, req, seeded, plan, by_code, by_seq, status, waiting_phones
        )
        if kind == "panggil_ok":
            called[fields.get("queue", "")] += 1
        if problem:
            c.unbacked += 1
            c.lost += 1
            if len(c.lost_examples) < 10:
                c.lost_examples.append(f"#{req.index} {req.kind} {req.text!r}: {problem}")
    c.called_twice = sum(n - 1 for n in called.values() if n > 1)
    c.duplicates = (
        c.phone_duplicates
        + c.nik_duplicates
        + c.booked_and_waiting
        + c.queue_duplicates
        + c.called_twice
    )
    c.lost += c.counter_ahead
    c.replies = dict(kinds.most_common())
    c.unexpected = {k: dict(v.most_common()) for k, v in unexpected.items()}
    return c


def _reply_problem(
    kind: str,
    fields: dict[str, str],
    req: fc.Request,
    seeded: Seeded | None,
    plan: Plan,
    by_code: dict[str, Any],
    by_seq: dict[tuple[date, int], Any],
    status: dict[int, str],
    waiting_phones: set[tuple[str, date]],
) -> str | None:
    """Return why an acknowledging reply is not what the database holds, or None."""
    if kind == "tunggu_ok":
        return None if (req.phone, plan.full_day) in waiting_phones else "no waitlist entry"
    if kind in ("hadir_ok", "hadir_again", "panggil_ok", "selesai_ok"):
        seq = queue_seq(fields.get("queue", ""))
        row = by_seq.get((plan.today, seq)) if seq is not None else None
        if row is None:
            return f"{fields.get('queue')} is no booking of today"
        if seeded is not None and row.code != seeded.code:
            return f"{fields.get('queue')} is not the booking {seeded.code} asked for"
        wanted = {"panggil_ok": ("called", "served"), "selesai_ok": ("served",)}.get(
            kind, AT_COUNTER
        )
        return None if status[row.id] in wanted else f"{fields['queue']} is {status[row.id]}"
    # A seeded booking (batal, ubah, ya, cek), else the booking a fresh DAFTAR announced.
    row = by_code.get(seeded.code if seeded is not None else fields.get("code", ""))
    if row is None:
        return f"booking {fields.get('code') or (seeded and seeded.code)} does not exist"
    if row.phone != req.phone:
        return f"booking {row.code} belongs to another phone"
    if kind in ("cancelled", "cancelled_late"):
        return None if status[row.id] == "cancelled" else f"{row.code} is {status[row.id]}"
    if status[row.id] not in HOLDING:
        return f"{row.code} is {status[row.id]}"
    if "code" in fields and fields["code"] != row.code:
        return f"the reply says code {fields['code']}, the booking has {row.code}"
    if "date" in fields and fields["date"] != day_text(row.booking_date):
        return f"the reply says {fields['date']}, {row.code} is on {day_text(row.booking_date)}"
    if "queue" in fields and queue_seq(fields["queue"]) != row.queue_seq:
        return f"the reply says {fields['queue']}, {row.code} has number {row.queue_seq}"
    if "session" in fields and fields["session"] != row.session_name:
        return f"the reply says {fields['session']}, {row.code} is in {row.session_name}"
    if kind == "ya_ok" and row.confirmed_at is None:
        return f"{row.code} is not recorded as confirmed"
    return None


# -- where the time goes: the same messages in-process -------------------------------------


class CountingLane:
    """Wrap the crowd lane: count and time what it answers and what it declines."""

    def __init__(self, lane: Any) -> None:
        self.lane = lane
        self.answered: Counter[str] = Counter()
        self.declined: Counter[str] = Counter()
        self.declined_s: defaultdict[str, float] = defaultdict(float)
        self.failed: Counter[str] = Counter()  # raised: the message got no answer

    def answer(self, message: InboundMessage, now: datetime) -> Any:
        started = time.perf_counter()
        word = keyword(message.text)
        try:
            reply = self.lane.answer(message, now)
        except Exception:
            self.failed[word] += 1
            raise
        if reply is None:
            self.declined[word] += 1
            self.declined_s[word] += time.perf_counter() - started
        else:
            self.answered[word] += 1
        return reply


@dataclass
class Profile:
    """The in-process run: seconds per keyword, the lane's share, the checks."""

    seed_s: float = 0.0
    total_s: float = 0.0
    messages: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    lane: bool = False
    lane_answered: dict[str, int] = field(default_factory=dict)
    lane_declined: dict[str, int] = field(default_factory=dict)
    lane_declined_s: dict[str, float] = field(default_factory=dict)
    lane_failed: dict[str, int] = field(default_factory=dict)
    exceptions: int = 0
    exception_examples: list[str] = field(default_factory=list)
    checks: DayChecks | None = None


def profile(args: argparse.Namespace, workdir: Path, plan: Plan) -> Profile:
    """Seed a fresh database the same way and handle the same messages in one thread."""
    directory = workdir / "profile"
    directory.mkdir()
    db = fc.Database(args.sqlite, directory)
    db.create()
    p = Profile()
    try:
        config = write_config(directory, db.url, secrets.token_hex(16), plan)
        seeds, p.seed_s = seed_database(config, plan)
        requests = requests_of(plan, seeds)
        gateway = Gateway(load_settings(config))
        counting = None
        if gateway.inbox.lane is not None:
            counting = CountingLane(gateway.inbox.lane)
            inbox: Any = gateway.inbox
            inbox.lane = counting
        texts: dict[int, str | None] = {}
        messages: Counter[str] = Counter()
        seconds: defaultdict[str, float] = defaultdict(float)
        try:
            for req in requests:
                message = InboundMessage(
                    "twilio", req.phone, req.text, OFFICE_NUMBER, req.message_id
                )
                word = keyword(req.text)
                started = time.perf_counter()
                try:
                    texts[req.index] = gateway.handle(message).text
                except Exception as exc:
                    texts[req.index] = None
                    p.exceptions += 1
                    if len(p.exception_examples) < 5:
                        p.exception_examples.append(f"#{req.index} {req.text!r}: {exc!r}")
                seconds[word] += time.perf_counter() - started
                messages[word] += 1
        finally:
            gateway.close()
        p.total_s = sum(seconds.values())
        p.messages, p.seconds = dict(messages), dict(seconds)
        if counting is not None:
            p.lane = True
            p.lane_answered = dict(counting.answered)
            p.lane_declined = dict(counting.declined)
            p.lane_declined_s = dict(counting.declined_s)
            p.lane_failed = dict(counting.failed)
        engine = create_engine(db.url)
        try:
            p.checks = check_day(engine, plan, seeds, requests, texts)
        finally:
            engine.dispose()
    finally:
        if not args.keep:
            with contextlib.suppress(Exception):
                db.drop()
    return p


# -- output ----------------------------------------------------------------------------------


def print_table(figures: list[fc.Figures]) -> None:
    print(
        f"{'':10}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'non-2xx':>9}{'no answer':>11}{'>15 s':>7}"
    )
    for f in figures:
        print(
            f"{f.name:10}{f.req_per_s:9.1f}{f.p50_ms:9.1f}{f.p90_ms:9.1f}{f.p99_ms:9.1f}"
            f"{f.max_ms:9.1f}{f.non2xx:9d}{f.unanswered:11d}{f.slow:7d}"
        )
        if not f.complete:
            print(f"  ({f.name}: wrk stopped before every request was through)")


def print_checks(c: DayChecks) -> None:
    print("replies: " + ", ".join(f"{k} {v}" for k, v in c.replies.items()))
    if c.unexpected:
        print(
            "unexpected: "
            + "; ".join(
                f"{kind}: " + ", ".join(f"{k} {v}" for k, v in got.items())
                for kind, got in c.unexpected.items()
            )
        )
        for example in c.unexpected_examples:
            print(f"  {example}")
    else:
        print("unexpected: none (every request got the reply its kind should get)")
    print(
        f"seats:      {c.slots} session counters, {c.seats_held} bookings hold a seat; "
        f"over quota {c.over_quota} + held seats the counter misses {c.counter_behind} "
        f"-> oversold {c.oversold} (counted seats nobody holds: {c.counter_ahead})"
    )
    for note in c.slot_notes:
        print(f"  {note}")
    print(
        f"duplicates: phones {c.phone_duplicates}, NIKs {c.nik_duplicates}, "
        f"booked and waiting {c.booked_and_waiting}, queue numbers {c.queue_duplicates}, "
        f"applicants called twice {c.called_twice} -> {c.duplicates}"
    )
    print(
        f"lost:       {c.unbacked} of {c.acknowledging} acknowledging replies not backed by "
        f"the database + {c.wrong_answers} answers to another command + {c.counter_ahead} "
        f"seats lost by a counter -> {c.lost}"
    )
    for example in c.lost_examples:
        print(f"  {example}")


def http_latencies(
    requests: list[fc.Request], answers: dict[int, fc.Answer]
) -> dict[str, list[int]]:
    by_word: defaultdict[str, list[int]] = defaultdict(list)
    for req in requests:
        answer = answers.get(req.index)
        if answer is not None and answer.status:
            by_word[keyword(req.text)].append(answer.latency_us)
    return {k: sorted(v) for k, v in by_word.items()}


def print_profile(p: Profile, gateway: fc.Figures, latencies: dict[str, list[int]], workers: int):
    print()
    print(
        "where the time goes: the same messages in-process, on a fresh database seeded the "
        "same way, Gateway.handle in one thread, no HTTP"
    )
    lane_cols = f"{'lane':>7}{'full':>7}" if p.lane else ""
    declined_col = f"{'declined ms':>13}" if p.lane else ""
    print(
        f"{'keyword':10}{'n':>7}{lane_cols}{'mean ms':>9}{'total ms':>10}{declined_col}"
        f"{'HTTP p50':>10}{'HTTP p99':>10}"
    )
    words = [w for w in KEYWORDS if w in p.messages] + sorted(set(p.messages) - set(KEYWORDS))
    for word in [*words, "all"]:
        if word == "all":
            n, secs = sum(p.messages.values()), p.total_s
            answered, declined_s = sum(p.lane_answered.values()), sum(p.lane_declined_s.values())
            full = sum(p.lane_declined.values())
            lat = sorted(v for values in latencies.values() for v in values)
        else:
            n, secs = p.messages[word], p.seconds[word]
            answered, declined_s = p.lane_answered.get(word, 0), p.lane_declined_s.get(word, 0.0)
            full = p.lane_declined.get(word, 0)
            lat = latencies.get(word, [])
        lane = f"{answered:7d}{full:7d}" if p.lane else ""
        declined = f"{declined_s * 1000:13.1f}" if p.lane else ""
        print(
            f"{word:10}{n:7d}{lane}{secs * 1000 / max(n, 1):9.2f}{secs * 1000:10.1f}{declined}"
            f"{fc.percentile(lat, 50) / 1000:10.1f}{fc.percentile(lat, 99) / 1000:10.1f}"
        )
    n = sum(p.messages.values())
    if p.lane:
        answered = sum(p.lane_answered.values())
        print(
            f"crowd lane: answered {answered} of {n} messages ("
            + ", ".join(f"{k} {v}" for k, v in sorted(p.lane_answered.items()))
            + f"), the full path {sum(p.lane_declined.values())} after the lane declined; "
            f"declining cost {sum(p.lane_declined_s.values()) * 1000:.0f} ms in all"
            + (
                "; the lane raised on " + ", ".join(f"{k} {v}" for k, v in p.lane_failed.items())
                if p.lane_failed
                else ""
            )
        )
    else:
        print("crowd lane: none on SQLite (the full path answers everything)")
    worker_s = gateway.duration_s * workers
    rest = worker_s - p.total_s
    print(
        f"in-process: {p.total_s:.1f} s for {n} messages ({p.total_s * 1000 / max(n, 1):.2f} ms "
        f"each, one thread; its seeding took {p.seed_s:.1f} s)"
    )
    print(
        f"HTTP run:   {gateway.duration_s:.1f} s x {workers} workers = {worker_s:.1f} worker-s "
        f"({worker_s * 1000 / max(n, 1):.2f} ms per message and worker)"
    )
    print(
        f"the rest:   {rest:.1f} worker-s ({rest * 1000 / max(n, 1):.2f} ms per message): HTTP, "
        "gunicorn, signature checks, waiting on other workers' locks, and the machine shared "
        "with wrk and PostgreSQL"
    )
    if p.exceptions:
        print(f"in-process exceptions: {p.exceptions}")
        for example in p.exception_examples:
            print(f"  {example}")
    if p.checks is not None:
        pc = p.checks
        print(
            f"in-process checks: oversold {pc.oversold}, duplicates {pc.duplicates}, lost "
            f"{pc.lost}; unexpected replies {sum(sum(v.values()) for v in pc.unexpected.values())}"
            + (
                " ("
                + "; ".join(
                    f"{kind}: " + ", ".join(f"{k} {v}" for k, v in got.items())
                    for kind, got in pc.unexpected.items()
                )
                + ")"
                if pc.unexpected
                else ""
            )
        )
        for example in (pc.lost_examples + pc.unexpected_examples)[:5]:
            print(f"  {example}")


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Replay an ordinary busy day of SMS webhooks against the gateway under "
        "gunicorn, and profile the same messages in-process.",
    )
    parser.add_argument("--requests", type=int, default=10000, help="requests (default 10000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        help="wrk connections, one thread each (default 64)",
    )
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and the databases")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the ceiling run")
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the in-process run (where the time goes)"
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.workers < 1 or args.connections < 1:
        parser.error("--requests, --workers and --connections must be at least 1")
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")
    if not (fc.BIN / "gunicorn").exists():
        parser.error(f"gunicorn is not installed in {fc.BIN.parent} (pip install gunicorn)")
    return args


def run(args: argparse.Namespace, procs: Processes, workdir: Path) -> int:
    """Run the whole benchmark in ``workdir``; return the exit status."""
    db = fc.Database(args.sqlite, workdir)
    kept = "kept at the end (--keep)" if args.keep else "removed at the end"
    print(f"busy-day: working in {workdir}, database {db.url}, {kept}", file=sys.stderr)
    try:
        return _run(args, procs, workdir, db)
    finally:
        procs.stop_all()
        if not args.keep:
            with contextlib.suppress(Exception):
                db.drop()


def _run(args: argparse.Namespace, procs: Processes, workdir: Path, db: fc.Database) -> int:
    auth_token = secrets.token_hex(16)
    today = datetime.now(TIMEZONE).date()
    plan = build_plan(today, args.requests, gap=2 * args.connections)
    db.create()
    config = write_config(workdir, db.url, auth_token, plan)
    seeds, seed_s = seed_database(config, plan)
    write_seeds(workdir / "seeds.tsv", seeds, plan)
    print(
        f"busy-day: seeded {len(seeds)} bookings and {len(STAFF)} staff in {seed_s:.1f} s",
        file=sys.stderr,
    )

    port = free_port()
    wire = fc.Wire("twilio", port, auth_token, "")
    requests = requests_of(plan, seeds)
    requests_file = workdir / "requests.tsv"
    with requests_file.open("w", encoding="utf-8") as f:
        f.writelines(wire.line(r) for r in requests)
    print(
        f"busy-day: {len(requests)} requests in {requests_file}; gateway on port {port}",
        file=sys.stderr,
    )

    gateway_proc, gateway_log = fc.start_gunicorn(
        procs,
        "sms_gateway.wsgi:app",
        port=port,
        workers=args.workers,
        workdir=workdir,
        name="gateway",
        SMS_GATEWAY_CONFIG=str(config),
    )
    gateway, answers = fc.replay(
        procs,
        name="gateway",
        port=port,
        requests_file=requests_file,
        total=len(requests),
        connections=args.connections,
        workdir=workdir,
    )
    procs.stop(gateway_proc)

    texts = {i: wire.sms_text(a.body) if a.status == 200 else None for i, a in answers.items()}
    engine = create_engine(db.url)
    try:
        checks = check_day(engine, plan, seeds, requests, texts)
    finally:
        engine.dispose()
    log_errors = fc.count_log_errors(gateway_log)
    chain = fc.verify_chain(config)

    ceiling = None
    if not args.no_ceiling:
        ceiling_port = free_port()
        ceiling_proc, _ = fc.start_gunicorn(
            procs,
            "bench.ceiling_app:app",
            port=ceiling_port,
            workers=args.workers,
            workdir=workdir,
            name="ceiling",
        )
        ceiling, _ = fc.replay(
            procs,
            name="ceiling",
            port=ceiling_port,
            requests_file=requests_file,
            total=len(requests),
            connections=args.connections,
            workdir=workdir,
        )
        procs.stop(ceiling_proc)

    prof = None
    if not args.no_profile:
        print("busy-day: the same messages in-process (where the time goes)", file=sys.stderr)
        prof = profile(args, workdir, plan)

    # -- the report
    words = Counter(keyword(r.text) for r in requests)
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    print()
    print(
        f"busy-day: {len(requests)} requests ("
        + ", ".join(f"{w} {words[w]}" for w in KEYWORDS if words[w])
        + f"), {args.connections} connections, {args.workers} workers, {backend}"
    )
    print(
        f"seeded:   {plan.groups['today']} bookings for today {day_text(today)}, "
        f"{plan.groups['week']} over {day_text(plan.days[0])}..{day_text(plan.days[-1])}, "
        f"{plan.groups['full']} filling {day_text(plan.full_day)} (quotas "
        + ", ".join(f"{k} {v}" for k, v in plan.quotas.items())
        + f"); {len(PETUGAS)} petugas and "
        f"a kepala; in {seed_s:.1f} s ({seed_s * 1000 / max(len(seeds), 1):.1f} ms a booking)"
    )
    print_table([f for f in (gateway, ceiling) if f is not None])
    ratio = gateway.req_per_s / ceiling.req_per_s if ceiling and ceiling.req_per_s else 0.0
    print(f"ratio gateway/ceiling: {ratio:.2f}" if ceiling else "ratio: no ceiling run")
    print()
    print_checks(checks)
    unanswered = max(gateway.socket_errors, gateway.unanswered)
    errors = gateway.non2xx + unanswered + gateway.slow + log_errors
    print(
        f"errors:     non-2xx {gateway.non2xx} + no answer/socket {unanswered} + "
        f"slower than 15 s {gateway.slow} + logged errors {log_errors} -> {errors} "
        f"(200 'busy' apologies among the replies: {checks.busy_replies})"
    )
    print(f"chain:      {chain.summary}")
    for problem in chain.problems[:5]:
        print(f"  {problem}")
    if prof is not None:
        print_profile(prof, gateway, http_latencies(requests, answers), args.workers)
    if datetime.now(TIMEZONE).date() != today:
        print(f"NOTE: the run crossed midnight ({TIMEZONE}): 'today' changed under it")

    failures = []
    if not chain.ok:
        failures.append("the audit chain does not verify: " + "; ".join(chain.problems[:3]))
    if checks.oversold or checks.duplicates or checks.lost:
        failures.append("oversold, duplicated or lost bookings")
    if prof is not None and prof.checks is not None:
        pc = prof.checks
        if pc.oversold or pc.duplicates or pc.lost:
            failures.append("the in-process run oversold, duplicated or lost bookings")
    if args.json:
        report = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "today": today.isoformat(),
            "full_day": plan.full_day.isoformat(),
            "seeded": dict(plan.groups),
            "seed_s": round(seed_s, 3),
            "requests": dict(words),
            "gateway": asdict(gateway),
            "ceiling": asdict(ceiling) if ceiling else None,
            "ratio": round(ratio, 4),
            "checks": asdict(checks),
            "chain": asdict(chain),
            "errors": errors,
            "profile": asdict(prof) if prof else None,
            "failures": failures,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for failure in failures:
        print(f"FAILED: {failure}")
    print(
        f"busy-day: ratio={ratio:.2f} p99_ms={round(gateway.p99_ms)} errors={errors} "
        f"oversold={checks.oversold} duplicates={checks.duplicates} lost={checks.lost}"
    )
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="busy-day-"))
    procs = Processes()
    try:
        with fc.terminate_as_interrupt():
            return run(args, procs, workdir)
    except fc.BenchError as exc:
        print(f"busy-day: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("busy-day: interrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Every state-changing command, sent many times at once, through gunicorn on PostgreSQL.

An SMSC delivers a burst of texts in parallel; so does a script on an
aggregator's API. Here each scenario sends N copies of a command from one
phone (and mixed pairs of commands) at the same moment, as signed Twilio
webhooks, to the production stack of the README: ``gunicorn -c
deploy/gunicorn.conf.py sms_gateway.wsgi:app`` with 2 sync workers, and again
with ``--worker-class gthread --threads 6``. Afterwards:

- every seat counter equals the bookings that hold its seats, and is within
  the quota; no phone or NIK holds two bookings;
- every acknowledging reply matches a real state change (one "cancelled" for
  one cancellation, as many "moved" as moves, at most ``max_reschedules``);
- the hourly limit and the staff PIN lockout are exact;
- ``audit verify`` passes.

The gateway runs on the real clock, so days are counted from today (the
office is open every day and national holidays are off in this config).
"""

from __future__ import annotations

import html
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from sms_gateway import migrate
from sms_gateway.config import load_settings
from sms_gateway.db import create_db_engine
from sms_gateway.gateway import Gateway
from sms_gateway.models import StaffRole
from sms_gateway.replies import template_of
from sms_gateway.services.staff import add_staff
from tests.conftest import AUTH_TOKEN, NIK_SECRET, PG_URL, nik, phone

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
TZ = ZoneInfo("Asia/Jakarta")
QUOTA = 5
MAX_RESCHEDULES = 2
LIMIT = 10  # messages an hour, at the LIM office
PIN = "4321"
KEPALA = "+6281100000001"
PETUGAS = "+6281100000002"
PMK_NUMBER = "+6282140000001"
LIM_NUMBER = "+6282140000002"
LOT_NUMBER = "+6282140000003"

CONFIG = f"""
[database]
url = "{{url}}"

[security]
nik_secret = "{NIK_SECRET}"

[twilio]
auth_token = "{AUTH_TOKEN}"

[booking]
min_days_ahead = 0
max_days_ahead = 60
max_reschedules = {MAX_RESCHEDULES}

[limits]
messages_per_hour = 1000
niks_per_phone = 3

[calendar]
national_holidays = false

[[offices]]
code = "PMK"
name = "Kantor Imigrasi Pamekasan"
sms_number = "{PMK_NUMBER}"
open_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
sessions = [{{ name = "PAGI", start = "00:00", end = "23:59", quota = {QUOTA} }}]

[[offices]]
code = "LIM"
name = "Kantor Imigrasi Sumenep"
sms_number = "{LIM_NUMBER}"
open_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
sessions = [{{ name = "PAGI", start = "00:00", end = "23:59", quota = {QUOTA} }}]
limits = {{ messages_per_hour = {LIMIT} }}

[[offices]]
code = "LOT"
name = "Kantor Imigrasi Bangkalan"
sms_number = "{LOT_NUMBER}"
open_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
sessions = [{{ name = "PAGI", start = "00:00", end = "23:59", quota = {QUOTA} }}]
allocation = "lottery"
lottery = {{ opens_days_before = 60, closes_days_before = 3, closes_at = "20:00" }}
"""

WORKERS = {
    "sync": [],
    "gthread": ["--worker-class", "gthread", "--threads", "6"],
}


# -- the stack -----------------------------------------------------------------------------


@dataclass
class Stack:
    """gunicorn in front of the gateway, and what a test needs to talk to it and check it."""

    url: str  # the Twilio webhook
    gateway: Gateway  # on the same database, for checks (never answers the webhooks)
    log: Path
    _phones: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _days: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # today: HADIR
    _sids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def phones(self, n: int) -> list[str]:
        """Return ``n`` phones no other test of the module has used."""
        return [phone(next(self._phones)) for _ in range(n)]

    def day(self) -> date:
        """Return a day no other test of the module has used (from tomorrow on)."""
        return today() + timedelta(days=next(self._days))

    def send(self, sender: str, body: str, to: str = PMK_NUMBER) -> str:
        """Send one signed webhook; return the reply SMS ("" for none)."""
        form = {
            "MessageSid": f"SMpar{next(self._sids):08d}{os.getpid()}",
            "From": sender,
            "To": to,
            "Body": body,
            "AccountSid": "AC" + "0" * 32,
            "NumMedia": "0",
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(self.url, form)
        request = urllib.request.Request(
            self.url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            found = re.search(r"<Message>(.*?)</Message>", response.read().decode(), re.DOTALL)
        return html.unescape(found.group(1)) if found else ""

    def burst(self, messages: list[tuple[str, str, str]]) -> list[str]:
        """Send (sender, body, to) messages all at the same moment; return the replies."""
        barrier = threading.Barrier(len(messages))

        def one(message: tuple[str, str, str]) -> str:
            barrier.wait()
            return self.send(*message)

        with ThreadPoolExecutor(max_workers=len(messages)) as pool:
            return list(pool.map(one, messages))

    def rows(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        with self.gateway.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def book(self, sender: str, serial: int, day: date, to: str = PMK_NUMBER) -> str:
        """Book a seat; return the booking code."""
        reply = self.send(sender, f"DAFTAR {nik(serial)} {day:%d-%m-%Y}", to)
        name, fields = template_of(reply)
        assert name == "booked", reply
        return fields["code"]


def today() -> date:
    return datetime.now(UTC).astimezone(TZ).date()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module", params=list(WORKERS))
def stack(
    request: pytest.FixtureRequest, pg_server: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A migrated schema of its own, staff phones, and gunicorn serving it."""
    workdir = tmp_path_factory.mktemp(f"parallel-{request.param}")
    schema = f"par_{request.param}_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with pg_server.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    config = workdir / "config.toml"
    config.write_text(CONFIG.replace("{url}", url), encoding="utf-8")
    gateway = Gateway(load_settings(config, env={}), crowd_lane=False)
    with gateway.sessions.begin() as session:
        now = datetime.now(UTC)
        for who, role in ((KEPALA, StaffRole.KEPALA), (PETUGAS, StaffRole.PETUGAS)):
            add_staff(session, phone=who, office="PMK", role=role, name=role, pin=PIN, now=now)
    port = free_port()
    log = workdir / "gunicorn.log"
    env = {
        **os.environ,
        "SMS_GATEWAY_CONFIG": str(config),
        "SMS_GATEWAY_BIND": f"127.0.0.1:{port}",
        "SMS_GATEWAY_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                str(GUNICORN),
                "-c",
                str(ROOT / "deploy/gunicorn.conf.py"),
                *WORKERS[request.param],
                "sms_gateway.wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", server, log)
        yield Stack(f"http://127.0.0.1:{port}/sms/twilio", gateway, log)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        gateway.close()
        drop = create_engine(PG_URL)
        with drop.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        drop.dispose()
        shutil.rmtree(workdir / "metrics", ignore_errors=True)


def _wait_until_up(health: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("gunicorn did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)


@pytest.fixture(autouse=True)
def _invariants(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every scenario: counters, one booking per identity, the chain, no tracebacks."""
    yield
    if "stack" not in request.fixturenames:
        return
    stack: Stack = request.getfixturevalue("stack")
    check_invariants(stack)


HOLDS_A_SEAT = "status NOT IN ('cancelled', 'cancelled_by_office', 'released')"


def check_invariants(stack: Stack) -> None:
    """Every seat counter equals the bookings holding its seats, within its quota; and more."""
    counted = stack.rows(
        f"""
        SELECT s.office_code, s.slot_date, s.session_name, s.booked,
               coalesce(s.quota_override, {QUOTA}),
               (SELECT count(*) FROM bookings b
                 WHERE b.office_code = s.office_code AND b.booking_date = s.slot_date
                   AND b.session_name = s.session_name AND b.{HOLDS_A_SEAT})
        FROM session_slots s
        """
    )
    for office, day, name, booked, quota, holding in counted:
        assert booked == holding, f"{office} {day} {name}: counter {booked}, holding {holding}"
        assert holding <= quota, f"{office} {day} {name}: {holding} seats held, quota {quota}"
    uncounted = stack.rows(
        f"""
        SELECT count(*) FROM bookings b WHERE b.{HOLDS_A_SEAT} AND NOT EXISTS (
          SELECT 1 FROM session_slots s WHERE s.office_code = b.office_code
            AND s.slot_date = b.booking_date AND s.session_name = b.session_name)
        """
    )
    assert uncounted == [(0,)]
    for column in ("phone", "nik_hash"):
        doubles = stack.rows(
            f"SELECT {column} FROM bookings WHERE status IN ('active', 'checked_in', 'called')"
            f" GROUP BY {column} HAVING count(*) > 1"
        )
        assert doubles == [], f"{column} holding two bookings"
    assert stack.rows(f"SELECT count(*) FROM bookings WHERE reschedules > {MAX_RESCHEDULES}") == [
        (0,)
    ]
    with stack.gateway.sessions() as session:
        report = stack.gateway.chain.verify(session)
    assert report.ok, report.problems
    log = stack.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]


def kinds(replies: list[str]) -> Counter[str | None]:
    """Count replies by the template they were made from (None: an empty reply)."""
    return Counter(template_of(r)[0] if r else None for r in replies)


N = 20


# -- one command, N times at once from one phone --------------------------------------------


def test_batal_twenty_times_cancels_once_and_returns_one_seat(stack: Stack) -> None:
    day = stack.day()
    phones = stack.phones(QUOTA + 1)
    for k, who in enumerate(phones[:QUOTA]):
        stack.book(who, 100 + k, day)
    holder = phones[0]
    replies = stack.burst([(holder, "BATAL", PMK_NUMBER)] * N)
    assert kinds(replies) == {"cancelled": 1, "no_booking_to_cancel": N - 1}
    assert stack.rows(
        "SELECT booked FROM session_slots WHERE office_code = 'PMK' AND slot_date = :d", d=day
    ) == [(QUOTA - 1,)]
    # The one freed seat goes to one new applicant; the next is refused.
    late = stack.phones(2)
    stack.book(late[0], 200, day)
    name, _ = template_of(stack.send(late[1], f"DAFTAR {nik(201)} {day:%d-%m-%Y}"))
    assert name in ("day_full_try_next", "all_full")


def test_ubah_twenty_times_moves_at_most_max_reschedules_times(stack: Stack) -> None:
    home, *targets = [stack.day() for _ in range(5)]
    (holder,) = stack.phones(1)
    stack.book(holder, 300, home)
    replies = stack.burst(
        [(holder, f"UBAH {targets[k % len(targets)]:%d-%m-%Y}", PMK_NUMBER) for k in range(N)]
    )
    found = kinds(replies)
    moved = stack.rows("SELECT reschedules, booking_date FROM bookings WHERE phone = :p", p=holder)
    assert found["ubah_ok"] == moved[0][0] == MAX_RESCHEDULES, found
    assert found["ubah_ok"] + found["move_too_many"] + found["move_same"] == N, found
    assert moved[0][1] in targets


def test_ya_twenty_times_confirms_once_and_changes_nothing_else(stack: Stack) -> None:
    day = stack.day()
    (holder,) = stack.phones(1)
    stack.book(holder, 400, day)
    replies = stack.burst([(holder, "YA", PMK_NUMBER)] * N)
    assert set(kinds(replies)) == {"ya_ok"}
    assert stack.rows(
        "SELECT status, confirmed_at IS NOT NULL FROM bookings WHERE phone = :p", p=holder
    ) == [("active", True)]


def test_daftar_twenty_times_books_once(stack: Stack) -> None:
    day = stack.day()
    (applicant,) = stack.phones(1)
    replies = stack.burst([(applicant, f"DAFTAR {nik(500)} {day:%d-%m-%Y}", PMK_NUMBER)] * N)
    assert kinds(replies) == {"booked": 1, "already_booked": N - 1}
    assert stack.rows("SELECT count(*) FROM bookings WHERE phone = :p", p=applicant) == [(1,)]


def test_tunggu_twenty_times_joins_the_line_once(stack: Stack) -> None:
    day = stack.day()
    for k, who in enumerate(stack.phones(QUOTA)):
        stack.book(who, 600 + k, day)
    (applicant,) = stack.phones(1)
    replies = stack.burst([(applicant, f"TUNGGU {nik(610)} {day:%d-%m-%Y}", PMK_NUMBER)] * N)
    assert kinds(replies) == {"tunggu_ok": N}  # a repeat says where it stands
    assert stack.rows(
        "SELECT count(*) FROM waitlist WHERE phone = :p AND status = 'waiting'", p=applicant
    ) == [(1,)]


def test_a_lottery_entry_twenty_times_enters_once(stack: Stack) -> None:
    day = today() + timedelta(days=20)
    (applicant,) = stack.phones(1)
    replies = stack.burst([(applicant, f"DAFTAR {nik(700)} {day:%d-%m-%Y}", LOT_NUMBER)] * N)
    assert kinds(replies) == {"lottery_entered": 1, "lottery_again": N - 1}
    assert stack.rows("SELECT count(*) FROM lottery_entries WHERE phone = :p", p=applicant) == [
        (1,)
    ]


def test_hadir_twenty_times_checks_in_once(stack: Stack) -> None:
    (applicant,) = stack.phones(1)
    code = stack.book(applicant, 800, today())
    replies = stack.burst([(PETUGAS, f"HADIR {PIN} {code} {nik(800)[-4:]}", PMK_NUMBER)] * N)
    assert kinds(replies) == {"hadir_ok": 1, "hadir_again": N - 1}
    assert stack.rows("SELECT status FROM bookings WHERE code = :c", c=code) == [("checked_in",)]


def test_selesai_twenty_times_serves_once(stack: Stack) -> None:
    (applicant,) = stack.phones(1)
    code = stack.book(applicant, 810, today())
    assert template_of(stack.send(PETUGAS, f"HADIR {PIN} {code} {nik(810)[-4:]}"))[0] == "hadir_ok"
    replies = stack.burst([(PETUGAS, f"SELESAI {PIN} {code}", PMK_NUMBER)] * N)
    assert set(kinds(replies)) == {"selesai_ok"}
    assert stack.rows("SELECT status FROM bookings WHERE code = :c", c=code) == [("served",)]


def test_tutup_twenty_times_closes_once(stack: Stack) -> None:
    day = stack.day()
    for k, who in enumerate(stack.phones(3)):
        stack.book(who, 900 + k, day)
    replies = stack.burst([(KEPALA, f"TUTUP {PIN} {day:%d-%m-%Y} banjir", PMK_NUMBER)] * N)
    found = kinds(replies)
    assert found == {"tutup_ok": 1, "tutup_again": N - 1}, found
    ok = next(r for r in replies if template_of(r)[0] == "tutup_ok")
    assert template_of(ok)[1]["count"] == "3"
    assert stack.rows(
        "SELECT count(*) FROM bookings WHERE booking_date = :d AND status = 'cancelled_by_office'",
        d=day,
    ) == [(3,)]


def test_kuota_twenty_times_leaves_one_quota_never_below_the_seats_held(stack: Stack) -> None:
    day = stack.day()
    for k, who in enumerate(stack.phones(3)):
        stack.book(who, 1000 + k, day)
    amounts = [k % 6 for k in range(N)]  # 0..5: below, at and above the 3 seats held
    replies = stack.burst(
        [(KEPALA, f"KUOTA {PIN} {day:%d-%m-%Y} PAGI {a}", PMK_NUMBER) for a in amounts]
    )
    found = kinds(replies)
    assert found["kuota_ok"] == sum(a >= 3 for a in amounts), found
    assert found["kuota_below"] == sum(a < 3 for a in amounts), found
    ((override,),) = stack.rows(
        "SELECT quota_override FROM session_slots WHERE office_code = 'PMK' AND slot_date = :d",
        d=day,
    )
    assert override in {3, 4, 5}


# -- limits -----------------------------------------------------------------------------------


def test_forty_messages_at_once_get_the_hourly_limit_exactly(stack: Stack) -> None:
    (sender,) = stack.phones(1)
    replies = stack.burst([(sender, "CEK", LIM_NUMBER)] * 40)
    found = kinds(replies)
    assert found == {"no_booking": LIMIT, "rate_limited": 1, None: 40 - LIMIT - 1}, found


def test_thirty_wrong_pins_at_once_check_five_then_lock(stack: Stack) -> None:
    staff = "+6281100000099"
    with stack.gateway.sessions.begin() as session:
        add_staff(
            session,
            phone=staff,
            office="PMK",
            role=StaffRole.PETUGAS,
            name="uji",
            pin=PIN,
            now=datetime.now(UTC),
        )
    replies = stack.burst([(staff, "REKAP 9999", PMK_NUMBER)] * 30)
    found = kinds(replies)
    assert found == {"staff_wrong_pin": 4, "staff_locked": 26}, found
    outcomes = dict(
        stack.rows(
            "SELECT outcome, count(*) FROM audit_log WHERE phone = :p GROUP BY outcome", p=staff
        )
    )
    assert outcomes == {"wrong_pin": 5, "locked": 25}, outcomes


# -- mixed pairs --------------------------------------------------------------------------


def test_batal_and_ubah_at_once(stack: Stack) -> None:
    home, other = stack.day(), stack.day()
    (holder,) = stack.phones(1)
    stack.book(holder, 1100, home)
    replies = stack.burst(
        [(holder, "BATAL", PMK_NUMBER), (holder, f"UBAH {other:%d-%m-%Y}", PMK_NUMBER)] * 5
    )
    found = kinds(replies)
    assert found["cancelled"] == 1, found
    ((status, reschedules),) = stack.rows(
        "SELECT status, reschedules FROM bookings WHERE phone = :p", p=holder
    )
    assert status == "cancelled"
    assert found["ubah_ok"] == reschedules


def test_ubah_and_tunggu_at_once(stack: Stack) -> None:
    home, other, full = stack.day(), stack.day(), stack.day()
    for k, who in enumerate(stack.phones(QUOTA)):
        stack.book(who, 1200 + k, full)
    (holder,) = stack.phones(1)
    stack.book(holder, 1210, home)
    replies = stack.burst(
        [
            (holder, f"UBAH {other:%d-%m-%Y}", PMK_NUMBER),
            (holder, f"TUNGGU {nik(1210)} {full:%d-%m-%Y}", PMK_NUMBER),
        ]
        * 5
    )
    found = kinds(replies)
    assert found["phone_taken"] == 5, found  # the phone holds a booking: no place in line too
    assert stack.rows("SELECT count(*) FROM waitlist WHERE phone = :p", p=holder) == [(0,)]


def test_batal_and_a_quota_decrease_at_once(stack: Stack) -> None:
    day = stack.day()
    phones = stack.phones(QUOTA)
    for k, who in enumerate(phones):
        stack.book(who, 1300 + k, day)
    replies = stack.burst(
        [
            (phones[0], "BATAL", PMK_NUMBER),
            (KEPALA, f"KUOTA {PIN} {day:%d-%m-%Y} PAGI 4", PMK_NUMBER),
        ]
    )
    assert template_of(replies[0])[0] == "cancelled"
    assert template_of(replies[1])[0] in ("kuota_ok", "kuota_below")


def test_tutup_while_applicants_book_then_buka(stack: Stack) -> None:
    day = stack.day()
    for k, who in enumerate(stack.phones(2)):
        stack.book(who, 1400 + k, day)
    crowd = stack.phones(10)
    messages = [
        (who, f"DAFTAR {nik(1410 + k)} {day:%d-%m-%Y}", PMK_NUMBER) for k, who in enumerate(crowd)
    ]
    messages.insert(5, (KEPALA, f"TUTUP {PIN} {day:%d-%m-%Y} banjir", PMK_NUMBER))
    replies = stack.burst(messages)
    tutup = template_of(replies[5])
    assert tutup[0] == "tutup_ok", replies[5]
    # Nothing holds a seat on the closed day: whoever booked before the closure was
    # cancelled with it (and is told so), the rest were refused.
    assert stack.rows(
        f"SELECT count(*) FROM bookings WHERE booking_date = :d AND {HOLDS_A_SEAT}", d=day
    ) == [(0,)]
    cancelled = stack.rows(
        "SELECT count(*) FROM bookings WHERE booking_date = :d AND status = 'cancelled_by_office'",
        d=day,
    )
    assert cancelled == [(int(tutup[1]["count"]),)]
    assert template_of(stack.send(KEPALA, f"BUKA {PIN} {day:%d-%m-%Y}"))[0] == "buka_ok"
    later = stack.phones(QUOTA + 3)
    replies = stack.burst(
        [(who, f"DAFTAR {nik(1430 + k)} {day:%d-%m-%Y}", PMK_NUMBER) for k, who in enumerate(later)]
    )
    assert kinds(replies)["booked"] == QUOTA

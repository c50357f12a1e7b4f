"""Make the README's screenshots of the public pages from a replayed month.

    .venv/bin/python bench/screenshots.py [--out docs/screenshots]

Plays three weeks at one office through the real inbound path (DAFTAR, TUNGGU,
BATAL, YA, HADIR, PANGGIL, SELESAI, and ``tick`` for reminders, releases and the
day end) on a throwaway SQLite database, with a fixed random seed. On Tuesday
1 December, 07:00, the office switches to lottery allocation (its config gains
``allocation = "lottery"`` and the gateway restarts): the worker's tick commits
to Friday's round; that morning's DAFTAR for Friday enter the draw, ten more
entries come at 19:30, and the 21:01 tick draws it. Wednesday's tick commits to
Monday's round, still open when the pages are photographed. Then it opens
``/transparansi/PMK`` (desktop width; the browser test keeps a phone-size one)
and ``/layar/PMK`` (TV size) in headless chromium and saves ``transparansi.png``
and ``layar.png``. Needs chromium, chromium-driver and the dev extra (selenium;
Pillow, from matplotlib, shrinks the PNGs when present).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sms_gateway.app import create_app
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.services import staff as staff_service
from tests.browser import TV_SIZE, browser_available, chromium, screenshot, serving

WIB = ZoneInfo("Asia/Jakarta")
FIRST_DAY = date(2026, 11, 16)  # the first day bookings are made
TODAY = date(2026, 12, 3)  # the day the pages are photographed, at NOW_TIME
NOW_TIME = time(10, 20)
PETUGAS, PIN = "+6281100000001", "1234"
KEPALA, KEPALA_PIN = "+6281100000002", "5678"
SEED = 20261203
LOTTERY_FROM = date(2026, 12, 1)  # PMK gives its days out by lottery from this morning on
LATE_ENTRANTS = 10  # enter a draw at 19:30, with the same chance as the 09:00 ones
DESK_SIZE = (1000, 800)  # wide enough for every column; the tests also look at phone size

CONFIG = """
[database]
url = "sqlite:///{db}"

[security]
nik_secret = "screenshots-nik-secret-0123456789"

[twilio]
auth_token = "screenshots-only-token-0123456789"

[[offices]]
code = "PMK"
name = "Kantor Imigrasi Pamekasan"
sms_number = "+6282140000001"
booking = {{ require_confirmation = true }}
{allocation}sessions = [
  {{ name = "PAGI", start = "08:00", end = "12:00", quota = 16 }},
  {{ name = "SIANG", start = "13:00", end = "15:00", quota = 8 }},
]
"""
# From LOTTERY_FROM: entries from 00:00 four days before a day until 20:00 three days
# before, so DAFTAR three days ahead at 09:00 (as the applicants here send) enters
# the draw, and the worker's 21:01 tick draws it.
LOTTERY = """allocation = "lottery"
lottery = {{ opens_days_before = 4, closes_days_before = 3, closes_at = "20:00" }}
"""


@dataclass
class Clock:
    """The replay's clock, moved by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Replay:
    """Send SMS and run ticks at chosen moments."""

    def __init__(self, gateway: Gateway, clock: Clock) -> None:
        self.gateway, self.clock = gateway, clock
        self.applicants = 0

    def at(self, day: date, hhmm: str) -> None:
        self.clock.now = datetime.combine(day, time.fromisoformat(hhmm), tzinfo=WIB).astimezone(UTC)

    def sms(self, body: str, sender: str) -> str:
        return self.gateway.handle(
            InboundMessage(transport="replay", sender=sender, recipient=None, text=body)
        ).text

    def tick(self, day: date, hhmm: str) -> None:
        self.at(day, hhmm)
        self.gateway.jobs.tick(self.clock.now)

    def new_applicant(self) -> tuple[str, str]:
        self.applicants += 1
        n = self.applicants
        return f"+62813{n:08d}", f"352801150590{n:04d}"


def play(replay: Replay, switch: Callable[[], Gateway]) -> Gateway:
    """Replay the weeks up to TODAY at NOW_TIME; return the gateway running by then.

    ``switch`` restarts the gateway with PMK on lottery allocation (on LOTTERY_FROM).
    """
    rng = random.Random(SEED)
    gateway = replay.gateway
    office = gateway.settings.offices[0]
    holders: dict[date, list[tuple[str, str]]] = {}  # day -> (phone, NIK) of its bookings
    entrants: dict[date, list[tuple[str, str]]] = {}  # day -> (phone, NIK) in its draw
    replay.at(FIRST_DAY, "08:00")
    assert replay.sms(f"KUOTA {KEPALA_PIN} 16-12-2026 PAGI 20", KEPALA).startswith("Kuota PMK")
    day = FIRST_DAY
    while day <= TODAY:
        if day == LOTTERY_FROM:
            # The config now says allocation = "lottery": the gateway restarts, and the
            # worker's first tick publishes the commitment of each round it creates.
            gateway.close()
            gateway = replay.gateway = switch()
            office = gateway.settings.offices[0]
            assert office.allocation == "lottery"
            replay.at(day, "07:00")
            assert gateway.jobs.tick(replay.clock.now).rounds_opened == 1  # Fri 04-12
        # Morning: applicants book three open days ahead; when full, some wait.
        # On a lottery day DAFTAR enters the draw instead, and some leave it again.
        target = day + timedelta(days=3)
        if gateway.calendar.is_open(office, target):
            replay.at(day, "09:00")
            for _ in range(rng.randint(20, 30)):
                phone, nik = replay.new_applicant()
                reply = replay.sms(f"DAFTAR {nik} {target:%d-%m-%Y}", phone)
                if reply.startswith("Terdaftar!"):
                    holders.setdefault(target, []).append((phone, nik))
                elif reply.startswith("Anda ikut undian"):
                    entrants.setdefault(target, []).append((phone, nik))
                elif "TUNGGU" in reply and rng.random() < 0.6:
                    replay.sms(f"TUNGGU {nik} {target:%d-%m-%Y}", phone)
            taken = holders.get(target) or entrants.get(target, [])
            for phone, _ in rng.sample(taken, k=rng.randint(0, 2)):
                replay.sms("BATAL", phone)
        # The counter's day, up to the moment of the screenshot on TODAY.
        if gateway.calendar.is_open(office, day) and day in holders:
            replay.at(day, "08:30")
            for phone, nik in holders[day]:
                code = re.search(r"Kode (\w{6})", replay.sms("CEK", phone))
                if code and rng.random() < 0.8:
                    replay.sms(f"HADIR {PIN} {code.group(1)} {nik[-4:]}", PETUGAS)
            calls = 999 if day < TODAY else 9
            for i in range(calls):
                minute = 35 + i * 10  # a call every ten minutes from 08:35
                replay.at(day, f"{8 + minute // 60:02d}:{minute % 60:02d}")
                reply = replay.sms(f"PANGGIL {PIN} {1 + i % 3}", PETUGAS)
                number = re.search(r"PMK-\d{3}", reply)
                if number is None:
                    break
                if day < TODAY or i < 6:
                    replay.sms(f"SELESAI {PIN} {number.group(0)}", PETUGAS)
        if day == TODAY:
            break
        replay.tick(day, "15:00")  # the day end: no-shows, expired
        replay.tick(day, "16:00")  # reminders for tomorrow
        for phone, _ in holders.get(day + timedelta(days=1), []):
            if rng.random() < 0.85:
                replay.sms("YA", phone)
        for target in list(entrants):
            replay.at(day, "19:30")
            for _ in range(LATE_ENTRANTS):
                phone, nik = replay.new_applicant()
                reply = replay.sms(f"DAFTAR {nik} {target:%d-%m-%Y}", phone)
                assert reply.startswith("Anda ikut undian"), reply
                entrants[target].append((phone, nik))
        replay.tick(day, "21:01")  # unconfirmed seats released, given to the waitlist; draws
        now = replay.clock.now
        for drawn in [d for d in entrants if gateway.lottery.window(office, d)[1] <= now]:
            for phone, nik in entrants.pop(drawn):  # the winners now hold bookings
                if "Kode " in replay.sms("CEK", phone):
                    holders.setdefault(drawn, []).append((phone, nik))
        day += timedelta(days=1)
    replay.at(TODAY, NOW_TIME.strftime("%H:%M"))
    return gateway


def prepare(gateway: Gateway, clock: Clock) -> None:
    """Register the office's staff."""
    clock.now = datetime.combine(FIRST_DAY, time(7, 0), tzinfo=WIB).astimezone(UTC)
    with gateway.sessions.begin() as session:
        for phone, role, pin in (
            (PETUGAS, StaffRole.PETUGAS, PIN),
            (KEPALA, StaffRole.KEPALA, KEPALA_PIN),
        ):
            staff_service.add_staff(
                session, phone=phone, office="PMK", role=role, name="Staf", pin=pin, now=clock.now
            )


def shrink(path: Path) -> None:
    """Quantise a screenshot to 256 colours when Pillow is installed (flat pages lose nothing)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> None:
    """Replay, photograph, save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    reason = browser_available()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        clock = Clock(datetime.now(UTC))

        def start(allocation: str = "") -> Gateway:
            text = CONFIG.format(db=Path(tmp) / "gateway.db", allocation=allocation)
            config.write_text(text, encoding="utf-8")
            return Gateway(load_settings(config, env={}), clock=clock)

        replay = Replay(start(), clock)
        try:
            prepare(replay.gateway, clock)
            gateway = play(replay, lambda: start(LOTTERY.format()))
            with serving(create_app(gateway.settings, gateway=gateway)) as base:
                with chromium(DESK_SIZE) as driver:
                    driver.get(f"{base}/transparansi/PMK")
                    out = screenshot(driver, args.out / "transparansi.png", full_page=True)
                    shrink(out)
                with chromium(TV_SIZE) as driver:
                    driver.get(f"{base}/layar/PMK")
                    out = screenshot(driver, args.out / "layar.png")
                    shrink(out)
        finally:
            replay.gateway.close()
    for name in ("transparansi.png", "layar.png"):
        path = args.out / name
        print(f"{path}: {path.stat().st_size // 1024} kB")


if __name__ == "__main__":
    main()

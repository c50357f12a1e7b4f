"""A scripted office day through the real inbound path, for the public pages' tests.

Office PMK requires confirmation (YA by 21:00 the day before) and holds PAGI 3 +
SIANG 2 seats; MLG holds PAGI 3. "Now" starts on Friday 27 November 2026, 10:00
WIB; the day played is Monday 30 November 2026. ``LOTTERY_OFFICES`` is the same
pair with PMK's days given out by lottery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.services import staff as staff_service
from tests.conftest import Clock, nik, phone

OFFICES = """
[[offices]]
code = "PMK"
name = "Kantor Imigrasi Pamekasan"
sms_number = "+6282140000001"
closed_dates = [{ date = 2026-12-10, reason = "rapat dinas" }]
booking = { require_confirmation = true }
sessions = [
  { name = "PAGI", start = "08:00", end = "12:00", quota = 3 },
  { name = "SIANG", start = "13:00", end = "15:00", quota = 2 },
]

[[offices]]
code = "MLG"
name = "Kantor Imigrasi Malang"
sms_number = "+6281330000002"
sessions = [{ name = "PAGI", start = "08:00", end = "12:00", quota = 3 }]
"""

# The same offices, but PMK gives its days out by lottery: entries from 00:00 ten
# days before the day, the draw at 20:00 three days before (as in test_lottery.py).
LOTTERY_OFFICES = OFFICES.replace(
    "booking = { require_confirmation = true }\n",
    "booking = { require_confirmation = true }\n"
    'allocation = "lottery"\n'
    'lottery = { opens_days_before = 10, closes_days_before = 3, closes_at = "20:00" }\n',
)
assert LOTTERY_OFFICES != OFFICES

PETUGAS, PIN = "+6281100000001", "1234"
KEPALA, KEPALA_PIN = "+6281100000002", "5678"
DAY = "2026-11-30"


@dataclass(frozen=True)
class Expected:
    """What the pages must show for PMK on the scripted day."""

    quota: int = 5
    booked: int = 5  # 3 served, 4 and 6 expired, 5 and 7 no-shows
    checked_in: int = 3  # 3, 4, 6
    no_show: int = 2  # 5, 7
    released: int = 1  # 2 did not confirm
    from_waitlist: int = 2  # 6 (after 1 cancelled), 7 (after 2 was released)
    served: int = 1  # 3
    cancelled: int = 1  # 1
    cancelled_by_office: int = 0


def at(moment: str) -> datetime:
    """Return a WIB moment, e.g. ``at("2026-11-30T09:00")``."""
    return datetime.fromisoformat(moment + "+07:00")


def sms(gateway: Gateway, body: str, sender: str) -> str:
    """Send one SMS through the real inbound path; return the reply."""
    return gateway.handle(
        InboundMessage(transport="test", sender=sender, recipient=None, text=body, external_id=None)
    ).text


def add_staff(
    gateway: Gateway, number: str, role: StaffRole, pin: str, office: str = "PMK"
) -> None:
    """Register a staff phone with its PIN."""
    with gateway.sessions.begin() as session:
        staff_service.add_staff(
            session,
            phone=number,
            office=office,
            role=role,
            name=f"Staf {number[-2:]}",
            pin=pin,
            now=gateway.clock(),
        )


def code_of(gateway: Gateway, n: int) -> str:
    """Return applicant n's booking code, as CEK tells them."""
    return sms(gateway, "CEK", phone(n)).split("Kode ")[1][:6]


def tick(gateway: Gateway, clock: Clock, moment: str) -> str:
    """Move the clock to ``moment`` (WIB) and run the time-driven jobs."""
    clock.now = at(moment)
    return str(gateway.jobs.tick(clock.now))


def script_day(gateway: Gateway, clock: Clock) -> Expected:
    """Play Monday 30-11-2026 at PMK: book, wait, cancel, release, check in, call, serve, sweep."""
    clock.now = at("2026-11-27T10:00")
    for n in range(1, 6):
        assert sms(gateway, f"DAFTAR {nik(n)} 30-11-2026", phone(n)).startswith("Terdaftar!")
    for n in (6, 7):
        assert sms(gateway, f"TUNGGU {nik(n)} 30-11-2026", phone(n)).startswith("Anda di daftar")
    assert "dibatalkan" in sms(gateway, "BATAL", phone(1))  # the seat goes to 6 at once

    assert "5 reminded" in tick(gateway, clock, "2026-11-29T16:00")
    for n in (3, 4, 5, 6):
        assert sms(gateway, "YA", phone(n)).startswith("Terima kasih")
    assert "1 released, 1 promoted" in tick(gateway, clock, "2026-11-29T21:01")  # 2 out, 7 in

    clock.now = at("2026-11-30T09:00")
    add_staff(gateway, PETUGAS, StaffRole.PETUGAS, PIN)
    for n in (3, 4, 6):
        assert sms(gateway, f"HADIR {PIN} {code_of(gateway, n)} {nik(n)}", PETUGAS).startswith(
            "HADIR:"
        )
    assert "PMK-003" in sms(gateway, f"PANGGIL {PIN} 2", PETUGAS)
    assert "PMK-003" in sms(gateway, f"SELESAI {PIN} PMK-003", PETUGAS)
    assert "PMK-004" in sms(gateway, f"PANGGIL {PIN} 2", PETUGAS)
    assert "4 booking(s) closed" in tick(gateway, clock, "2026-11-30T15:00")
    return Expected()


def ready_to_call(gateway: Gateway, clock: Clock, applicants: int = 4) -> None:
    """Book applicants 1..n for Monday, then check them all in on Monday at 09:00."""
    clock.now = at("2026-11-27T10:00")
    for n in range(1, applicants + 1):
        assert sms(gateway, f"DAFTAR {nik(n)} 30-11-2026", phone(n)).startswith("Terdaftar!")
    clock.now = at("2026-11-30T09:00")
    add_staff(gateway, PETUGAS, StaffRole.PETUGAS, PIN)
    for n in range(1, applicants + 1):
        assert sms(gateway, f"HADIR {PIN} {code_of(gateway, n)} {nik(n)}", PETUGAS).startswith(
            "HADIR:"
        )


def panggil(gateway: Gateway, counter: str) -> str:
    """Call the next applicant to ``counter`` by SMS, as counter staff do; return the reply."""
    return sms(gateway, f"PANGGIL {PIN} {counter}", PETUGAS)

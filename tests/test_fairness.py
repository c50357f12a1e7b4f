"""Fairness, end to end through the real inbound path and tick, on SQLite and PostgreSQL.

Office PMK requires confirmation (YA by 21:00 the day before); its sessions hold
PAGI 3 and SIANG 2 seats. "Now" starts on Friday 27 November 2026, 10:00 WIB.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.services import staff as staff_service
from tests.conftest import Clock, count, nik, phone, write_config

Send = Callable[..., str]

OFFICES = """
[[offices]]
code = "PMK"
name = "Kantor Imigrasi Pamekasan"
sms_number = "+6282140000001"
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
KEPALA, PIN = "+6281100000002", "5678"


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment + "+07:00")


@pytest.fixture
def gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    gw = Gateway(
        load_settings(write_config(tmp_path, db_url, offices=OFFICES), env={}), clock=clock
    )
    with gw.sessions.begin() as session:
        staff_service.add_staff(
            session,
            phone=KEPALA,
            office="PMK",
            role=StaffRole.KEPALA,
            name="Bu Sari",
            pin=PIN,
            now=clock.now,
        )
    yield gw
    gw.close()


def tick(gateway: Gateway, clock: Clock, moment: str) -> str:
    clock.now = at(moment)
    return str(gateway.jobs.tick(clock.now))


def book(send: Send, n: int, day: str = "30-11-2026", extra: str = "") -> str:
    reply = send(f"DAFTAR {nik(n)} {day} {extra}".strip(), sender=phone(n))
    assert reply.startswith("Terdaftar!"), reply
    return reply


def status(gateway: Gateway, n: int, day: str = "2026-11-30") -> list[str]:
    with gateway.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT status FROM bookings WHERE phone = :p AND booking_date = :d ORDER BY id"
                ),
                {"p": phone(n), "d": day},
            ).scalars()
        )


def outbox_to(gateway: Gateway, n: int) -> list[str]:
    with gateway.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT body FROM messages WHERE phone = :p AND "
                    "direction = 'out' AND reply_to_id IS NULL ORDER BY id"
                ),
                {"p": phone(n)},
            ).scalars()
        )


def check_seat_counters(gateway: Gateway) -> None:
    """Every counter equals the bookings that hold or used a seat: none lost, none oversold."""
    with gateway.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.office_code, s.slot_date, s.session_name, s.booked, "
                "(SELECT count(*) FROM bookings b WHERE b.office_code = s.office_code AND "
                "b.booking_date = s.slot_date AND b.session_name = s.session_name AND b.status IN "
                "('active', 'checked_in', 'called', 'served', 'no_show', 'expired')) AS held "
                "FROM session_slots s"
            )
        ).all()
    assert all(r.booked == r.held for r in rows), rows


# -- the replayed day --------------------------------------------------------------------


def test_a_replayed_day(send: Send, gateway: Gateway, clock: Clock) -> None:
    # Friday: the day fills up; applicant 6 joins the waitlist, as the full reply suggests.
    for n in range(1, 6):
        book(send, n)
    full = send(f"DAFTAR {nik(6)} 30-11-2026", sender=phone(6))
    assert "TUNGGU <NIK> 30-11-2026" in full
    assert send(f"TUNGGU {nik(6)} 30-11-2026", sender=phone(6)).startswith(
        "Anda di daftar tunggu no. 1 untuk PMK Sen 30-11-2026."
    )
    assert send("CEK", sender=phone(6)).startswith("Anda di daftar tunggu no. 1")

    # Sunday 16:00: the reminders go out, once.
    assert tick(gateway, clock, "2026-11-29T15:59").startswith("0 reminded")
    assert tick(gateway, clock, "2026-11-29T16:00").startswith("5 reminded")
    assert tick(gateway, clock, "2026-11-29T16:00").startswith("0 reminded")
    assert outbox_to(gateway, 1) == [
        "Besok Sen 30-11-2026 antrean PMK-001 PAGI 08:00-12:00, Kantor Imigrasi Pamekasan. "
        "Balas YA s/d 21:00 atau kursi dilepas. Batal: BATAL"
    ]

    # Everyone but applicant 2 confirms.
    for n in (1, 3, 4, 5):
        assert send("ya", sender=phone(n)).startswith("Terima kasih, kedatangan PMK-00")

    # 21:01: applicant 2 loses the seat, and applicant 6 gets it in the same transaction.
    assert tick(gateway, clock, "2026-11-29T21:00").startswith("0 reminded, 0 released")
    result = tick(gateway, clock, "2026-11-29T21:01")
    assert result.startswith("0 reminded, 1 released, 1 promoted")
    assert status(gateway, 2) == ["released"]
    assert outbox_to(gateway, 2)[-1].startswith(
        "Antrean PMK-002 Sen 30-11-2026 dilepas karena tidak ada balasan YA sebelum 21:00."
    )
    assert status(gateway, 6) == ["active"]
    assert outbox_to(gateway, 6)[-1].startswith(
        "Dapat kursi! Antrean PMK-006 Kantor Imigrasi Pamekasan, Sen 30-11-2026 PAGI"
    )
    assert tick(gateway, clock, "2026-11-29T21:01").startswith("0 reminded, 0 released")
    check_seat_counters(gateway)

    # Monday: only applicant 1 comes; after closing the others become no-shows.
    clock.now = at("2026-11-30T09:00")
    code = send("CEK", sender=phone(1)).split("Kode ")[1][:6]
    with gateway.sessions.begin() as session:
        staff_service.add_staff(
            session,
            phone="+6281100000001",
            office="PMK",
            role=StaffRole.PETUGAS,
            name="Budi",
            pin="1234",
            now=clock.now,
        )
    assert send(f"HADIR 1234 {code} {nik(1)}", sender="+6281100000001").startswith("HADIR:")
    assert "5 booking(s) closed" in tick(gateway, clock, "2026-11-30T15:00")
    assert [status(gateway, n) for n in (1, 3, 4, 5, 6)] == [
        ["expired"],
        ["no_show"],
        ["no_show"],
        ["no_show"],
        ["no_show"],
    ]

    # Applicant 3 books again, confirms, and misses it again...
    book(send, 3, "02-12-2026")
    tick(gateway, clock, "2026-12-01T16:00")
    send("YA", sender=phone(3))
    tick(gateway, clock, "2026-12-02T15:00")
    assert status(gateway, 3, "2026-12-02") == ["no_show"]
    # ...so the third booking is refused, saying until when.
    assert send(f"DAFTAR {nik(3)} 8-12-2026", sender=phone(3)) == (
        "Anda 2x tidak datang dalam 90 hari, jadi belum bisa mendaftar s/d 01-01-2027. Setelah "
        "itu kirim DAFTAR <NIK> <tanggal>"
    )
    # The ban holds the NIK from another phone too.
    assert send(f"DAFTAR {nik(3)} 8-12-2026", sender=phone(33)).startswith("Anda 2x tidak datang")
    check_seat_counters(gateway)


def test_a_booking_made_after_the_reminder_time_is_reminded_but_not_released_unfairly(
    send: Send, gateway: Gateway, clock: Clock
) -> None:
    clock.now = at("2026-11-29T20:30")  # Sunday evening, for Monday
    book(send, 1)
    assert tick(gateway, clock, "2026-11-29T20:31").startswith("1 reminded")
    # Less than an hour to answer: the seat is kept.
    assert "0 released" in tick(gateway, clock, "2026-11-29T21:05")
    assert status(gateway, 1) == ["active"]


def test_without_required_confirmation_nothing_is_released(
    send: Send, gateway: Gateway, clock: Clock
) -> None:
    book(send, 1, "30-11-2026", "MLG")
    assert tick(gateway, clock, "2026-11-29T16:00").startswith("1 reminded")
    assert outbox_to(gateway, 1)[0].endswith("Balas YA jika datang, BATAL jika tidak")
    assert "0 released" in tick(gateway, clock, "2026-11-29T22:00")
    assert status(gateway, 1) == ["active"]


# -- the waitlist ------------------------------------------------------------------------


def test_a_cancelled_seat_goes_to_the_first_in_line_at_once(send: Send, gateway: Gateway) -> None:
    for n in range(1, 6):
        book(send, n)
    assert send(f"TUNGGU {nik(6)} 30-11-2026", sender=phone(6)).startswith(
        "Anda di daftar tunggu no. 1"
    )
    assert send(f"TUNGGU {nik(7)} 30-11-2026 SIANG", sender=phone(7)).startswith(
        "Anda di daftar tunggu no. 2 untuk PMK Sen 30-11-2026 sesi SIANG."
    )
    assert send(f"TUNGGU {nik(8)} 30-11-2026", sender=phone(8)).startswith(
        "Anda di daftar tunggu no. 3"
    )
    # A PAGI seat frees: applicant 7 waits for SIANG only, so 6 gets it, then 8 is next.
    send("BATAL", sender=phone(2))
    assert status(gateway, 6) == ["active"]
    assert outbox_to(gateway, 6)[0].startswith("Dapat kursi! Antrean PMK-006")
    assert send("CEK", sender=phone(8)).startswith("Anda di daftar tunggu no. 2")
    # A SIANG seat frees: 7 gets it, as the first in line for SIANG.
    send("BATAL", sender=phone(5))
    assert status(gateway, 7) == ["active"]
    check_seat_counters(gateway)


def test_waitlist_rules(send: Send, gateway: Gateway, clock: Clock) -> None:
    book(send, 1)
    assert send(f"TUNGGU {nik(2)} 30-11-2026", sender=phone(2)).startswith(
        "Masih ada kursi PMK Sen 30-11-2026, tidak perlu menunggu. Kirim DAFTAR <NIK> 30-11-2026"
    )
    for n in range(2, 6):
        book(send, n)
    # One request per phone and per NIK: a booking or a place in line.
    assert send(f"TUNGGU {nik(1)} 30-11-2026", sender=phone(1)).startswith(
        "Nomor ini sudah punya antrean PMK-001"
    )
    assert send(f"TUNGGU {nik(6)} 30-11-2026", sender=phone(6)).startswith("Anda di daftar")
    assert send(f"TUNGGU {nik(6)} 30-11-2026", sender=phone(6)).startswith(
        "Anda di daftar tunggu no. 1"
    )  # asking again changes nothing
    assert send(f"DAFTAR {nik(6)} 01-12-2026", sender=phone(6)).startswith(
        "Nomor ini sudah di daftar tunggu PMK Sen 30-11-2026."
    )
    assert send(f"DAFTAR {nik(6)} 01-12-2026", sender=phone(9)).startswith(
        "NIK ini sudah di daftar tunggu lewat nomor lain."
    )
    assert send("BATAL", sender=phone(6)).startswith(
        "Anda keluar dari daftar tunggu PMK Sen 30-11-2026."
    )
    assert book(send, 6, "01-12-2026")
    # A quota increase goes to the waiting first.
    assert send(f"TUNGGU {nik(7)} 30-11-2026", sender=phone(7)).startswith("Anda di daftar")
    assert send(f"KUOTA {PIN} 30/11 PAGI 4", sender=KEPALA).startswith("Kuota PMK 30-11-2026")
    assert status(gateway, 7) == ["active"]
    # Entries for a finished day close, and the applicant is told.
    assert send(f"TUNGGU {nik(8)} 30-11-2026", sender=phone(8)).startswith("Anda di daftar")
    assert "1 waitlist entries closed" in tick(gateway, clock, "2026-11-30T15:00")
    assert outbox_to(gateway, 8)[-1].startswith(
        "Maaf, tidak ada kursi kosong untuk PMK Sen 30-11-2026; daftar tunggu ditutup."
    )
    check_seat_counters(gateway)


# -- UBAH --------------------------------------------------------------------------------


def test_ubah_moves_atomically_and_frees_the_old_seat(send: Send, gateway: Gateway) -> None:
    for n in range(1, 6):
        book(send, n)
    send(f"TUNGGU {nik(6)} 30-11-2026", sender=phone(6))
    assert send("UBAH 1/12 SIANG", sender=phone(1)).startswith(
        "Dipindah! Antrean PMK-001 Kantor Imigrasi Pamekasan, Sel 01-12-2026 SIANG"
    )
    assert status(gateway, 1, "2026-12-01") == ["active"]
    assert status(gateway, 6) == ["active"]  # got the freed seat
    # A full target changes nothing.
    for n in range(7, 10):
        book(send, n, "02-12-2026", "PAGI")
    before = send("CEK", sender=phone(2))
    assert send("PINDAH 2/12 PAGI", sender=phone(2)).startswith("Sesi PAGI Rab 02-12-2026 penuh.")
    assert send("CEK", sender=phone(2)) == before
    check_seat_counters(gateway)


def test_ubah_limits(send: Send, gateway: Gateway) -> None:
    book(send, 1)
    assert send("UBAH", sender=phone(1)).startswith("Format: UBAH <tanggal> <sesi>")
    assert send("UBAH 30/11 PAGI", sender=phone(1)).startswith(
        "Antrean PMK-001 sudah di Sen 30-11-2026 PAGI."
    )
    assert send("UBAH 1/12", sender=phone(1)).startswith("Dipindah!")
    assert send("UBAH 2/12", sender=phone(1)).startswith("Dipindah!")
    assert send("UBAH 3/12", sender=phone(1)) == (
        "Antrean PMK-001 sudah dipindah 2 kali, batas maksimal. Untuk tanggal lain: BATAL lalu "
        "DAFTAR <NIK> <tanggal>"
    )
    assert send("UBAH 3/12", sender=phone(9)).startswith("Nomor ini tidak punya antrean aktif.")
    assert send("UBAH 31/02", sender=phone(1)).startswith("Tanggal 31/02 tidak ada")


def test_concurrent_ubah_never_loses_or_oversells_a_seat(gateway: Gateway) -> None:
    # Eight applicants on Monday and Wednesday; all try to move to Tuesday PAGI (3 seats),
    # while eight newcomers try to take the Monday seats being freed.
    for n in range(1, 6):
        gateway.handle(
            InboundMessage(transport="test", sender=phone(n), text=f"DAFTAR {nik(n)} 30-11-2026")
        )
    for n in range(6, 9):
        gateway.handle(
            InboundMessage(transport="test", sender=phone(n), text=f"DAFTAR {nik(n)} 02-12-2026")
        )
    messages = [(phone(n), "UBAH 1/12 PAGI") for n in range(1, 9)] + [
        (phone(n), f"DAFTAR {nik(n)} 30-11-2026") for n in range(20, 28)
    ]
    barrier = threading.Barrier(len(messages))
    replies: dict[str, str] = {}

    def send_one(sender: str, body: str) -> None:
        barrier.wait()
        replies[sender] = gateway.handle(
            InboundMessage(transport="test", sender=sender, text=body)
        ).text

    threads = [threading.Thread(target=send_one, args=m) for m in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    moved = [s for s, r in replies.items() if r.startswith("Dipindah!")]
    assert len(moved) == 3
    check_seat_counters(gateway)
    with gateway.engine.connect() as conn:
        holders = conn.execute(
            text("SELECT phone, count(*) FROM bookings WHERE status = 'active' GROUP BY phone")
        ).all()
        tuesday_pagi = conn.execute(
            text(
                "SELECT count(*) FROM bookings WHERE status = 'active' AND booking_date = "
                "'2026-12-01' AND session_name = 'PAGI'"
            )
        ).scalar_one()
    assert all(n == 1 for _, n in holders)
    # Every original applicant still holds exactly one booking, moved or not.
    assert {phone(n) for n in range(1, 9)} <= {p for p, _ in holders}
    assert tuesday_pagi == 3


# -- penalties and limits ----------------------------------------------------------------


def test_a_late_cancel_counts_as_a_no_show(send: Send, gateway: Gateway, clock: Clock) -> None:
    book(send, 1)
    clock.now = at("2026-11-29T21:30")
    assert send("BATAL", sender=phone(1)) == (
        "Antrean PMK-001 Sen 30-11-2026 dibatalkan setelah batas konfirmasi, dihitung tidak "
        "datang. Daftar lagi: DAFTAR <NIK> <tanggal>"
    )
    clock.now = at("2026-11-30T16:00")
    book(send, 1, "02-12-2026")
    tick(gateway, clock, "2026-12-02T16:00")
    assert send(f"DAFTAR {nik(1)} 8-12-2026", sender=phone(1)).startswith("Anda 2x tidak datang")


def test_too_many_niks_from_one_phone(send: Send, gateway: Gateway) -> None:
    for n in (1, 2, 3):
        send(f"DAFTAR {nik(n)} 30-11-2026 MLG", sender=phone(1))
        send("BATAL", sender=phone(1))
    assert send(f"DAFTAR {nik(4)} 30-11-2026 MLG", sender=phone(1)) == (
        "Nomor ini sudah dipakai mendaftar 3 NIK dalam 30 hari. Daftarkan dari nomor HP pemohon "
        "sendiri: DAFTAR <NIK> <tanggal>"
    )
    # An earlier NIK of the same phone is still fine (a family member booking again).
    assert send(f"DAFTAR {nik(2)} 30-11-2026 MLG", sender=phone(1)).startswith("Terdaftar!")


def test_messages_over_the_hourly_limit_get_one_warning_then_silence(
    send: Send, gateway: Gateway, clock: Clock
) -> None:
    for _ in range(20):
        assert send("CEK", sender=phone(1))
    assert send("CEK", sender=phone(1)).startswith("Terlalu banyak SMS dari nomor ini.")
    assert send("CEK", sender=phone(1)) == ""
    assert send("CEK", sender=phone(1), sid="SMsilent") == ""
    assert count(gateway, "SELECT count(*) FROM messages WHERE direction = 'in'") == 23
    assert count(gateway, "SELECT count(*) FROM messages WHERE direction = 'out'") == 21
    # Staff are exempt, and after an hour the phone is answered again.
    for _ in range(25):
        assert send(f"REKAP {PIN}", sender=KEPALA).startswith("REKAP PMK")
    clock.now = at("2026-11-27T11:01")
    assert send("CEK", sender=phone(1)).startswith("Nomor ini tidak punya antrean")


def test_the_twilio_webhook_answers_silence_with_an_empty_twiml(
    gateway: Gateway, send: Send
) -> None:
    from twilio.request_validator import RequestValidator

    from sms_gateway.app import create_app
    from tests.conftest import AUTH_TOKEN

    for _ in range(21):
        send("CEK", sender=phone(1))
    app = create_app(gateway.settings, gateway=gateway)
    form = {"MessageSid": "SMquiet", "From": phone(1), "To": "+6282140000001", "Body": "CEK"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://localhost/sms/twilio", form)
    response = app.test_client().post(
        "/sms/twilio", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200
    assert b"<Message>" not in response.data


# -- the fraud report --------------------------------------------------------------------


def test_fraud_report_and_laporan(
    tmp_path: Path, send: Send, gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    # A scalper's phone tries many NIKs; a NIK is tried from several phones; a block of
    # consecutive numbers books within minutes.
    for n in (1, 2, 3, 4):
        send(f"DAFTAR {nik(n)} 30-11-2026 MLG", sender=phone(1))
        send("BATAL", sender=phone(1))
    for n in (11, 12):
        send(f"DAFTAR {nik(1)} 30-11-2026 MLG", sender=phone(n))
    for n in (101, 102, 103):
        book(send, n, "01-12-2026")
    assert send(f"LAPORAN {PIN} 7", sender=KEPALA).startswith(
        "LAPORAN PMK 7 hari: 0 HP dgn >=3 NIK, 0 NIK dari >1 HP, 0 sering tdk datang, 1 lonjakan."
    )
    from sms_gateway.cli import main

    config = str(gateway.settings.source)
    assert main(["--config", config, "report", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "pattern,subject,count,detail"
    assert sorted(rows[1:]) == [
        "nik_many_phones,3528********0001,3,tried from 3 phones",
        "number_burst,+6281200000xxx,5,5 phones of one number block booked within an hour",
        f"often_missing,{phone(1)},3,3 of 3 bookings not used (phone)",
        "often_missing,3528********0001,1,1 of 2 bookings not used (nik)",
        f"phone_many_niks,{phone(1)},4,4 different NIKs tried",
    ]
    assert main(["--config", config, "report", "--office", "SBY"]) == 2


def test_tick_command_replays_a_moment(
    send: Send, gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    from sms_gateway.cli import main

    book(send, 1)
    config = str(gateway.settings.source)
    assert main(["--config", config, "tick", "--now", "2026-11-29T16:00"]) == 0
    assert capsys.readouterr().out.startswith("1 reminded, 0 released")
    assert main(["--config", config, "tick", "--now", "2026-11-29T16:00"]) == 0
    assert capsys.readouterr().out.startswith("0 reminded, 0 released")
    assert main(["--config", config, "tick", "--now", "soon"]) == 2

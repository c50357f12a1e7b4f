"""Staff commands through the real inbound path, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.phones import mask_phone
from sms_gateway.services import staff as staff_service
from tests.conftest import Clock, count, nik, phone

Send = Callable[..., str]

PETUGAS = "+6281100000001"
KEPALA = "+6281100000002"
PETUGAS_MLG = "+6281100000003"
PIN, KEPALA_PIN = "1234", "5678"
MONDAY = datetime.fromisoformat("2026-11-30T09:00+07:00")


@pytest.fixture
def staff(gateway: Gateway) -> None:
    with gateway.sessions.begin() as session:
        for number, office, role, pin in (
            (PETUGAS, "PMK", StaffRole.PETUGAS, PIN),
            (KEPALA, "PMK", StaffRole.KEPALA, KEPALA_PIN),
            (PETUGAS_MLG, "MLG", StaffRole.PETUGAS, PIN),
        ):
            staff_service.add_staff(
                session,
                phone=number,
                office=office,
                role=role,
                name=f"Staf {number[-1]}",
                pin=pin,
                now=gateway.clock(),
            )


def book(send: Send, n: int, day: str = "30-11-2026", office: str = "") -> str:
    """Book for applicant n and return the booking code."""
    reply = send(f"DAFTAR {nik(n)} {day} {office}".strip(), sender=phone(n))
    assert reply.startswith("Terdaftar!"), reply
    return reply.split("Kode ")[1][:6]


def status_of(gateway: Gateway, code: str) -> str:
    with gateway.engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT status FROM bookings WHERE code = :c"), {"c": code}
            ).scalar_one()
        )


def outbox(gateway: Gateway) -> list[tuple[str, str]]:
    with gateway.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT phone, body FROM messages WHERE direction = 'out' "
                "AND reply_to_id IS NULL ORDER BY id"
            )
        ).all()
    return [(r.phone, r.body) for r in rows]


def audit_log(gateway: Gateway) -> list[tuple[str, str]]:
    with gateway.engine.connect() as conn:
        rows = conn.execute(text("SELECT command, outcome FROM audit_log ORDER BY id")).all()
    return [(r.command, r.outcome) for r in rows]


pytestmark = pytest.mark.usefixtures("staff")


# -- who may send staff commands ---------------------------------------------------------


@pytest.mark.parametrize(
    "body", ["HADIR 1234 ABCDEF 0001", "PANGGIL 1234", "TUTUP 5678 8/12", "REKAP"]
)
def test_a_non_staff_phone_gets_the_ordinary_unknown_reply(
    send: Send, gateway: Gateway, body: str
) -> None:
    assert send(body, sender=phone(50)) == send("halo", sender=phone(50))
    assert audit_log(gateway)[-1][1] == "not_staff"


def test_staff_keywords_are_not_suggested_to_applicants(send: Send) -> None:
    assert send("PANGIL", sender=phone(50)).startswith("Perintah tidak dikenal.")
    assert send("PANGIL", sender=PETUGAS).startswith("Maksud Anda PANGGIL? Kirim: PANGGIL <PIN>")


def test_wrong_pins_lock_the_phone_for_30_minutes(
    send: Send, gateway: Gateway, clock: Clock
) -> None:
    for left in (4, 3, 2, 1):
        assert send("REKAP 0000", sender=PETUGAS).startswith(f"PIN salah. Sisa {left} kali")
    assert send("REKAP 0000", sender=PETUGAS).startswith(
        "Nomor ini dikunci s/d 10:30 karena PIN salah 5 kali."
    )
    # The right PIN does not help while locked...
    assert send(f"REKAP {PIN}", sender=PETUGAS).startswith("Nomor ini dikunci s/d 10:30")
    # ...and other staff are not affected.
    assert send(f"REKAP {KEPALA_PIN}", sender=KEPALA).startswith("REKAP PMK 27-11-2026")
    clock.now += timedelta(minutes=31)
    assert send(f"REKAP {PIN}", sender=PETUGAS).startswith("REKAP PMK 27-11-2026")
    outcomes = [outcome for _, outcome in audit_log(gateway)]
    assert outcomes == ["wrong_pin"] * 5 + ["locked", "ok", "ok"]
    assert all("0000" not in command and PIN not in command for command, _ in audit_log(gateway))


def test_a_correct_pin_resets_the_count(send: Send, gateway: Gateway) -> None:
    for _ in range(3):
        send("REKAP 0000", sender=PETUGAS)
    send(f"REKAP {PIN}", sender=PETUGAS)
    assert send("REKAP 0000", sender=PETUGAS).startswith("PIN salah. Sisa 4 kali")


def test_kepala_commands_are_refused_to_petugas(send: Send, gateway: Gateway) -> None:
    reply = send(f"KUOTA {PIN} 8/12 PAGI 9", sender=PETUGAS)
    assert reply.startswith("KUOTA hanya untuk kepala kantor.")
    assert audit_log(gateway)[-1] == ("KUOTA **** 8/12 PAGI 9", "wrong_role")
    # A kepala may do what a petugas does.
    assert send(f"REKAP {KEPALA_PIN}", sender=KEPALA).startswith("REKAP PMK")


def test_a_staff_command_without_its_pin_gets_its_usage(send: Send) -> None:
    assert send("HADIR", sender=PETUGAS) == (
        "Format: HADIR <PIN> <KODE> <NIK atau 4 angka terakhir>"
    )


def test_the_pin_is_masked_in_the_message_log(send: Send, gateway: Gateway) -> None:
    send(f"rekap#{PIN}#besok", sender=PETUGAS)
    with gateway.engine.connect() as conn:
        bodies = conn.execute(text("SELECT body FROM messages WHERE direction = 'in'")).scalars()
        logged = list(bodies)
    # As typed, PIN masked (redact.redact_command keeps the rest of the text).
    assert logged == ["rekap#****#besok"]


def test_the_audit_log_is_append_only(send: Send, gateway: Gateway) -> None:
    send(f"REKAP {PIN}", sender=PETUGAS)
    for statement in ("UPDATE audit_log SET outcome = 'edited'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), gateway.engine.begin() as conn:
            conn.execute(text(statement))
    assert audit_log(gateway) == [("REKAP ****", "ok")]


# -- the counter -------------------------------------------------------------------------


def test_check_in_needs_the_matching_nik(send: Send, gateway: Gateway, clock: Clock) -> None:
    code = book(send, 1)
    clock.now = MONDAY
    # A scalper resold the number: the buyer's KTP has another NIK.
    assert send(f"HADIR {PIN} {code} {nik(99)}", sender=PETUGAS).startswith(
        "NIK TIDAK COCOK untuk PMK-001. Jangan layani"
    )
    assert send(f"HADIR {PIN} {code} 0099", sender=PETUGAS).startswith("NIK TIDAK COCOK")
    assert status_of(gateway, code) == "active"
    assert send(f"HADIR {PIN} {code.lower()} {nik(1)}", sender=PETUGAS) == (
        "HADIR: PMK-001 sesi PAGI, NIK cocok (3528********0001). Pemohon menunggu dipanggil. "
        "Panggil: PANGGIL <PIN> <loket>"
    )
    assert status_of(gateway, code) == "checked_in"
    assert send(f"HADIR {PIN} {code} 0001", sender=PETUGAS).startswith(
        "PMK-001 sudah tercatat hadir."
    )


def test_check_in_refuses_wrong_code_day_and_office(
    send: Send, gateway: Gateway, clock: Clock
) -> None:
    tomorrow = book(send, 1, "01-12-2026")
    malang = book(send, 2, "30-11-2026", "MLG")
    clock.now = MONDAY
    assert send(f"HADIR {PIN} XXXXXX 0001", sender=PETUGAS).startswith("Kode XXXXXX tidak ada.")
    assert send(f"HADIR {PIN} {tomorrow} 0001", sender=PETUGAS).startswith(
        f"Kode {tomorrow} untuk Sel 01-12-2026, bukan hari ini."
    )
    assert send(f"HADIR {PIN} {malang} 0002", sender=PETUGAS).startswith(
        f"Kode {malang} untuk kantor MLG, bukan PMK."
    )
    assert send(f"HADIR {PIN} {malang}", sender=PETUGAS).startswith("Format: HADIR <PIN>")
    assert {status_of(gateway, tomorrow), status_of(gateway, malang)} == {"active"}


def test_call_serve_and_count_a_day(send: Send, gateway: Gateway, clock: Clock) -> None:
    codes = [book(send, n) for n in (1, 2, 3)]
    assert send("BATAL", sender=phone(3)).startswith("Antrean PMK-003")
    clock.now = MONDAY
    assert send(f"PANGGIL {PIN}", sender=PETUGAS).startswith("Belum ada pemohon HADIR")
    for n, code in ((2, codes[1]), (1, codes[0])):
        send(f"HADIR {PIN} {code} {nik(n):.16}", sender=PETUGAS)
    # Queue order, not arrival order.
    assert send(f"PANGGIL {PIN} 2", sender=PETUGAS) == (
        "Panggil PMK-001 ke loket 2; SMS ke pemohon dikirim. Masih menunggu: 1. Selesai: "
        "SELESAI <PIN> PMK-001"
    )
    assert outbox(gateway) == [
        (phone(1), "Nomor PMK-001 silakan ke loket 2. Kantor Imigrasi Pamekasan")
    ]
    assert send(f"PANGGIL {PIN} 3", sender=PETUGAS).startswith("Panggil PMK-002 ke loket 3")
    assert send(f"SELESAI {PIN} pmk-001", sender=PETUGAS).startswith("PMK-001 selesai dilayani.")
    assert send(f"SELESAI {PIN} {codes[1]}", sender=PETUGAS).startswith("PMK-002 selesai")
    assert send(f"SELESAI {PIN} PMK-009", sender=PETUGAS).startswith(
        "PMK-009 tidak ada di antrean hari ini di PMK."
    )
    assert send(f"REKAP {PIN}", sender=PETUGAS) == (
        "REKAP PMK 30-11-2026: daftar 2, hadir 2, selesai 2, batal 1, tdk datang 0. "
        "Sisa: PAGI 1, SIANG 2"
    )


def test_two_counters_calling_at_once_never_call_the_same_applicant(
    send: Send, gateway: Gateway, clock: Clock
) -> None:
    codes = [book(send, n) for n in (1, 2, 3)]
    clock.now = MONDAY
    for n, code in enumerate(codes, start=1):
        send(f"HADIR {PIN} {code} {nik(n)}", sender=PETUGAS)
    with gateway.sessions.begin() as session:
        staff_service.add_staff(
            session,
            phone="+6281100000004",
            office="PMK",
            role=StaffRole.PETUGAS,
            name="Loket 4",
            pin=PIN,
            now=clock.now,
        )
    barrier = threading.Barrier(3)
    replies: list[str] = []

    def call(number: str, pin: str, counter: int) -> None:
        barrier.wait()
        replies.append(
            gateway.handle(
                InboundMessage(transport="test", sender=number, text=f"PANGGIL {pin} {counter}")
            ).text
        )

    callers = ((PETUGAS, PIN), (KEPALA, KEPALA_PIN), ("+6281100000004", PIN))
    threads = [
        threading.Thread(target=call, args=(number, pin, i))
        for i, (number, pin) in enumerate(callers, start=1)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    called = sorted(r.split()[1] for r in replies if r.startswith("Panggil"))
    assert called == ["PMK-001", "PMK-002", "PMK-003"], replies


# -- the office head ---------------------------------------------------------------------


def test_kuota_raises_and_refuses_going_below_booked(send: Send, gateway: Gateway) -> None:
    for n in (1, 2, 3):
        book(send, n, "08-12-2026 PAGI")
    assert send(f"DAFTAR {nik(4)} 8-12-2026 PAGI", sender=phone(4)).startswith("Sesi PAGI")
    assert send(f"KUOTA {KEPALA_PIN} 8/12 PAGI 2", sender=KEPALA) == (
        "Kuota tidak bisa 2: PAGI 08-12-2026 sudah terisi 3. Kirim KUOTA <PIN> "
        "08-12-2026 PAGI <minimal 3>"
    )
    assert send(f"KUOTA {KEPALA_PIN} 8/12 pagi 4", sender=KEPALA).startswith(
        "Kuota PMK 08-12-2026 PAGI: 3 menjadi 4 (terisi 3)."
    )
    assert book(send, 4, "08-12-2026 PAGI")
    assert send(f"KUOTA {KEPALA_PIN} 8/12 SORE 4", sender=KEPALA).startswith(
        "Format: KUOTA <PIN> <tanggal> <SESI> <jumlah>"
    )


def test_tutup_cancels_and_notifies_once_and_buka_reopens(send: Send, gateway: Gateway) -> None:
    for n in (1, 2, 3):
        book(send, n, "08-12-2026")
    assert send(f"TUTUP {KEPALA_PIN} 8/12 banjir besar", sender=KEPALA) == (
        "PMK ditutup Sel 08-12-2026. Antrean dibatalkan: 3, tiap pemohon diberi SMS. Buka lagi: "
        "BUKA <PIN> 08-12-2026"
    )
    notices = outbox(gateway)
    assert [p for p, _ in notices] == [phone(1), phone(2), phone(3)]
    assert notices[0][1] == (
        "Maaf, Kantor Imigrasi Pamekasan tutup Sel 08-12-2026 (banjir "
        "besar). Antrean PMK-001 dibatalkan. Daftar lagi: DAFTAR <NIK> "
        "<tanggal>"
    )
    assert count(gateway, "SELECT count(*) FROM bookings WHERE status = 'cancelled_by_office'") == 3
    assert send(f"TUTUP {KEPALA_PIN} 8/12", sender=KEPALA).startswith(
        "PMK sudah ditutup Sel 08-12-2026; tidak ada SMS baru."
    )
    assert len(outbox(gateway)) == 3
    assert send(f"DAFTAR {nik(9)} 8-12-2026", sender=phone(9)).startswith(
        "PMK tutup Sel 08-12-2026 (banjir besar). Tanggal buka terdekat: Rab 09-12-2026."
    )
    # The cancelled applicants are free to book again at once.
    assert book(send, 1, "09-12-2026")
    assert send(f"BUKA {KEPALA_PIN} 8/12", sender=KEPALA).startswith("PMK dibuka lagi")
    assert book(send, 9, "08-12-2026")
    assert send(f"BUKA {KEPALA_PIN} 8/12", sender=KEPALA).startswith(
        "PMK tidak ditutup lewat SMS pada 08-12-2026."
    )


def test_tutup_with_200_bookings_writes_200_notices_in_one_transaction(
    tmp_path: object, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    send_ = gateway.handle
    send_(InboundMessage(transport="test", sender=KEPALA, text=f"KUOTA {KEPALA_PIN} 8/12 PAGI 200"))
    for n in range(1, 201):
        reply = send_(
            InboundMessage(
                transport="test", sender=phone(n), text=f"DAFTAR {nik(n)} 8-12-2026 PAGI"
            )
        ).text
        assert reply.startswith("Terdaftar!"), reply

    # If writing any notice fails, nothing of the closure may remain.
    real_enqueue = gateway.outbound.enqueue
    written: list[int] = []

    def failing_enqueue(*args: Any, **kwargs: Any) -> object:
        written.append(1)
        if len(written) == 150:
            raise RuntimeError("disk full")
        return real_enqueue(*args, **kwargs)

    monkeypatch.setattr(gateway.outbound, "enqueue", failing_enqueue)
    with pytest.raises(RuntimeError):
        send_(InboundMessage(transport="test", sender=KEPALA, text=f"TUTUP {KEPALA_PIN} 8/12"))
    assert count(gateway, "SELECT count(*) FROM office_closures") == 0
    assert count(gateway, "SELECT count(*) FROM bookings WHERE status = 'active'") == 200
    assert outbox(gateway) == []

    monkeypatch.setattr(gateway.outbound, "enqueue", real_enqueue)
    reply = send_(
        InboundMessage(
            transport="test", sender=KEPALA, text=f"TUTUP {KEPALA_PIN} 8/12 listrik padam"
        )
    ).text
    assert reply.startswith("PMK ditutup Sel 08-12-2026. Antrean dibatalkan: 200,")
    notices = outbox(gateway)
    assert len(notices) == 200
    assert len({p for p, _ in notices}) == 200


def test_blokir_and_lepas_a_phone_and_a_nik(send: Send, gateway: Gateway) -> None:
    assert send(f"BLOKIR {KEPALA_PIN} {phone(1)} 30 calo", sender=KEPALA) == (
        f"Nomor {mask_phone(phone(1))} diblokir s/d 26-12-2026. "
        "Lepas: LEPAS <PIN> <nomor HP atau NIK>"
    )
    assert send(f"DAFTAR {nik(1)} 8-12-2026", sender=phone(1)) == (
        "Nomor ini tidak bisa mendaftar s/d 26-12-2026 (calo). Untuk keberatan datang ke kantor "
        "imigrasi. Info: kirim BANTUAN"
    )
    assert send(f"BLOKIR {KEPALA_PIN} {nik(2)} 7", sender=KEPALA).startswith(
        "NIK 3528********0002 diblokir s/d 03-12-2026."
    )
    assert send(f"DAFTAR {nik(2)} 8-12-2026", sender=phone(3)).startswith(
        "NIK ini tidak bisa mendaftar s/d 03-12-2026. Untuk keberatan"
    )
    assert send(f"LEPAS {KEPALA_PIN} 0{phone(1)[3:]}", sender=KEPALA).startswith(
        f"Nomor {mask_phone(phone(1))} dilepas dari blokir"
    )
    assert book(send, 1, "08-12-2026")
    assert send(f"LEPAS {KEPALA_PIN} {phone(1)}", sender=KEPALA).startswith(
        f"Nomor {mask_phone(phone(1))} tidak sedang diblokir."
    )
    assert send(f"BLOKIR {KEPALA_PIN} {phone(5)} 0", sender=KEPALA).startswith(
        "Format: BLOKIR <PIN>"
    )
    assert send(f"BLOKIR {KEPALA_PIN} halo 3", sender=KEPALA).startswith("Format: BLOKIR")


def test_siaran_texts_every_booking_of_the_day_in_one_segment(send: Send, gateway: Gateway) -> None:
    for n in (1, 2):
        book(send, n, "08-12-2026")
    book(send, 3, "09-12-2026")
    message = "Layanan mulai jam 10 karena rapat. NIK contoh 3528011505900001. " + "x" * 200
    assert send(f"SIARAN {KEPALA_PIN} 8/12 {message}", sender=KEPALA).startswith(
        "SIARAN untuk 2 pemohon Sel 08-12-2026 masuk antrean kirim."
    )
    notices = outbox(gateway)
    assert [p for p, _ in notices] == [phone(1), phone(2)]
    body = notices[0][1]
    assert body.startswith("PMK: Layanan mulai jam 10 karena rapat. NIK contoh 3528********0001")
    assert len(body) <= 160
    assert send(f"SIARAN {KEPALA_PIN} 10/12 halo", sender=KEPALA).startswith(
        "Tidak ada antrean aktif Kam 10-12-2026"
    )
    assert send(f"SIARAN {KEPALA_PIN} 20/11/2026 halo", sender=KEPALA).startswith(
        "Tanggal 20-11-2026 sudah lewat."
    )


def test_a_staff_command_through_the_twilio_webhook(
    gateway: Gateway, send: Send, clock: Clock
) -> None:
    from twilio.request_validator import RequestValidator

    from sms_gateway.app import create_app
    from tests.conftest import AUTH_TOKEN

    code = book(send, 1)
    clock.now = MONDAY
    app = create_app(gateway.settings, gateway=gateway)
    form = {
        "MessageSid": "SMstaff1",
        "From": PETUGAS,
        "To": "+6282140000001",
        "Body": f"HADIR {PIN} {code} {nik(1)}",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://localhost/sms/twilio", form)
    response = app.test_client().post(
        "/sms/twilio", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert b"HADIR: PMK-001 sesi PAGI, NIK cocok" in response.data
    assert status_of(gateway, code) == "checked_in"


# -- the day end -------------------------------------------------------------------------


def test_sweep_closes_past_days_once(send: Send, gateway: Gateway, clock: Clock) -> None:
    codes = [book(send, n) for n in (1, 2, 3)]
    clock.now = MONDAY
    send(f"HADIR {PIN} {codes[0]} {nik(1)}", sender=PETUGAS)
    send(f"HADIR {PIN} {codes[1]} {nik(2)}", sender=PETUGAS)
    send(f"PANGGIL {PIN} 1", sender=PETUGAS)
    send(f"SELESAI {PIN} {codes[0]}", sender=PETUGAS)
    with gateway.sessions.begin() as session:
        assert gateway.bookings.sweep(session, clock.now) == 0  # the day is not over yet
    clock.now = datetime.fromisoformat("2026-11-30T15:30+07:00")  # after the last session
    with gateway.sessions.begin() as session:
        assert gateway.bookings.sweep(session, clock.now) == 2
    assert [status_of(gateway, c) for c in codes] == ["served", "expired", "no_show"]
    with gateway.sessions.begin() as session:
        assert gateway.bookings.sweep(session, clock.now) == 0


def test_a_pin_that_just_passed_scrypt_is_not_hashed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    verified = staff_service.VerifiedPins(ttl=600, clock=lambda: now[0])
    stored = staff_service.hash_pin("1234")
    runs = []
    real_scrypt = staff_service.hashlib.scrypt

    def counting_scrypt(*args: Any, **kwargs: Any) -> bytes:
        runs.append(1)
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(staff_service.hashlib, "scrypt", counting_scrypt)
    assert staff_service.check_pin("1234", stored, verified) and len(runs) == 1
    assert staff_service.check_pin("1234", stored, verified) and len(runs) == 1
    # A wrong PIN always pays for scrypt (and counts towards the lockout upstream).
    assert not staff_service.check_pin("9999", stored, verified) and len(runs) == 2
    # A reset PIN is a new stored hash: the old PIN is not remembered for it.
    reset = staff_service.hash_pin("5678")
    assert not staff_service.check_pin("1234", reset, verified) and len(runs) == 4
    # After the ttl, scrypt runs again.
    now[0] = 601.0
    assert staff_service.check_pin("1234", stored, verified) and len(runs) == 5

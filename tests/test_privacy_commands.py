"""DATAKU, HAPUS and PRIVASI: a data subject's rights under UU PDP No. 27/2022, by SMS.

Through the real path: ``gateway.handle`` with an InboundMessage, a signed
Twilio webhook and a Kannel request, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import text
from twilio.request_validator import RequestValidator

from sms_gateway.app import create_app
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.gsm import fits_one_segment
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.phones import mask_phone
from sms_gateway.services import staff as staff_service
from sms_gateway.services.chain_records import is_anonymised
from tests.conftest import AUTH_TOKEN, OFFICES_TOML, Clock, nik, phone, write_config

Send = Callable[..., str]
KEPALA, PIN = "+6281100000002", "5678"
PMK_NUMBER, MLG_NUMBER = "+6282140000001", "+6281330000002"
# Entries from ten days before the day: PMK's 8-12 takes them from 28-11.
LOTTERY_OFFICES = OFFICES_TOML.replace(
    'closed_dates = [{ date = 2026-12-10, reason = "rapat dinas" }]',
    'closed_dates = [{ date = 2026-12-10, reason = "rapat dinas" }]\n'
    'allocation = "lottery"\n'
    'lottery = { opens_days_before = 10, closes_days_before = 3, closes_at = "20:00" }',
)


@pytest.fixture
def kepala(gateway: Gateway) -> None:
    with gateway.sessions.begin() as session:
        staff_service.add_staff(
            session,
            phone=KEPALA,
            office="PMK",
            role=StaffRole.KEPALA,
            name="Kepala",
            pin=PIN,
            now=gateway.clock(),
        )


def rows(gateway: Gateway, sql: str, **params: object) -> list[dict[str, Any]]:
    with gateway.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def messages_of(gateway: Gateway, number: str) -> list[dict[str, Any]]:
    return rows(gateway, "SELECT * FROM messages WHERE phone = :p ORDER BY id", p=number)


def code_of(reply: str) -> str:
    found = re.search(r"Kode ([A-Z0-9]{6})", reply)
    assert found, reply
    return found.group(1)


def verify(gateway: Gateway) -> list[str]:
    with gateway.sessions() as session:
        return gateway.chain.verify(session).problems


def no_nik_in(reply: str) -> bool:
    return re.search(r"\d{4}\*+\d{4}|\d{12,}", reply) is None


# -- DATAKU ---------------------------------------------------------------------------------


def test_dataku_names_the_active_booking_the_earlier_ones_and_the_block(
    send: Send, kepala: None
) -> None:
    assert send(f"DAFTAR {nik(1)} 30-11-2026", sender=phone(1)).startswith("Terdaftar!")
    assert send("BATAL", sender=phone(1)).startswith("Antrean PMK-001")
    code = code_of(send(f"DAFTAR {nik(1)} 1-12-2026", sender=phone(1)))
    assert send(f"BLOKIR {PIN} {phone(1)} 30 calo", sender=KEPALA).startswith(
        f"Nomor {mask_phone(phone(1))} diblokir s/d 26-12-2026."
    )
    reply = send("DATAKU", sender=phone(1))
    # Six messages before, and this one: its reply is written after it is made.
    assert reply == (
        f"Data HP ini: antrean aktif PMK-001 Sel 01-12-2026 kode {code}. Lalu: antrean 1, "
        "tunggu 0, undian 0. SMS 7. Blokir s/d 26-12-2026. Hapus: HAPUS"
    )
    assert fits_one_segment(reply)
    assert no_nik_in(reply)
    # MYDATA is the same command.
    assert send("mydata", sender=phone(1)).startswith("Data HP ini: antrean aktif PMK-001")


def test_dataku_names_the_place_on_the_waitlist(send: Send) -> None:
    for n in range(2, 7):  # PMK Tue 1-12: PAGI 3 + SIANG 2
        assert send(f"DAFTAR {nik(n)} 1-12-2026", sender=phone(n)).startswith("Terdaftar!")
    for n in (7, 8):
        assert send(f"TUNGGU {nik(n)} 1-12-2026", sender=phone(n)).startswith(
            f"Anda di daftar tunggu no. {n - 6}"
        )
    assert send("DATAKU", sender=phone(8)) == (
        "Data HP ini: daftar tunggu no. 2 PMK Sel 01-12-2026. Lalu: antrean 0, tunggu 0, "
        "undian 0. SMS 3. Tidak diblokir. Hapus: HAPUS"
    )


def test_dataku_of_a_phone_with_nothing_on_record(send: Send) -> None:
    assert send("DATAKU", sender=phone(1)) == (
        "Data HP ini: tidak ada antrean aktif. Lalu: antrean 0, tunggu 0, undian 0. SMS 1. "
        "Tidak diblokir. Hapus: HAPUS"
    )


# -- HAPUS ----------------------------------------------------------------------------------


def test_hapus_waits_for_batal_then_erases_texts_and_phones_and_the_chain_verifies(
    gateway: Gateway, send: Send
) -> None:
    send(f"DAFTAR {nik(1)} 30-11-2026", sender=phone(1))
    send(f"DAFTAR {nik(2)} 30-11-2026", sender=phone(2))  # a neighbour: left alone
    neighbour = messages_of(gateway, phone(2))

    refused = send("HAPUS", sender=phone(1))
    assert refused == (
        "Nomor ini masih punya antrean aktif PMK-001 Sen 30-11-2026; datanya belum bisa "
        "dihapus. Kirim BATAL dulu, lalu HAPUS"
    )
    assert all(m["body"] for m in messages_of(gateway, phone(1)))
    booking = rows(gateway, "SELECT * FROM bookings WHERE queue_seq = 1")[0]
    assert booking["phone"] == phone(1)

    assert send("BATAL", sender=phone(1)).startswith("Antrean PMK-001 Sen 30-11-2026 sudah")
    reply = send("hapus", sender=phone(1))
    # DAFTAR, HAPUS and BATAL, each with its reply; the booking's phone.
    assert reply == (
        "Data lama nomor ini dihapus: isi 6 SMS, dan no HP di 1 antrean/tunggu/undian diganti "
        "kode samaran. Lihat sisa: DATAKU"
    )
    kept = messages_of(gateway, phone(1))
    assert [m["body"] for m in kept] == ["", "", "", "", "", "", "hapus", reply]
    after = rows(gateway, "SELECT * FROM bookings WHERE id = :i", i=booking["id"])[0]
    assert is_anonymised(after["phone"])
    assert after["phone"] == gateway.chain.anonymise(phone(1))
    assert (after["nik_hash"], after["nik_masked"], after["status"]) == (
        booking["nik_hash"],
        booking["nik_masked"],
        "cancelled",
    )
    assert messages_of(gateway, phone(2)) == neighbour
    assert rows(gateway, "SELECT phone FROM bookings WHERE queue_seq = 2") == [{"phone": phone(2)}]

    # The chain still reconciles every row; the erasure is on record by keyed hash only.
    assert verify(gateway) == []
    records = rows(gateway, "SELECT kind, subject, data FROM audit_chain ORDER BY seq")
    erasures = [json.loads(r["data"]) for r in records if r["kind"] == "erasure"]
    assert erasures == [
        {
            "phone": gateway.chain.phone_key(phone(1)),
            "messages": 6,
            "bookings": 1,
            "waitlist": 0,
            "lottery_entries": 0,
        }
    ]
    assert not any(phone(1)[3:] in r["data"] for r in records)

    # Again: only what came since (the first HAPUS and its reply); the phone can book anew.
    assert send("HAPUS", sender=phone(1)).startswith("Data lama nomor ini dihapus: isi 2 SMS")
    assert send(f"DAFTAR {nik(1)} 1-12-2026", sender=phone(1)).startswith("Terdaftar!")
    dataku = send("DATAKU", sender=phone(1))
    assert dataku.startswith("Data HP ini: antrean aktif PMK-001 Sel 01-12-2026 kode ")
    assert "Lalu: antrean 0," in dataku  # the erased booking is no longer this phone's
    assert verify(gateway) == []


def test_hapus_with_nothing_left_to_erase_says_so(send: Send) -> None:
    assert send("HAPUS", sender=phone(1)) == (
        "Tidak ada lagi data lama nomor ini yg bisa dihapus. Lihat data: DATAKU. Info: PRIVASI"
    )


def test_hapus_is_refused_while_waiting_and_works_after_leaving_the_line(
    gateway: Gateway, send: Send
) -> None:
    for n in range(2, 7):
        send(f"DAFTAR {nik(n)} 1-12-2026", sender=phone(n))
    send(f"TUNGGU {nik(1)} 1-12-2026", sender=phone(1))
    assert send("HAPUS", sender=phone(1)) == (
        "Nomor ini masih di daftar tunggu PMK Sel 01-12-2026; datanya belum bisa dihapus. "
        "Kirim BATAL dulu, lalu HAPUS"
    )
    assert send("BATAL", sender=phone(1)).startswith("Anda keluar dari daftar tunggu")
    assert "no HP di 1 antrean/tunggu/undian" in send("HAPUS", sender=phone(1))
    (entry,) = rows(gateway, "SELECT phone, status FROM waitlist")
    assert (is_anonymised(entry["phone"]), entry["status"]) == (True, "cancelled")
    assert verify(gateway) == []


@pytest.fixture
def lottery_gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    settings = load_settings(write_config(tmp_path, db_url, offices=LOTTERY_OFFICES), env={})
    gw = Gateway(settings, clock=clock)
    yield gw
    gw.close()


def test_hapus_is_refused_while_in_a_draw_and_works_after_withdrawing(
    lottery_gateway: Gateway, clock: Clock
) -> None:
    gateway = lottery_gateway

    def send(body: str) -> str:
        message = InboundMessage(transport="test", sender=phone(1), recipient=None, text=body)
        return gateway.handle(message).text

    gateway.jobs.tick(clock())  # the round's commitment, before its window
    clock.now = clock.now.replace(day=28)  # 28-11: the window is open
    assert send(f"DAFTAR {nik(1)} 8-12-2026").startswith("Anda ikut undian PMK Sel 08-12-2026")
    assert send("DATAKU").startswith("Data HP ini: ikut undian PMK Sel 08-12-2026. Lalu:")
    assert send("HAPUS") == (
        "Nomor ini masih ikut undian PMK Sel 08-12-2026; datanya belum bisa dihapus. Kirim "
        "BATAL dulu, lalu HAPUS"
    )
    assert send("BATAL").startswith("Anda keluar dari undian PMK")
    assert "no HP di 1 antrean/tunggu/undian" in send("HAPUS")
    (entry,) = rows(gateway, "SELECT phone, status FROM lottery_entries")
    assert (is_anonymised(entry["phone"]), entry["status"]) == (True, "withdrawn")
    assert verify(gateway) == []


# -- PRIVASI --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "office"),
    [(PMK_NUMBER, "Kantor Imigrasi Pamekasan"), (MLG_NUMBER, "Kantor Imigrasi Malang")],
)
def test_privasi_names_the_office_the_periods_and_the_commands_in_one_sms(
    send: Send, to: str, office: str
) -> None:
    reply = send("PRIVASI", to=to)
    assert reply == (
        f"{office} memakai no HP & NIK tersamar hanya utk antrean. Isi SMS disimpan 90 hari, "
        "no HP 365 hari. Lihat: DATAKU. Hapus: HAPUS"
    )
    assert fits_one_segment(reply)


def test_privasi_sends_the_configured_notice(tmp_path: Path, db_url: str, clock: Clock) -> None:
    extra = (
        "[privacy]\nkeep_messages_days = 60\nkeep_bookings_days = 180\n"
        'notice = "Data Anda di {office} disimpan {keep_bookings_days} hari. Lihat: DATAKU"\n'
    )
    gateway = Gateway(
        load_settings(write_config(tmp_path, db_url, extra=extra), env={}), clock=clock
    )
    try:
        message = InboundMessage(
            transport="test", sender=phone(1), recipient=MLG_NUMBER, text="privacy"
        )
        assert gateway.handle(message).text == (
            "Data Anda di Kantor Imigrasi Malang disimpan 180 hari. Lihat: DATAKU"
        )
    finally:
        gateway.close()


# -- through the providers' webhooks --------------------------------------------------------


def test_hapus_through_a_signed_twilio_webhook(gateway: Gateway) -> None:
    client = create_app(gateway.settings, gateway=gateway).test_client()
    url = "http://localhost/sms/twilio"

    def post(body: str, sid: str) -> str:
        form = {
            "MessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": "+6281234567890",
            "To": PMK_NUMBER,
            "Body": body,
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        response = client.post("/sms/twilio", data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200, response.data
        message = ElementTree.fromstring(response.data).find("Message")
        assert message is not None and message.text is not None
        return message.text

    assert post(f"DAFTAR {nik(1)} 30-11-2026", "SM" + "1" * 32).startswith("Terdaftar!")
    assert post("HAPUS", "SM" + "2" * 32).startswith("Nomor ini masih punya antrean aktif")
    assert post("BATAL", "SM" + "3" * 32).startswith("Antrean PMK-001")
    assert post("HAPUS", "SM" + "4" * 32).startswith("Data lama nomor ini dihapus: isi 6 SMS")
    # Twilio's retry of the same MessageSid gets the same reply and erases nothing more.
    assert post("HAPUS", "SM" + "4" * 32).startswith("Data lama nomor ini dihapus: isi 6 SMS")
    bodies = [m["body"] for m in messages_of(gateway, "+6281234567890")]
    assert bodies[:6] == [""] * 6 and bodies[6] == "HAPUS" and bodies[7].startswith("Data lama")
    assert verify(gateway) == []


KANNEL_SECRET = "kannel-secret-0123456789"


def test_dataku_through_a_kannel_request(tmp_path: Path, db_url: str, clock: Clock) -> None:
    config = write_config(
        tmp_path, db_url, twilio="", extra=f'[kannel]\nsecret = "{KANNEL_SECRET}"\n'
    )
    gateway = Gateway(load_settings(config, env={}), clock=clock)
    client = create_app(gateway.settings, gateway=gateway).test_client()
    try:
        for n, body in enumerate([f"DAFTAR {nik(1)} 30-11-2026", "DATAKU"], start=1):
            response = client.get(
                "/sms/kannel",
                query_string={
                    "key": KANNEL_SECRET,
                    "from": "6281234567890",
                    "to": PMK_NUMBER,
                    "text": body,
                    "id": f"b5e7a6c2-0000-4000-8000-00000000000{n}",
                    "coding": "0",
                    "charset": "UTF-8",
                },
            )
            assert response.status_code == 200
        reply = response.get_data(as_text=True)
        assert reply.startswith("Data HP ini: antrean aktif PMK-001 Sen 30-11-2026 kode ")
        assert reply.endswith(
            "Lalu: antrean 0, tunggu 0, undian 0. SMS 3. Tidak diblokir. Hapus: HAPUS"
        )
        assert fits_one_segment(reply) and no_nik_in(reply)
    finally:
        gateway.close()


def test_every_dataku_and_hapus_reply_fits_one_sms_with_the_longest_values() -> None:
    from sms_gateway import replies

    longest = {
        "queue": "ABCDE-99999",
        "wd": "Sen",
        "date": "30-12-2026",
        "until": "30-12-2026",
        "code": "K7MXQ4",
        "office_code": "ABCDE",
        "position": "9999",
        "booked": "9999",
        "waiting": "9999",
        "count": "9999",
        "n": "99999",  # messages to and from one phone: more than the usual worst case
    }
    names = [n for n in replies.TEMPLATES if n.startswith(("dataku_", "hapus_"))]
    assert len(names) == 13
    for name in names:
        reply = replies.TEMPLATES[name].format(**longest)
        assert fits_one_segment(reply), (name, reply)
        assert "HAPUS" in reply or "DATAKU" in reply, name


def test_hapus_does_not_reset_the_phones_booking_history(send: Send) -> None:
    # niks_per_phone (3 a month) and the no-show penalty look a phone's history up
    # under its pseudonym too: a scalper cannot erase their way past them.
    for n in (1, 2, 3):
        assert send(f"DAFTAR {nik(n)} 30-11-2026", sender=phone(1)).startswith("Terdaftar!")
        assert "dibatalkan" in send("BATAL", sender=phone(1))
        assert "dihapus" in send("HAPUS", sender=phone(1)).lower()
    refused = send(f"DAFTAR {nik(4)} 30-11-2026", sender=phone(1))
    assert not refused.startswith("Terdaftar!"), refused
    assert "3 NIK" in refused or "NIK" in refused, refused
    # Another phone is not held to the first one's history.
    assert send(f"DAFTAR {nik(4)} 30-11-2026", sender=phone(2)).startswith("Terdaftar!")

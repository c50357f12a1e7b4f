"""The applicant commands end to end through the real inbound path, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from sms_gateway.gateway import Gateway
from tests.conftest import VALID_NIK, Clock, count, nik, phone

Send = Callable[..., str]

BOOKED = re.compile(
    r"^Terdaftar! Antrean (?P<queue>[A-Z]+-\d{3,}) (?P<office>.+?), (?P<wd>\w{3}) "
    r"(?P<date>\d\d-\d\d-\d{4}) (?P<session>\w+), datang (?P<window>\d\d:\d\d-\d\d:\d\d)\. "
    r"Kode (?P<code>[A-Z0-9]{6})\. Bawa KTP asli\. Batal: kirim BATAL$"
)


def booked(reply: str) -> dict[str, str]:
    match = BOOKED.match(reply)
    assert match, f"not a booking confirmation: {reply!r}"
    return match.groupdict()


def active(gateway: Gateway) -> int:
    return count(gateway, "SELECT count(*) FROM bookings WHERE status = 'active'")


def seats(gateway: Gateway) -> int:
    return count(gateway, "SELECT coalesce(sum(booked), 0) FROM session_slots")


# -- DAFTAR ------------------------------------------------------------------------------


def test_daftar_books_a_seat_and_replies_with_number_office_date_session_code(
    send: Send, gateway: Gateway
) -> None:
    reply = send(f"DAFTAR {VALID_NIK} 8-12-2026")
    fields = booked(reply)
    assert fields["queue"] == "PMK-001"
    assert fields["office"] == "Kantor Imigrasi Pamekasan"
    assert (fields["wd"], fields["date"]) == ("Sel", "08-12-2026")
    assert (fields["session"], fields["window"]) == ("PAGI", "08:00-12:00")
    assert active(gateway) == 1
    assert seats(gateway) == 1


@pytest.mark.parametrize(
    "body",
    [
        "daftar 3528011505900001 8/12",
        "DAFTAR#3528011505900001#08-12-26",
        "Daftar*3528.0115.0590.0001*8 Des 2026",
        "  reg   3528 0115 0590 0001 \n 8 desember ",
        "BOOK,3528-0115-0590-0001,2026-12-08",
        "DAFTAR3528011505900001 8.12.2026",
        "daftar 3528011505900001 selasa depan",
    ],
)
def test_daftar_accepts_the_ways_people_type(send: Send, body: str) -> None:
    fields = booked(send(body))
    assert fields["date"] == "08-12-2026" or body.endswith("selasa depan")
    assert fields["queue"] == "PMK-001"


def test_repeated_daftar_answers_with_the_same_booking(send: Send, gateway: Gateway) -> None:
    first = booked(send(f"DAFTAR {VALID_NIK} 8-12-2026"))
    again = send(f"daftar {VALID_NIK} 08/12/2026")
    assert again.startswith(f"Sudah terdaftar: antrean {first['queue']} ")
    assert f"Kode {first['code']}." in again
    assert active(gateway) == 1
    assert seats(gateway) == 1


def test_one_active_booking_per_phone(send: Send, gateway: Gateway) -> None:
    first = booked(send(f"DAFTAR {nik(1)} 8-12-2026"))
    for body in (
        f"DAFTAR {nik(2)} 8-12-2026",
        f"DAFTAR {nik(1)} 9-12-2026",
        f"DAFTAR {nik(2)} 9-12-2026 MLG",
    ):
        reply = send(body)
        assert reply.startswith(f"Nomor ini sudah punya antrean {first['queue']} (Sel 08-12")
        assert "BATAL" in reply
    assert active(gateway) == 1
    assert seats(gateway) == 1


def test_one_active_booking_per_nik_across_offices(send: Send, gateway: Gateway) -> None:
    booked(send(f"DAFTAR {VALID_NIK} 8-12-2026 PMK", sender=phone(1)))
    reply = send(f"DAFTAR {VALID_NIK} 9-12-2026 MLG", sender=phone(2))
    assert reply.startswith("NIK ini sudah punya antrean aktif lewat nomor lain.")
    assert "BATAL" in reply
    # The same NIK written differently is the same person.
    reply = send("DAFTAR 3528 0115 0590 0001 8-12-2026", sender=phone(3))
    assert reply.startswith("NIK ini sudah punya antrean aktif")
    assert active(gateway) == 1


def test_sessions_fill_in_order_then_the_reply_offers_the_next_date(
    send: Send, gateway: Gateway
) -> None:
    sessions = [
        booked(send(f"DAFTAR {nik(i)} 8-12-2026", sender=phone(i)))["session"] for i in range(1, 6)
    ]
    assert sessions == ["PAGI", "PAGI", "PAGI", "SIANG", "SIANG"]
    reply = send(f"DAFTAR {nik(6)} 8-12-2026", sender=phone(6))
    assert reply == (
        "Kuota PMK Sel 08-12-2026 sudah penuh. Tunggu kursi: TUNGGU <NIK> 08-12-2026. Atau "
        "Rab 09-12-2026: DAFTAR <NIK> 09-12-2026"
    )
    assert active(gateway) == 5
    assert seats(gateway) == 5


def test_full_session_suggests_the_other_session(send: Send, gateway: Gateway) -> None:
    for i in range(1, 4):
        assert booked(send(f"DAFTAR {nik(i)} 8-12-2026 PAGI", sender=phone(i)))["session"] == "PAGI"
    reply = send(f"DAFTAR {nik(4)} 8-12-2026 pagi", sender=phone(4))
    assert reply == (
        "Sesi PAGI Sel 08-12-2026 penuh. Sesi SIANG masih ada: kirim DAFTAR <NIK> 08-12-2026 SIANG"
    )
    assert booked(send(f"DAFTAR {nik(4)} 8-12-2026 SIANG", sender=phone(4)))["session"] == "SIANG"


def test_queue_numbers_are_sequential_per_office_and_day_and_never_reused(
    send: Send, gateway: Gateway
) -> None:
    assert booked(send(f"DAFTAR {nik(1)} 8-12-2026", sender=phone(1)))["queue"] == "PMK-001"
    assert booked(send(f"DAFTAR {nik(2)} 8-12-2026", sender=phone(2)))["queue"] == "PMK-002"
    assert booked(send(f"DAFTAR {nik(3)} 8-12-2026 MLG", sender=phone(3)))["queue"] == "MLG-001"
    assert booked(send(f"DAFTAR {nik(4)} 9-12-2026", sender=phone(4)))["queue"] == "PMK-001"
    assert send("BATAL", sender=phone(2)).startswith("Antrean PMK-002 Sel 08-12-2026 sudah")
    assert booked(send(f"DAFTAR {nik(2)} 8-12-2026", sender=phone(2)))["queue"] == "PMK-003"
    assert booked(send(f"DAFTAR {nik(5)} 8-12-2026", sender=phone(5)))["queue"] == "PMK-004"


@pytest.mark.parametrize(
    ("body", "to", "office"),
    [
        (f"DAFTAR {VALID_NIK} 8-12-2026", None, "Kantor Imigrasi Pamekasan"),  # first office
        (f"DAFTAR {VALID_NIK} 8-12-2026", "+6281330000002", "Kantor Imigrasi Malang"),  # To
        (f"DAFTAR {VALID_NIK} 8-12-2026 mlg", "+6282140000001", "Kantor Imigrasi Malang"),
        (f"DAFTAR {VALID_NIK} 8-12-2026 MLG SIANG", None, "Kantor Imigrasi Malang"),
        (f"DAFTAR {VALID_NIK} 8-12-2026 SIANG MLG", None, "Kantor Imigrasi Malang"),
    ],
)
def test_office_comes_from_the_code_else_the_number_texted_else_the_first(
    send: Send, body: str, to: str | None, office: str
) -> None:
    assert booked(send(body, to=to))["office"] == office


# -- date and NIK refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            f"DAFTAR {VALID_NIK} 20-11-2026",
            "Tanggal 20-11-2026 sudah lewat. Tanggal terdekat yang bisa: Sen 30-11-2026. "
            "Kirim DAFTAR <NIK> 30-11-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} hari ini",
            "Daftar paling lambat 1 hari sebelumnya, 27-11-2026 terlalu dekat. Terdekat yang bisa: "
            "Sen 30-11-2026. Kirim DAFTAR <NIK> 30-11-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} 28-12-2026",
            "Daftar paling jauh 30 hari ke depan, 28-12-2026 terlalu jauh. Terdekat yang bisa: "
            "Sen 30-11-2026. Kirim DAFTAR <NIK> 30-11-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} besok",
            "PMK tutup Sab 28-11-2026 (hari Sabtu). Tanggal buka terdekat: Sen 30-11-2026. "
            "Kirim DAFTAR <NIK> 30-11-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} 25-12-2026",
            "PMK tutup Jum 25-12-2026 (Hari Raya Natal). Tanggal buka terdekat: Rab 23-12-2026. "
            "Kirim DAFTAR <NIK> 23-12-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} 24-12-2026",
            "PMK tutup Kam 24-12-2026 (Cuti Bersama Hari Raya Natal). Tanggal buka terdekat: "
            "Rab 23-12-2026. Kirim DAFTAR <NIK> 23-12-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} 10-12-2026",
            "PMK tutup Kam 10-12-2026 (rapat dinas). Tanggal buka terdekat: Jum 11-12-2026. "
            "Kirim DAFTAR <NIK> 11-12-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} 31-02",
            "Tanggal 31-02 tidak ada di kalender. Kirim lagi DAFTAR <NIK> <tanggal>, "
            "mis. DAFTAR <NIK> 30-11-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} kapan2",
            'Tanggal "kapan2" tidak dikenali. Tulis spt 8-12-2026, 8/12, 8 Des, besok, senin. '
            "Kirim DAFTAR <NIK> <tanggal>, mis. DAFTAR <NIK> 30-11-2026",
        ),
        (
            f"DAFTAR {VALID_NIK}",
            "Tanggal belum ada. Kirim DAFTAR <NIK> <tanggal>, mis. DAFTAR <NIK> 30-11-2026",
        ),
        (
            f"DAFTAR {VALID_NIK} 8-12-2026 SBY",
            '"SBY" bukan kode kantor/sesi. Sesi PMK: PAGI/SIANG. Kode kantor: kirim KANTOR. '
            "Mis. DAFTAR <NIK> <tanggal> PAGI",
        ),
    ],
    ids=[
        "past",
        "too-soon",
        "too-far",
        "weekend",
        "holiday",
        "cuti-bersama",
        "closed-date",
        "impossible",
        "unrecognised",
        "missing",
        "unknown-word",
    ],
)
def test_dates_that_cannot_be_booked_are_refused_with_reason_and_next_open_date(
    send: Send, gateway: Gateway, body: str, expected: str
) -> None:
    assert send(body) == expected
    assert count(gateway, "SELECT count(*) FROM bookings") == 0
    assert seats(gateway) == 0


@pytest.mark.parametrize(
    ("body", "start"),
    [
        ("DAFTAR", "Format: DAFTAR <NIK> <tanggal> <sesi> <kode kantor>"),
        ("DAFTAR besok", "NIK belum ada."),
        ("DAFTAR 352801150590001 8-12-2026", "NIK harus 16 angka, terbaca 15 angka."),
        ("DAFTAR 35280115059000012 8-12-2026", "NIK harus 16 angka, terbaca 17 angka."),
        ("DAFTAR 35280115O5900001 8-12-2026", "NIK hanya berisi angka."),
        ("DAFTAR 9928011505900001 8-12-2026", "Kode provinsi NIK (99, 2 angka pertama)"),
        ("DAFTAR 3528013505900001 8-12-2026", "Tanggal lahir di NIK (angka ke-7 dan 8: 35)"),
        ("DAFTAR 3528011513900001 8-12-2026", "Bulan lahir di NIK (angka ke-9 dan 10: 13)"),
        ("DAFTAR 3528011505900000 8-12-2026", "4 angka terakhir NIK tidak boleh 0000."),
    ],
)
def test_bad_nik_is_refused_saying_which_part_is_wrong(
    send: Send, gateway: Gateway, body: str, start: str
) -> None:
    reply = send(body)
    assert reply.startswith(start), reply
    assert "DAFTAR" in reply
    assert count(gateway, "SELECT count(*) FROM bookings") == 0


def test_the_nik_from_the_usage_example_is_refused(send: Send, gateway: Gateway) -> None:
    from sms_gateway.replies import EXAMPLE_NIK

    reply = send(f"DAFTAR {EXAMPLE_NIK} 8-12-2026")
    assert reply.startswith("Itu NIK contoh. Kirim NIK Anda sendiri")
    assert count(gateway, "SELECT count(*) FROM bookings") == 0


def test_women_day_plus_40_is_accepted(send: Send) -> None:
    booked(send("DAFTAR 3528015505900001 8-12-2026"))


# -- BATAL, CEK, KANTOR, BANTUAN ---------------------------------------------------------


def test_batal_cancels_and_returns_the_seat_at_once(send: Send, gateway: Gateway) -> None:
    for i in range(1, 6):
        booked(send(f"DAFTAR {nik(i)} 8-12-2026", sender=phone(i)))
    assert "penuh" in send(f"DAFTAR {nik(6)} 8-12-2026", sender=phone(6))
    assert send("batal", sender=phone(2)) == (
        "Antrean PMK-002 Sel 08-12-2026 sudah dibatalkan dan kursinya dilepas. "
        "Daftar lagi: DAFTAR <NIK> <tanggal>"
    )
    assert count(gateway, "SELECT count(*) FROM bookings WHERE status = 'cancelled'") == 1
    fields = booked(send(f"DAFTAR {nik(6)} 8-12-2026", sender=phone(6)))
    assert (fields["queue"], fields["session"]) == ("PMK-006", "PAGI")
    assert seats(gateway) == 5


def test_batal_without_a_booking_says_what_to_send(send: Send) -> None:
    assert send("CANCEL").startswith("Tidak ada antrean aktif untuk dibatalkan. Untuk daftar")


def test_batal_with_a_wrong_code_changes_nothing(send: Send, gateway: Gateway) -> None:
    fields = booked(send(f"DAFTAR {VALID_NIK} 8-12-2026"))
    reply = send("BATAL XXXXXX")
    assert reply.startswith("Kode XXXXXX bukan kode antrean Anda.")
    assert active(gateway) == 1
    assert send(f"BATAL {fields['code'].lower()}").startswith("Antrean PMK-001")
    assert active(gateway) == 0


def test_cek_shows_the_active_booking_or_says_there_is_none(send: Send) -> None:
    assert send("CEK").startswith("Nomor ini tidak punya antrean aktif.")
    fields = booked(send(f"DAFTAR {VALID_NIK} 8-12-2026 SIANG"))
    assert send("status") == (
        f"Antrean Anda PMK-001 Kantor Imigrasi Pamekasan, Sel 08-12-2026 SIANG, datang "
        f"13:00-15:00. Kode {fields['code']}. Bawa KTP asli. Batal: kirim BATAL"
    )
    assert send("cek", sender=phone(9)).startswith("Nomor ini tidak punya antrean aktif.")


def test_kantor_lists_codes_and_names(send: Send) -> None:
    assert send("KANTOR") == (
        "Kantor: PMK=Kantor Imigrasi Pamekasan, MLG=Kantor Imigrasi Malang. Pilih dgn kode di "
        "akhir: DAFTAR <NIK> <tanggal> PMK"
    )
    assert send("offices") == send("kantor")


@pytest.mark.parametrize("body", ["BANTUAN", "info", "HELP", "?", "", "   \n "])
def test_help_words_and_empty_messages_get_usage(send: Send, body: str) -> None:
    reply = send(body)
    assert reply.startswith("Antrean paspor lewat SMS. Daftar: DAFTAR <NIK> <tanggal>")


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("DAFTR 3528011505900001 8-12-2026", "DAFTAR"),
        ("BATL", "BATAL"),
        ("CEKK", "CEK"),
        ("KANTR", "KANTOR"),
        ("BANTUAM", "BANTUAN"),
        ("booking", "DAFTAR"),
        ("3528011505900001 8-12-2026", "DAFTAR"),
    ],
)
def test_obvious_typos_get_did_you_mean_and_change_nothing(
    send: Send, gateway: Gateway, body: str, keyword: str
) -> None:
    assert send(body).startswith(f"Maksud Anda {keyword}? Kirim: {keyword}")
    assert count(gateway, "SELECT count(*) FROM bookings") == 0


@pytest.mark.parametrize("body", ["halo", "selamat pagi pak", "PANGGIL 1234", "x"])
def test_anything_else_gets_the_usage_text(send: Send, body: str) -> None:
    assert send(body).startswith("Perintah tidak dikenal. Untuk daftar kirim DAFTAR <NIK>")


# -- time passing ------------------------------------------------------------------------


def test_a_booking_whose_date_passed_no_longer_blocks(
    send: Send, gateway: Gateway, clock: Clock
) -> None:
    booked(send(f"DAFTAR {VALID_NIK} 30-11-2026"))
    booked(send(f"DAFTAR {nik(2)} 30-11-2026", sender=phone(2)))
    clock.now += timedelta(days=4)  # Tuesday 1 December
    assert send("CEK").startswith("Nomor ini tidak punya antrean aktif.")
    fields = booked(send(f"DAFTAR {VALID_NIK} 8-12-2026"))
    assert fields["queue"] == "PMK-001"
    assert count(gateway, "SELECT count(*) FROM bookings WHERE status = 'no_show'") == 1
    # The NIK path expires too: the same NIK from another phone, once its day has passed.
    booked(send(f"DAFTAR {nik(2)} 9-12-2026 MLG", sender=phone(7)))
    assert count(gateway, "SELECT count(*) FROM bookings WHERE status = 'no_show'") == 2


def test_the_booking_day_itself_still_counts_as_active(send: Send, clock: Clock) -> None:
    booked(send(f"DAFTAR {VALID_NIK} 30-11-2026"))
    clock.now = datetime.fromisoformat("2026-11-30T23:30+07:00")
    assert send("CEK").startswith("Antrean Anda PMK-001")


# -- the message log ---------------------------------------------------------------------


def test_every_message_in_and_out_is_logged_with_the_nik_masked(
    send: Send, gateway: Gateway
) -> None:
    send(f"DAFTAR {VALID_NIK} 8-12-2026")
    send("DAFTAR 3528 0115 0590 0002 8-12-2026", sender=phone(2))
    with gateway.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT direction, body FROM messages ORDER BY id")).all()
    assert [r.direction for r in rows] == ["in", "out", "in", "out"]
    assert rows[0].body == "DAFTAR 3528********0001 8-12-2026"
    assert rows[2].body == "DAFTAR 3528********0002 8-12-2026"
    assert all("0115059" not in r.body for r in rows)


def test_a_provider_retry_gets_the_same_reply_and_changes_nothing(
    send: Send, gateway: Gateway
) -> None:
    first = send(f"DAFTAR {VALID_NIK} 8-12-2026", sid="SM1")
    again = send(f"DAFTAR {VALID_NIK} 8-12-2026", sid="SM1")
    assert again == first
    assert count(gateway, "SELECT count(*) FROM messages") == 2
    # The same id from another transport is another message.
    other = send(f"DAFTAR {VALID_NIK} 8-12-2026", sid="SM1", transport="other")
    assert other.startswith("Sudah terdaftar")
    assert active(gateway) == 1

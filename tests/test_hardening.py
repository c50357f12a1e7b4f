"""Inputs found by fuzzing, through the real paths, on SQLite and PostgreSQL.

Each gets a clear refusal (a 4xx with a short reason, or the usual SMS refusal
that says what to send instead): never a 500, an uncaught exception or the
"busy" apology, and none changes anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from sms_gateway import csv_safe
from sms_gateway.app import create_app
from sms_gateway.cli import main
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import Direction, Message, SendStatus, StaffRole
from sms_gateway.services import staff as staff_service
from tests.conftest import AUTH_TOKEN, Clock, count, nik, phone, write_config
from tests.test_lottery import LOTTERY_OFFICES

Send = Callable[..., str]

PETUGAS, PIN = "+6281100000001", "1234"
KEPALA, KEPALA_PIN = "+6281100000002", "5678"
KANNEL_SECRET = "kannel-secret-0123456789"
BUSY = "Maaf, sistem sedang gangguan"


def add_staff(gateway: Gateway, number: str, role: StaffRole, pin: str, name: str) -> None:
    with gateway.sessions.begin() as session:
        staff_service.add_staff(
            session, phone=number, office="PMK", role=role, name=name, pin=pin, now=gateway.clock()
        )


@pytest.fixture
def client(gateway: Gateway) -> FlaskClient:
    return create_app(gateway.settings, gateway=gateway).test_client()


@pytest.fixture
def staff(gateway: Gateway) -> None:
    add_staff(gateway, PETUGAS, StaffRole.PETUGAS, PIN, "Petugas")
    add_staff(gateway, KEPALA, StaffRole.KEPALA, KEPALA_PIN, "Kepala")


def bookings(gateway: Gateway) -> int:
    return count(gateway, "SELECT count(*) FROM bookings")


# -- 1. date ranges at the edge of the calendar --------------------------------------------

RANGE_VIEWS = (
    "/transparansi",
    "/transparansi.json",
    "/transparansi.csv",
    "/transparansi/PMK",
    "/transparansi/PMK.json",
    "/transparansi/PMK.csv",
)


@pytest.mark.parametrize(
    "query",
    [
        "from=9999-12-01&to=9999-12-31",  # the report stepped past 9999-12-31
        "to=0001-01-01",  # one end alone: 28 days before year 1
        "to=0001-01-10",
        "from=9999-12-31",  # one end alone: 28 days after 9999-12-31
        "from=0001-01-01&to=0001-01-01",  # the "previous range" link before year 1
        "from=9999-12-31&to=9999-12-31",  # the "next range" link after 9999
    ],
)
def test_a_range_at_the_end_of_the_calendar_is_a_plain_400(client: FlaskClient, query: str) -> None:
    for view in RANGE_VIEWS:
        response = client.get(f"{view}?{query}")
        assert response.status_code == 400, (view, response.data[:200])
        assert response.content_type == "text/plain; charset=utf-8"
        text = response.get_data(as_text=True)
        assert "di luar jangkauan" in text and "0002-01-01 dan 9998-12-31" in text, text
        assert len(text) < 160


@pytest.mark.parametrize("query", ["from=9998-12-01&to=9998-12-31", "to=0002-01-01"])
def test_the_first_and_last_days_accepted_still_answer(client: FlaskClient, query: str) -> None:
    for view in RANGE_VIEWS:
        response = client.get(f"{view}?{query}")
        assert response.status_code == 200, (view, response.data[:200])


def test_the_display_takes_no_dates_and_ignores_them(client: FlaskClient) -> None:
    for view in ("/layar/PMK", "/layar/PMK.json"):
        assert client.get(f"{view}?from=0001-01-01&to=9999-12-31").status_code == 200


# -- 2. delivery reports with numbers no message can have ---------------------------------


def sent_message(gateway: Gateway, transport: str, external_id: str | None = None) -> int:
    """Record a message the gateway sent, as a delivery report would find it."""
    with gateway.sessions.begin() as session:
        message = Message(
            direction=Direction.OUT,
            transport=transport,
            phone=phone(1),
            body="Halo",
            created_at=gateway.clock(),
            status=SendStatus.SENT,
            external_id=external_id,
        )
        session.add(message)
    return message.id


def reports(gateway: Gateway) -> int:
    return count(gateway, "SELECT count(*) FROM delivery_reports") + count(
        gateway, "SELECT count(*) FROM messages WHERE delivery_status IS NOT NULL"
    )


def post_status(client: FlaskClient, form: dict[str, str]) -> tuple[int, str]:
    url = "http://localhost/sms/twilio/status"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    response = client.post(
        "/sms/twilio/status", data=form, headers={"X-Twilio-Signature": signature}
    )
    return response.status_code, response.get_data(as_text=True)


SID = "SM" + "d" * 32


@pytest.mark.parametrize(
    "error_code",
    [
        "\u00b2",  # superscript two: str.isdigit() says yes, int() says no
        "\u1369",  # Ethiopic digit one: the same
        "9" * 5000,  # past int()'s 4300-digit limit
        "9" * 30,  # past the INTEGER column
        str(2**31),  # one past it
        "-1",
    ],
    ids=["superscript", "ethiopic", "5000-digits", "30-digits", "2^31", "negative"],
)
def test_a_twilio_status_with_a_malformed_error_code_is_a_400_and_changes_nothing(
    client: FlaskClient, gateway: Gateway, error_code: str
) -> None:
    sent_message(gateway, "twilio", SID)
    form = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": error_code}
    status, body = post_status(client, form)
    assert (status, body) == (400, "ErrorCode must be a Twilio error code (digits 0-9)\n")
    assert reports(gateway) == 0


def test_a_twilio_status_with_a_real_error_code_is_recorded(
    client: FlaskClient, gateway: Gateway
) -> None:
    sent_message(gateway, "twilio", SID)
    form = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert post_status(client, form)[0] == 200
    assert count(gateway, "SELECT code FROM delivery_reports") == 30003


@pytest.fixture
def kannel_client(
    tmp_path: Path, db_url: str, clock: Clock
) -> Iterator[tuple[FlaskClient, Gateway]]:
    extra = f'[kannel]\nsecret = "{KANNEL_SECRET}"\n'
    gateway = Gateway(
        load_settings(write_config(tmp_path, db_url, extra=extra), env={}), clock=clock
    )
    yield create_app(gateway.settings, gateway=gateway).test_client(), gateway
    gateway.close()


@pytest.mark.parametrize(
    ("msgid", "status", "body"),
    [
        # Numbers no message can have: unknown messages, answered 200 so that Kannel
        # (which repeats anything but 200/202) does not retry them.
        (str(10**22), 200, "unknown message"),
        (str(2**31), 200, "unknown message"),
        ("0", 200, "unknown message"),
        # Not whole numbers at all: refused as malformed, as before.
        ("9" * 5000, 400, "msgid and status must be whole numbers"),
        ("\u00b2", 400, "msgid and status must be whole numbers"),
    ],
    ids=["10^22", "2^31", "zero", "5000-digits", "superscript"],
)
def test_a_kannel_report_for_a_message_id_no_row_can_have_changes_nothing(
    kannel_client: tuple[FlaskClient, Gateway], msgid: str, status: int, body: str
) -> None:
    client, gateway = kannel_client
    sent_message(gateway, "kannel")
    params = {"key": KANNEL_SECRET, "msgid": msgid, "status": "1", "answer": "id:1 stat:DELIVRD"}
    response = client.get("/sms/kannel/dlr?" + urlencode(params))
    assert (response.status_code, response.get_data(as_text=True).strip()) == (status, body)
    assert reports(gateway) == 0


# -- 3. codes and queue numbers that overflow ---------------------------------------------

HUGE = "9" * 20
NOT_IN_QUEUE = "tidak ada di antrean hari ini di PMK. Kirim SELESAI <PIN> <KODE atau nomor"
NO_SUCH_CODE = "tidak ada. Periksa kode di SMS pemohon lalu kirim HADIR <PIN> <KODE>"
NOT_YOUR_CODE = "bukan kode antrean Anda. Kirim BATAL saja untuk membatalkan PMK-001"
NOT_A_DATE = "tidak dikenali. Tulis spt 8-12-2026"


@pytest.mark.parametrize(
    ("body", "sender", "reply"),
    [
        (f"SELESAI {PIN} PMK-{HUGE}", PETUGAS, NOT_IN_QUEUE),
        (f"SELESAI {PIN} pmk-{HUGE}", PETUGAS, NOT_IN_QUEUE),
        (f"SELESAI {PIN} PMK-{'9' * 400}", PETUGAS, NOT_IN_QUEUE),
        (f"SELESAI {PIN} PMK-{2**31}", PETUGAS, NOT_IN_QUEUE),  # one past the INTEGER column
        (f"SELESAI {PIN} PMK-\u1369", PETUGAS, NOT_IN_QUEUE),  # a digit int() refuses
        (f"SELESAI {PIN} {HUGE}", PETUGAS, NOT_IN_QUEUE),
        (f"HADIR {PIN} PMK-{HUGE} 0001", PETUGAS, NO_SUCH_CODE),
        (f"HADIR {PIN} {HUGE} 0001", PETUGAS, NO_SUCH_CODE),
        (f"BATAL {HUGE}", phone(1), NOT_YOUR_CODE),
        (f"BATAL PMK-{HUGE}", phone(1), NOT_YOUR_CODE),
        (f"YA {HUGE}", phone(1), NOT_YOUR_CODE),
        (f"UBAH {HUGE}", phone(1), NOT_A_DATE),
        (f"UBAH 1-1-{HUGE}", phone(1), NOT_A_DATE),
        (f"CEK {HUGE}", phone(1), "Antrean Anda PMK-001 "),  # CEK takes no code
        # Staff numbers that str.isdigit() accepts and int() does not, or far too long.
        (f"KUOTA {KEPALA_PIN} 8-12-2026 PAGI \u1369", KEPALA, "Format: KUOTA <PIN> <tanggal>"),
        (f"KUOTA {KEPALA_PIN} 8-12-2026 PAGI {'9' * 400}", KEPALA, "(jumlah 0-9999)"),
        (f"LAPORAN {KEPALA_PIN} \u1369", KEPALA, "Format: LAPORAN <PIN> [hari]"),
        (f"LAPORAN {KEPALA_PIN} {'9' * 400}", KEPALA, "(hari 1-365)"),
        (f"BLOKIR {KEPALA_PIN} {phone(9)} \u1369", KEPALA, "Format: BLOKIR <PIN>"),
        (f"BLOKIR {KEPALA_PIN} {phone(9)} {'9' * 400}", KEPALA, "(hari 1-365)"),
    ],
)
def test_a_huge_code_or_queue_number_gets_the_usual_refusal(
    send: Send, gateway: Gateway, staff: None, body: str, sender: str, reply: str
) -> None:
    booked = send(f"DAFTAR {nik(1)} 30-11-2026", sender=phone(1))
    assert booked.startswith("Terdaftar! Antrean PMK-001"), booked
    before = count(gateway, "SELECT count(*) FROM bookings WHERE status = 'active'")
    answer = send(body, sender=sender)
    assert reply in answer and BUSY not in answer, answer
    assert count(gateway, "SELECT count(*) FROM bookings WHERE status = 'active'") == before


def test_selesai_by_queue_number_still_works(
    send: Send, gateway: Gateway, clock: Clock, staff: None
) -> None:
    code = send(f"DAFTAR {nik(1)} 30-11-2026", sender=phone(1)).split("Kode ")[1][:6]
    clock.now = clock.now.replace(day=30)  # Monday 30-11-2026, 10:00 WIB
    assert send(f"HADIR {PIN} {code} 0001", sender=PETUGAS).startswith("HADIR: PMK-001")
    assert send(f"SELESAI {PIN} pmk-001", sender=PETUGAS).startswith("PMK-001 selesai dilayani")


# -- 4. a past date at a lottery office ---------------------------------------------------


@pytest.fixture
def lottery_gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    settings = load_settings(write_config(tmp_path, db_url, offices=LOTTERY_OFFICES), env={})
    gateway = Gateway(settings, clock=clock)
    yield gateway
    gateway.close()


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        (f"DAFTAR {nik(1)} 0001-01-01", "Tanggal 01-01-0001 sudah lewat."),
        (f"DAFTAR {nik(1)} 1/1/0001", "Tanggal 01-01-0001 sudah lewat."),
        (f"DAFTAR {nik(1)} 0001-01-05 SIANG", "Tanggal 05-01-0001 sudah lewat."),
        (f"DAFTAR {nik(1)} 26-11-2026", "Tanggal 26-11-2026 sudah lewat."),
        (f"DAFTAR {nik(1)} 9999-12-31", "Daftar paling jauh 30 hari ke depan, 31-12-9999"),
        (f"TUNGGU {nik(1)} 0001-01-01", "Tanggal 01-01-0001 sudah lewat."),
    ],
)
def test_a_past_date_at_a_lottery_office_is_refused_as_past(
    lottery_gateway: Gateway, body: str, reply: str
) -> None:
    answer = lottery_gateway.handle(
        InboundMessage(transport="test", sender=phone(1), recipient=None, text=body)
    ).text
    assert answer.startswith(reply), answer
    assert "Kirim DAFTAR <NIK> " in answer
    assert count(lottery_gateway, "SELECT count(*) FROM lottery_entries") == 0
    assert bookings(lottery_gateway) == 0


# -- 5. CSV cells that a spreadsheet would run ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("banjir", "banjir"),
        ("", ""),
        # Numbers and phone numbers are data, not formulas: left as they are.
        ("+6281234567890", "+6281234567890"),
        ("+6281200000xxx", "+6281200000xxx"),
        ("-3", "-3"),
        ("+2.5", "+2.5"),
        (-3, "-3"),
        (7, "7"),
    ],
)
def test_the_csv_writer_neutralises_formulas(value: Any, cell: str) -> None:
    out = io.StringIO()
    csv_safe.writer(out).writerow(["x", value])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["x", cell]


def test_a_closing_reason_in_the_public_csv_is_never_a_formula(
    client: FlaskClient, send: Send, staff: None
) -> None:
    reply = send(f'TUTUP {KEPALA_PIN} 8-12-2026 =HYPERLINK("http://x","y")', sender=KEPALA)
    assert reply.startswith("PMK ditutup Sel 08-12-2026"), reply
    for url in ("/transparansi/PMK.csv", "/transparansi.csv"):
        response = client.get(f"{url}?from=2026-12-07&to=2026-12-09")
        assert response.status_code == 200
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        closed = next(r for r in rows if r["office"] == "PMK" and r["date"] == "2026-12-08")
        assert closed["closed_reason"].startswith("'=HYPERLINK("), closed
        assert not any(
            cell.startswith(csv_safe.FORMULA_STARTS) for row in rows for cell in row.values()
        )


def test_a_staff_name_in_the_audit_csv_is_never_a_formula(
    send: Send, gateway: Gateway, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_staff(gateway, PETUGAS, StaffRole.PETUGAS, PIN, '=HYPERLINK("http://x","y")')
    assert send(f"REKAP {PIN}", sender=PETUGAS).startswith("REKAP PMK")
    capsys.readouterr()
    assert main(["--config", str(config_path), "audit", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["phone"], r["name"], r["outcome"]) for r in rows] == [
        (PETUGAS, '\'=HYPERLINK("http://x","y")', "ok")
    ]


# -- 6. `serve` on loopback: unsigned only while no credential is set at all -------------------


Serve = Callable[[Path], tuple[Flask, str]]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Serve]:
    """Run `sms-gateway serve --host 127.0.0.1` up to where it would listen.

    Returns its app and the banner it printed.
    """
    for name in ("TWILIO_AUTH_TOKEN", "KANNEL_SECRET", "SMS_GATEWAY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    apps: list[Flask] = []

    def run(app: Flask, *args: Any, **kwargs: Any) -> None:
        apps.append(app)

    monkeypatch.setattr(Flask, "run", run)

    def serve(config: Path) -> tuple[Flask, str]:
        assert main(["--config", str(config), "serve", "--host", "127.0.0.1"]) == 0
        return apps[-1], capsys.readouterr().err

    yield serve
    for app in apps:
        app.extensions["sms_gateway"].close()


KANNEL_CEK = {"from": "081234567890", "to": "+6282140000001", "text": "CEK"}
TWILIO_CEK = {"MessageSid": "SM" + "e" * 32, "From": "+6281234567890", "To": "1", "Body": "CEK"}


def _kannel(app: Flask, **params: str) -> int:
    return app.test_client().get("/sms/kannel?" + urlencode(KANNEL_CEK | params)).status_code


def _twilio(app: Flask, signed: bool) -> int:
    url = "http://localhost/sms/twilio"
    headers = (
        {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, TWILIO_CEK)}
        if signed
        else {}
    )
    return app.test_client().post("/sms/twilio", data=TWILIO_CEK, headers=headers).status_code


def _inbound(app: Flask) -> int:
    return count(app.extensions["sms_gateway"], "SELECT count(*) FROM messages")


def test_serve_with_only_a_twilio_token_refuses_kannel_without_a_key(
    served: Serve, tmp_path: Path, db_url: str
) -> None:
    app, banner = served(write_config(tmp_path, db_url))
    assert _kannel(app) == 403
    assert _twilio(app, signed=False) == 403
    assert _inbound(app) == 0
    assert _twilio(app, signed=True) == 200
    assert '&text=CEK"  (403 until a Kannel secret is set)' in banner


def test_serve_with_only_a_kannel_secret_refuses_twilio_unsigned(
    served: Serve, tmp_path: Path, db_url: str
) -> None:
    extra = f'[kannel]\nsecret = "{KANNEL_SECRET}"\n'
    app, banner = served(write_config(tmp_path, db_url, twilio="", extra=extra))
    assert _twilio(app, signed=False) == 403
    assert _kannel(app) == 403
    assert _inbound(app) == 0
    assert _kannel(app, key=KANNEL_SECRET) == 200
    assert "(no Twilio auth token: /sms/twilio answers 403 to every request)" in banner


def test_serve_without_any_credential_is_the_local_trial(
    served: Serve, tmp_path: Path, db_url: str
) -> None:
    app, banner = served(write_config(tmp_path, db_url, twilio=""))
    assert _twilio(app, signed=False) == 200
    assert _kannel(app) == 200
    assert _inbound(app) == 4  # both messages and their replies
    assert "unsigned requests are accepted on loopback only" in banner

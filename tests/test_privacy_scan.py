"""A day of traffic through every transport, then a search for every NIK and PIN sent.

Applicants and staff write NIKs and PINs in every form a phone allows (split,
bracketed, in other scripts, mistyped, in the wrong place) through Twilio,
Kannel (GET and POST), Gammu SMSD and the command line. Afterwards every
table, every log line, every CSV export and every public page is searched
for each full NIK (its digits, whatever stands between them) and each PIN
(as a number on its own): none may be found.
"""

from __future__ import annotations

import io
import logging
import os
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient
from sqlalchemy import inspect, select, table, text
from twilio.request_validator import RequestValidator

from sms_gateway.app import create_app
from sms_gateway.channels.gammu import smsd as gammu_transport
from sms_gateway.cli import main
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.logs import masking_handler
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.replies import template_of
from sms_gateway.services import staff as staff_service
from tests.conftest import AUTH_TOKEN, Clock, nik, phone, write_config

KANNEL_SECRET = "kannel-secret-0123456789"
PETUGAS, KEPALA = "+6281100000001", "+6281100000002"
PETUGAS_PIN, KEPALA_PIN = "739146", "582093"
PINS = (PETUGAS_PIN, KEPALA_PIN)
CELL = "\x00"  # what separates the cells of a table in the search
MONDAY = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)  # 08:30 WIB, the booked day


def arabic(digits: str) -> str:
    return "".join(chr(0x660 + int(d)) for d in digits)


def split(digits: str) -> str:
    return f"{digits[:4]} ({digits[4:8]}) {digits[8:12]} {digits[12:]}"


class Day:
    """The gateway, its web app and every way in, with what each way left behind."""

    def __init__(self, tmp_path: Path, db_url: str, clock: Clock) -> None:
        inject = tmp_path / "inject"
        inject.write_text('#!/bin/sh\necho "Written message with ID /spool/outbox/OUT1"\n')
        inject.chmod(0o755)
        self.config = write_config(
            tmp_path,
            db_url,
            extra=f"""
                [kannel]
                secret = "{KANNEL_SECRET}"
                [gammu]
                inject = "{inject}"
                smsdrc = "{tmp_path}/smsdrc"
                receive_timeout = 1
            """,
        )
        self.settings = load_settings(self.config, env={})
        self.clock = clock
        self.gateway = Gateway(self.settings, clock=clock)
        self.client: FlaskClient = create_app(self.settings, gateway=self.gateway).test_client()
        self.sent: list[str] = []  # every NIK sent, as digits
        self.seen: list[str] = []  # every reply, page, export and CLI output
        self.log = io.StringIO()
        self._sid = 0

    def next_id(self) -> str:
        self._sid += 1
        return f"{self._sid:032x}"

    def twilio(self, sender: str, body: str) -> str:
        form = {"From": sender, "To": "+6282140000001", "Body": body}
        form["MessageSid"] = "SM" + self.next_id()
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            "http://localhost/sms/twilio", form
        )
        response = self.client.post(
            "/sms/twilio", data=form, headers={"X-Twilio-Signature": signature}
        )
        assert response.status_code == 200, response.data
        self.seen.append(response.get_data(as_text=True))
        message = ElementTree.fromstring(response.data).find("Message")
        return "" if message is None else message.text or ""

    def kannel(self, sender: str, body: str, *, post: bool = False) -> str:
        params = {
            "key": KANNEL_SECRET,
            "from": sender.lstrip("+"),
            "to": "+6282140000001",
            "id": self.next_id(),
            "coding": "0",
            "charset": "UTF-8",
        }
        if post:
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
            response = self.client.post(
                "/sms/kannel?" + query,
                data=body.encode("utf-8"),
                headers={"Content-Type": "text/plain; charset=UTF-8"},
            )
        else:
            params["text"] = body
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
            response = self.client.get("/sms/kannel?" + query)
        assert response.status_code == 200, response.data
        self.seen.append(response.get_data(as_text=True))
        return response.get_data(as_text=True)

    def gammu(self, monkeypatch: pytest.MonkeyPatch, sender: str, body: str) -> str:
        for key in [k for k in os.environ if k.startswith(("SMS_", "DECODED_"))]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("SMS_MESSAGES", "1")
        monkeypatch.setenv("DECODED_PARTS", "0")
        monkeypatch.setenv("SMS_1_NUMBER", sender)
        monkeypatch.setenv("SMS_1_TEXT", body)
        # gammu-receive runs on the system clock; the day runs on the test's.
        assert gammu_transport.receive.__kwdefaults__ is not None
        monkeypatch.setitem(gammu_transport.receive.__kwdefaults__, "clock", self.clock)
        return self.cli("gammu-receive", f"/spool/inbox/IN{self.next_id()}.txt")

    def console(self, sender: str, body: str) -> str:
        now = self.clock().isoformat()
        return self.cli("sms", "--from", sender, "--now", now, body)

    def direct(self, sender: str, body: str) -> None:
        reply = self.gateway.handle(InboundMessage(transport="test", sender=sender, text=body))
        self.seen.append(reply.text)

    def cli(self, *argv: str) -> str:
        capture = self.capsys
        code = main(["--config", str(self.config), *argv])
        out, err = capture.readouterr()
        self.seen += [out, err]
        assert code in (0, None), (argv, out, err)
        self.listen()  # the CLI configures logging afresh: listen again
        return out.strip()

    def listen(self) -> None:
        handler = masking_handler(self.settings.logging)
        handler.setStream(self.log)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)

    capsys: pytest.CaptureFixture[str]


@pytest.fixture
def day(
    tmp_path: Path, db_url: str, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> Iterator[Day]:
    d = Day(tmp_path, db_url, clock)
    d.capsys = capsys
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    d.listen()
    with d.gateway.sessions.begin() as session:
        for number, role, pin in ((PETUGAS, StaffRole.PETUGAS, PETUGAS_PIN),
                                  (KEPALA, StaffRole.KEPALA, KEPALA_PIN)):  # fmt: skip
            staff_service.add_staff(
                session, phone=number, office="PMK", role=role, name="Staf", pin=pin, now=clock()
            )
    yield d
    d.gateway.close()
    root.handlers[:], root.level = saved[0], saved[1]


def _codes(day: Day) -> dict[str, str]:
    with day.gateway.engine.connect() as conn:
        return dict(conn.execute(text("SELECT phone, code FROM bookings")).all())


def test_no_nik_or_pin_is_kept_anywhere_after_a_day(
    day: Day, monkeypatch: pytest.MonkeyPatch
) -> None:
    niks = {n: nik(n) for n in range(1, 30)}
    day.sent = list(niks.values())
    # -- Friday: applicants book, by every transport and in every form --------------------
    day.twilio(phone(1), f"DAFTAR {niks[1]} 30-11-2026")
    day.twilio(phone(2), f"DAFTAR {split(niks[2])} 30/11")
    day.kannel(phone(3), f"daftar {niks[3]} senin")
    day.kannel(phone(4), f"DAFTAR {split(niks[4])} 30/11", post=True)
    day.gammu(monkeypatch, phone(5), f"DAFTAR {niks[5]} 30-11-2026")
    day.console(phone(6), f"DAFTAR {niks[6].replace('0', '0.', 3)} 30/11")
    day.direct(phone(7), f"DAFTAR*{'*'.join(re.findall('....', niks[7]))}*30-11")
    # Refused, and still never kept: a 17-digit typo, other scripts, echo bait.
    day.twilio(phone(8), f"DAFTAR {niks[8]}7 30/11")
    day.kannel(phone(9), f"DAFTAR {arabic(niks[9])} 30/11")
    day.twilio(phone(10), f"DAFTAR {niks[10]} {niks[10]}")
    day.kannel(phone(1), f"YA {niks[11]}")
    day.twilio(phone(1), f"BATAL {niks[12]}")
    day.kannel(phone(2), f"OK {niks[13]}", post=True)
    day.gammu(monkeypatch, phone(3), f"CEK {niks[14]}")
    day.twilio(phone(11), f"Pak, NIK saya {niks[15]} tolong daftarkan senin")
    day.direct(phone(12), f"UBAH {niks[16]} 1/12")
    day.twilio(phone(13), f"TUNGGU {niks[17]} 30/11")
    # A non-staff phone tries a staff command with a NIK in it.
    day.kannel(phone(14), f"HADIR {PETUGAS_PIN} PMK-001 {niks[18]}")
    # The privacy commands themselves.
    for word in ("PRIVASI", "DATAKU", "HAPUS"):
        day.twilio(phone(1), word)
        day.kannel(phone(15), word)

    # -- Monday at the counter: staff, typos and all ------------------------------------
    day.clock.now = MONDAY
    codes = _codes(day)
    day.twilio(PETUGAS, f"HADIR {PETUGAS_PIN} {codes[phone(1)]} {niks[1]}")
    day.kannel(PETUGAS, f"hadir {PETUGAS_PIN} {codes[phone(2)]} {split(niks[2])}")
    day.kannel(PETUGAS, f"HADIR{PETUGAS_PIN} {codes[phone(3)]} {niks[3][-4:]}", post=True)
    day.twilio(PETUGAS, f"PANGIL {PETUGAS_PIN} 2")
    day.twilio(PETUGAS, f"PANGGIL {PETUGAS_PIN} 2")
    day.kannel(PETUGAS, f"SELSAI {PETUGAS_PIN} PMK-001")
    day.kannel(PETUGAS, f"SELESAI {PETUGAS_PIN} PMK-001")
    day.twilio(PETUGAS, "hadir 000000")  # a wrong PIN is a PIN too
    day.twilio(KEPALA, f"BLOKIR {KEPALA_PIN} {niks[19]} 30 calo")
    day.kannel(KEPALA, f"LEPAS {KEPALA_PIN} {niks[19]}")
    day.twilio(KEPALA, f"BLOKIR {KEPALA_PIN} {phone(20)} 7 calo NIK {niks[20]}")
    day.twilio(KEPALA, f"TUTUP {KEPALA_PIN} {niks[21]}")
    day.kannel(KEPALA, f"TUTUP {KEPALA_PIN} 2/12 banjir, lapor {niks[22]}")
    day.twilio(KEPALA, f"SIARAN {KEPALA_PIN} Pemohon NIK {niks[23]} harap ke loket 1")
    day.twilio(KEPALA, f"REKAP {KEPALA_PIN}")
    day.twilio(KEPALA, f"REKPA {KEPALA_PIN}")
    day.twilio(KEPALA, f"KUOTA {KEPALA_PIN} 1/12 PAGI 5")
    day.twilio(KEPALA, f"LAPORAN {KEPALA_PIN}")

    # -- the night: the worker's tick, then everything anyone can read back ----------------
    day.cli("tick", "--now", day.clock().isoformat())
    day.cli("audit")
    day.cli("audit", "--format", "csv")
    day.cli("audit", "verify")
    day.cli("outbox", "--format", "csv")
    day.cli("bookings", "--date", "2026-11-30", "--format", "csv")
    day.cli("report", "--since", "2026-11-01", "--format", "csv")
    for path in (
        "/transparansi?from=2026-11-27&to=2026-12-02",
        "/transparansi.json?from=2026-11-27&to=2026-12-02",
        "/transparansi.csv?from=2026-11-27&to=2026-12-02",
        "/transparansi/PMK?from=2026-11-27&to=2026-12-02",
        "/transparansi/PMK.json?from=2026-11-27&to=2026-12-02",
        "/transparansi/PMK.csv?from=2026-11-27&to=2026-12-02",
        "/layar/PMK",
        "/layar/PMK.json",
    ):
        response = day.client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        day.seen.append(response.get_data(as_text=True))

    # -- the search ----------------------------------------------------------------------
    places = {"log": day.log.getvalue(), **{f"output {i}": s for i, s in enumerate(day.seen)}}
    places.update(_every_cell(day))
    found = [
        f"{where}: {what}" for where, held in places.items() for what in _secrets_in(held, day.sent)
    ]
    assert found == []
    # The search can fail: the day did book, log and record (a search of nothing finds nothing).
    assert "3528********0001" in places["log"]
    assert any("HADIR ****" in held for held in places.values())
    assert _secrets_in(f"x {niks[2][:4]} {niks[2][4:]} {PETUGAS_PIN} y", day.sent)


def _digits(held: str) -> str:
    folded = unicodedata.normalize("NFKC", held)
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else " " for c in folded)


def _secrets_in(held: str, niks: list[str]) -> list[str]:
    """The NIKs and PINs in a text, piece by piece (a table cell, or a line elsewhere).

    A NIK counts when its digits stand in order in one piece, whatever is
    between them; a PIN when it stands as a number on its own.
    """
    found: list[str] = []
    pieces = held.split(CELL) if CELL in held else held.splitlines()
    for piece in pieces:
        digits = _digits(piece)
        digits_only = digits.replace(" ", "")
        found += [f"NIK {n[:4]}..{n[-4:]}" for n in niks if n in digits_only]
        numbers = set(digits.split())
        found += [f"PIN {pin[:2]}.." for pin in PINS if pin in numbers]
    return found


def _every_cell(day: Day) -> dict[str, str]:
    """Every table, each as one text of all its cells."""
    held: dict[str, str] = {}
    with day.gateway.engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            rows = conn.execute(select(text("*")).select_from(table(name))).all()
            held[f"table {name}"] = CELL.join(str(cell) for row in rows for cell in row) + CELL
    return held


def test_privasi_dataku_and_hapus_answer_through_every_transport(
    day: Day, monkeypatch: pytest.MonkeyPatch
) -> None:
    ways = {
        "twilio": day.twilio,
        "kannel-get": day.kannel,
        "kannel-post": lambda sender, body: day.kannel(sender, body, post=True),
        "gammu": lambda sender, body: day.gammu(monkeypatch, sender, body),
        "console": day.console,
    }
    for n, (name, send) in enumerate(ways.items(), start=1):
        sender = phone(40 + n)
        assert send(sender, f"DAFTAR {nik(40 + n)} 30-11-2026").startswith("Terdaftar!"), name
        assert "PRIVASI" not in send(sender, "PRIVASI") and "DATAKU" in send(sender, "PRIVASI")
        assert template_of(send(sender, "DATAKU"))[0] == "dataku_booking", name
        assert template_of(send(sender, "HAPUS"))[0] == "hapus_booking", name
        assert "dibatalkan" in send(sender, "BATAL"), name
        assert template_of(send(sender, "HAPUS"))[0] == "hapus_ok", name
        assert template_of(send(sender, "DATAKU"))[0] == "dataku_none", name

"""End to end with the real Kannel: fakesmsc -> bearerbox -> smsbox -> the gateway -> back.

The gateway runs as a real threaded HTTP server; Kannel calls it through an
sms-service get-url exactly as deploy/kannel/kannel.conf does (here without
mo-recode, so UCS-2 text arrives as raw UTF-16BE and the gateway decodes it).
Outbound SMS go through smsbox's sendsms and their delivery reports come back
to /sms/kannel/dlr. Skipped without Kannel, failed instead in CI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from sms_gateway.app import create_app
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.senders.kannel import KannelSender
from tests.conftest import VALID_NIK, Clock, nik, write_config
from tests.kannel_harness import KannelHarness, require_kannel, running_kannel

SECRET = "kannel-secret-0123456789"
PHONE = "6281234567890"  # as an operator's SMSC sends it: international, no "+"
SHORT_CODE = "1234"


@pytest.fixture
def kannel_gateway(tmp_path: Path, db_url: str) -> Iterator[tuple[Gateway, str]]:
    """The gateway behind a real HTTP server; yields it and its base URL."""
    require_kannel()
    config = write_config(tmp_path, db_url, twilio="", extra=f'[kannel]\nsecret = "{SECRET}"\n')
    gateway = Gateway(load_settings(config, env={}), clock=Clock())
    server = make_server(
        "127.0.0.1", 0, create_app(gateway.settings, gateway=gateway), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway, f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        gateway.close()


@pytest.fixture
def kannel(tmp_path: Path, kannel_gateway: tuple[Gateway, str]) -> Iterator[KannelHarness]:
    _, base = kannel_gateway
    get_url = f"{base}/sms/kannel?key={SECRET}&from=%p&to=%P&text=%b&id=%I&coding=%c&charset=%C"
    workdir = tmp_path / "kannel"
    workdir.mkdir()
    with running_kannel(workdir, get_url=get_url, mo_recode=False) as harness:
        yield harness


def ask(kannel: KannelHarness, body: str, sender: str = PHONE) -> str:
    """Send an MO through fakesmsc and return the reply Kannel delivered to the phone."""
    kannel.send_mo(sender, SHORT_CODE, body)
    return kannel.wait_sms(timeout=20, predicate=lambda mt: mt.receiver == sender).text


def test_book_check_and_cancel_over_kannel(
    kannel: KannelHarness, kannel_gateway: tuple[Gateway, str]
) -> None:
    gateway, _ = kannel_gateway
    booked = ask(kannel, f"DAFTAR {VALID_NIK} 8-12-2026")
    assert booked.startswith(
        "Terdaftar! Antrean PMK-001 Kantor Imigrasi Pamekasan, Sel 08-12-2026"
    ), kannel.logs()
    assert ask(kannel, "cek").startswith("Antrean Anda PMK-001 ")
    assert ask(kannel, "BATAL").startswith("Antrean PMK-001 Sel 08-12-2026 sudah dibatalkan")
    with gateway.engine.connect() as conn:
        rows = conn.execute(text("SELECT phone, status FROM bookings")).all()
        logged = conn.execute(
            text(
                "SELECT count(*) FROM messages WHERE transport = 'kannel' "
                "AND external_id IS NOT NULL"
            )
        ).scalar_one()
    assert [tuple(r) for r in rows] == [("+6281234567890", "cancelled")]
    assert logged == 3  # every MO carried Kannel's message id (%I)


def test_a_ucs2_message_is_understood(kannel: KannelHarness) -> None:
    # A phone that turned quotes curly sends the whole SMS as UCS-2.
    kannel.send_mo_ucs2(PHONE, SHORT_CODE, f"daftar \u2019{nik(2)}\u2019 8/12")
    reply = kannel.wait_sms(timeout=20, predicate=lambda mt: mt.receiver == PHONE).text
    assert reply.startswith("Terdaftar! Antrean PMK-001"), kannel.logs()


def test_garbage_gets_the_usage_text(kannel: KannelHarness) -> None:
    assert ask(kannel, "%%% ### ???").startswith("Perintah tidak dikenal.")


def test_outbound_sms_arrives_and_its_delivery_report_is_recorded(
    kannel: KannelHarness, kannel_gateway: tuple[Gateway, str]
) -> None:
    gateway, base = kannel_gateway
    import dataclasses

    settings = dataclasses.replace(
        gateway.settings,
        kannel=dataclasses.replace(
            gateway.settings.kannel,
            sendsms_url=kannel.sendsms_url,
            username=kannel.username,
            password=kannel.password,
            sender=SHORT_CODE,
            dlr_url=f"{base}/sms/kannel/dlr",
        ),
    )
    message = gateway.outbound.send(
        KannelSender(settings), "+6281234567891", "Nomor PMK-007 silakan ke loket 2"
    )
    delivered = kannel.wait_sms(
        timeout=20, predicate=lambda mt: mt.receiver.endswith("81234567891")
    )
    assert delivered.text == "Nomor PMK-007 silakan ke loket 2"
    assert delivered.sender == SHORT_CODE

    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        with gateway.engine.connect() as conn:
            status = conn.execute(
                text("SELECT delivery_status FROM messages WHERE id = :id"), {"id": message.id}
            ).scalar_one()
        if status == "delivered":
            break
        time.sleep(0.2)
    assert status == "delivered", kannel.logs()
    with gateway.engine.connect() as conn:
        codes = sorted(conn.execute(text("SELECT code FROM delivery_reports")).scalars())
    assert 1 in codes  # delivered to the phone (the fake SMSC also reports 8: SMSC accepted)

"""End to end with the real Kannel: fakesmsc -> bearerbox -> smsbox -> the gateway -> back.

The everyday paths run against the gateway in a threaded HTTP server, called by
both forms of the sms-service: the post-url of deploy/kannel/kannel.conf (read
from the file) and the older get-url, here without mo-recode, so UCS-2 text
arrives as raw UTF-16BE and the gateway decodes it. Outbound SMS go through
smsbox's sendsms and their delivery reports come back to /sms/kannel/dlr.

A long UCS-2 message goes through gunicorn with deploy/gunicorn.conf.py, as in
production, whose request line is limited to 4,094 bytes: through the shipped
post-url it arrives whole and is answered; through a get-url gunicorn refuses
it (414) before the gateway sees it. Skipped without Kannel, failed instead in CI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

from sms_gateway.app import create_app
from sms_gateway.channels.kannel.sender import KannelSender
from sms_gateway.config import load_settings
from sms_gateway.db import create_db_engine
from sms_gateway.gateway import Gateway
from sms_gateway.nik import mask_nik
from tests.conftest import VALID_NIK, Clock, nik, write_config
from tests.kannel_harness import (
    GUNICORN_REQUEST_LINE_LIMIT,
    KannelHarness,
    deploy_sms_service,
    get_url_request_line,
    long_ucs2_text,
    require_kannel,
    running_kannel,
)

SECRET = "kannel-secret-0123456789"
PHONE = "6281234567890"  # as an operator's SMSC sends it: international, no "+"
SHORT_CODE = "1234"
ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
# Where deploy/kannel/kannel.conf expects the gateway.
DEPLOY_BASE = "http://127.0.0.1:8000"
# The get-url of existing installs (commented out in deploy/kannel/kannel.conf).
GET_PATH = f"/sms/kannel?key={SECRET}&from=%p&to=%P&text=%b&id=%I&coding=%c&charset=%C"
# Settings that would override the test config in a gunicorn started from this environment.
CONFIG_ENV = ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "KANNEL_SECRET", "KANNEL_PASSWORD")

# 600 characters with emoji and Arabic script: over 4 kB as a get-url.
LONG_TEXT = long_ucs2_text(VALID_NIK)


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


def shipped_post_url(base: str) -> str:
    """Return the post-url of deploy/kannel/kannel.conf, pointed at ``base`` with our key."""
    service = deploy_sms_service()
    url = service.get("post-url", "")
    # The gateway needs X-Kannel-From, which smsbox sends only with send-sender.
    assert service.get("send-sender") == "true", service
    assert "get-url" not in service, service
    assert url.startswith(DEPLOY_BASE + "/sms/kannel?"), url
    assert "key=CHANGE_ME" in url and "id=%I" in url, url
    return base + url.removeprefix(DEPLOY_BASE).replace("key=CHANGE_ME", f"key={SECRET}")


def service_urls(form: str, base: str) -> tuple[str | None, str | None]:
    """Return (get_url, post_url) for an sms-service of ``form`` calling ``base``."""
    if form == "post-url":
        return None, shipped_post_url(base)
    return base + GET_PATH, None


@pytest.fixture(params=["post-url", "get-url"])
def kannel(
    request: pytest.FixtureRequest, tmp_path: Path, kannel_gateway: tuple[Gateway, str]
) -> Iterator[KannelHarness]:
    """Kannel calling the gateway through the shipped post-url, or the older get-url."""
    _, base = kannel_gateway
    workdir = tmp_path / "kannel"
    workdir.mkdir()
    get_url, post_url = service_urls(request.param, base)
    with running_kannel(workdir, get_url=get_url, post_url=post_url, mo_recode=False) as harness:
        yield harness


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn_gateway(tmp_path: Path, db_url: str) -> Iterator[tuple[Engine, str]]:
    """The gateway as production runs it: gunicorn -c deploy/gunicorn.conf.py.

    One sync worker (production runs two; the request line limit is the same, and
    one boots faster). Yields an engine on the same database and the base URL.
    """
    require_kannel()
    config = write_config(tmp_path, db_url, twilio="", extra=f'[kannel]\nsecret = "{SECRET}"\n')
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in CONFIG_ENV and not name.startswith("SMS_GATEWAY_")
    }
    env |= {
        "SMS_GATEWAY_CONFIG": str(config),
        "SMS_GATEWAY_BIND": f"127.0.0.1:{port}",
        "SMS_GATEWAY_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "deploy/gunicorn.conf.py"), "sms_gateway.wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    engine = create_db_engine(db_url)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", server, log)
        yield engine, f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        engine.dispose()


def _wait_until_up(health: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet (URLError and HTTPError are OSErrors)
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("gunicorn did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)


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


@pytest.mark.parametrize("kannel", ["get-url"], indirect=True)  # no MO: one form will do
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


# -- a long UCS-2 message, through gunicorn -----------------------------------------------


def _get_url_request_line(base: str, raw_text: bytes, coding: str, charset: str) -> str:
    """The request line smsbox would send for LONG_TEXT through the get-url form."""
    return get_url_request_line(
        base + GET_PATH,
        {
            "%p": PHONE.encode(),
            "%P": SHORT_CODE.encode(),
            "%b": raw_text,
            "%I": str(uuid.uuid4()).encode(),
            "%c": coding.encode(),
            "%C": charset.encode(),
        },
    )


@pytest.mark.parametrize("mo_recode", [False, True], ids=["raw-ucs2", "mo-recode"])
def test_a_long_ucs2_message_arrives_whole_through_the_shipped_post_url(
    tmp_path: Path, gunicorn_gateway: tuple[Engine, str], mo_recode: bool
) -> None:
    engine, base = gunicorn_gateway
    assert len(LONG_TEXT) == 600
    # The same message as a get-url would be cut off by gunicorn (see the next test).
    as_get = (
        _get_url_request_line(base, LONG_TEXT.encode(), "0", "UTF-8")
        if mo_recode
        else _get_url_request_line(base, LONG_TEXT.encode("utf-16-be"), "2", "UTF-16BE")
    )
    assert len(as_get) > GUNICORN_REQUEST_LINE_LIMIT

    workdir = tmp_path / "kannel"
    with running_kannel(workdir, post_url=shipped_post_url(base), mo_recode=mo_recode) as k:
        k.send_mo_ucs2(PHONE, SHORT_CODE, LONG_TEXT)
        reply = k.wait_sms(timeout=30, predicate=lambda mt: mt.receiver == PHONE)

    with engine.connect() as conn:
        inbound = conn.execute(
            text("SELECT id, phone, body, external_id FROM messages WHERE direction = 'in'")
        ).all()
        assert len(inbound) == 1, inbound  # one message, not parts
        answered = conn.execute(
            text("SELECT body FROM messages WHERE reply_to_id = :id"), {"id": inbound[0].id}
        ).scalar_one()
    row = inbound[0]
    assert row.phone == "+" + PHONE
    # Every character arrived, emoji and Arabic script included; only the NIK is masked.
    assert row.body == LONG_TEXT.replace(VALID_NIK, mask_nik(VALID_NIK))
    uuid.UUID(row.external_id)  # Kannel's %I from the post-url: a retry is answered once
    assert reply.text == answered != ""
    assert reply.sender == SHORT_CODE


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # nothing reaches a database
def test_the_same_message_through_a_get_url_never_reaches_the_gateway(
    tmp_path: Path, gunicorn_gateway: tuple[Engine, str]
) -> None:
    # Why deploy/kannel/kannel.conf ships a post-url: the message below is lost.
    engine, base = gunicorn_gateway
    workdir = tmp_path / "kannel"
    with running_kannel(workdir, get_url=base + GET_PATH, mo_recode=False) as k:
        k.send_mo_ucs2(PHONE, SHORT_CODE, LONG_TEXT)
        # smsbox logs each call with the answer: gunicorn's 414 "URI Too Long".
        access_log = workdir / "smsbox-access.log"
        deadline = time.monotonic() + 30
        while " reply: 414 " not in (access_log.read_text() if access_log.exists() else ""):
            assert time.monotonic() < deadline, k.logs()
            time.sleep(0.1)
        # reply-couldnotfetch = "": the applicant does not even hear that it failed.
        k.assert_no_mt(within=2, predicate=lambda mt: mt.receiver == PHONE)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM messages")).scalar_one() == 0

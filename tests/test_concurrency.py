"""Concurrency: the database, not luck, keeps quotas and one-booking rules.

Requests go through the real path: signed HTTP posts to a real threaded WSGI
server, and separate worker processes each with their own Gateway, on SQLite
and on PostgreSQL. A barrier (threads) or a shared start time (processes)
releases them together so they really race.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from sqlalchemy import text
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from sms_gateway.app import create_app
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from tests.conftest import AUTH_TOKEN, NOW, VALID_NIK, Clock, nik, phone, write_config

QUOTA = 10
ONE_SESSION_OFFICE = f"""
[[offices]]
code = "PMK"
name = "Kantor Imigrasi Pamekasan"
sms_number = "+6282140000001"
sessions = [{{ name = "PAGI", start = "08:00", end = "12:00", quota = {QUOTA} }}]
"""
DAY = "8-12-2026"


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    return write_config(tmp_path, db_url, offices=ONE_SESSION_OFFICE)


@pytest.fixture
def gateway(config: Path, clock: Clock) -> Iterator[Gateway]:
    gw = Gateway(load_settings(config, env={}), clock=clock)
    yield gw
    gw.close()


@pytest.fixture
def server_url(gateway: Gateway) -> Iterator[str]:
    """A real threaded HTTP server in front of the app, on a free loopback port."""
    app = create_app(gateway.settings, gateway=gateway)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}/sms/twilio"
    server.shutdown()
    thread.join()


def post_signed(url: str, sender: str, body: str, sid: str) -> tuple[int, str]:
    form = {
        "MessageSid": sid,
        "From": sender,
        "To": "+6282140000001",
        "Body": body,
        "AccountSid": "AC" + "0" * 32,
        "NumMedia": "0",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(form).encode(), headers={"X-Twilio-Signature": signature}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read().decode()


def race(url: str, requests: list[tuple[str, str, str]]) -> list[tuple[int, str]]:
    """Send all requests at the same moment, one thread each."""
    barrier = threading.Barrier(len(requests))

    def one(args: tuple[str, str, str]) -> tuple[int, str]:
        barrier.wait()
        return post_signed(url, *args)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(one, requests))


def db_rows(gateway: Gateway, sql: str) -> list[tuple]:
    with gateway.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_50_concurrent_bookings_against_a_quota_of_10_over_http(
    gateway: Gateway, server_url: str
) -> None:
    requests = [(phone(i), f"DAFTAR {nik(i)} {DAY}", f"SMrace{i:04d}") for i in range(1, 51)]
    results = race(server_url, requests)
    assert all(status == 200 for status, _ in results)
    won = [body for _, body in results if "Terdaftar! Antrean" in body]
    full = [body for _, body in results if "sudah penuh" in body]
    assert len(won) == QUOTA
    assert len(full) == 50 - QUOTA

    numbers = db_rows(gateway, "SELECT queue_seq FROM bookings WHERE status = 'active'")
    assert sorted(n for (n,) in numbers) == list(range(1, QUOTA + 1))
    assert db_rows(gateway, "SELECT booked FROM session_slots") == [(QUOTA,)]


def test_one_nik_from_20_phones_at_once_books_exactly_once(
    gateway: Gateway, server_url: str
) -> None:
    requests = [(phone(i), f"DAFTAR {VALID_NIK} {DAY}", f"SMnik{i:04d}") for i in range(1, 21)]
    results = race(server_url, requests)
    assert sum("Terdaftar! Antrean" in body for _, body in results) == 1
    assert sum("NIK ini sudah punya antrean aktif" in body for _, body in results) == 19
    assert db_rows(gateway, "SELECT count(*) FROM bookings") == [(1,)]
    assert db_rows(gateway, "SELECT booked FROM session_slots") == [(1,)]


def test_one_phone_with_20_niks_at_once_books_exactly_once(
    gateway: Gateway, server_url: str
) -> None:
    requests = [(phone(1), f"DAFTAR {nik(i)} {DAY}", f"SMphone{i:04d}") for i in range(1, 21)]
    results = race(server_url, requests)
    assert sum("Terdaftar! Antrean" in body for _, body in results) == 1
    assert sum("Nomor ini sudah punya antrean" in body for _, body in results) == 19
    assert db_rows(gateway, "SELECT count(*) FROM bookings") == [(1,)]


def test_the_same_twilio_retry_ten_times_at_once_is_handled_once(
    gateway: Gateway, server_url: str
) -> None:
    requests = [(phone(1), f"DAFTAR {VALID_NIK} {DAY}", "SMsame")] * 10
    results = race(server_url, requests)
    replies = {body for _, body in results}
    assert len(replies) == 1
    assert "Terdaftar! Antrean PMK-001" in replies.pop()
    assert db_rows(gateway, "SELECT count(*) FROM bookings") == [(1,)]
    assert db_rows(gateway, "SELECT count(*) FROM messages") == [(2,)]


# -- several worker processes ------------------------------------------------------------


def _process_worker(config: str, start_at: float, messages: list[tuple[str, str]]) -> list[str]:
    """Run in a separate process: its own Gateway, its own connections, several threads."""
    gateway = Gateway(load_settings(config, env={}), clock=Clock(NOW))
    try:
        while time.time() < start_at:
            time.sleep(0.001)

        def one(message: tuple[str, str]) -> str:
            sender, body = message
            return gateway.handle(InboundMessage(transport="test", sender=sender, text=body)).text

        with ThreadPoolExecutor(max_workers=len(messages)) as pool:
            return list(pool.map(one, messages))
    finally:
        gateway.close()


def test_bookings_from_four_processes_never_oversell(gateway: Gateway, config: Path) -> None:
    batches = [
        [(phone(p * 100 + i), f"DAFTAR {nik(p * 100 + i)} {DAY}") for i in range(15)]
        for p in range(1, 5)
    ]
    start_at = time.time() + 4  # time for the spawned interpreters to import and connect
    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_process_worker, str(config), start_at, b) for b in batches]
        replies = [r for f in futures for r in f.result(timeout=120)]
    assert len(replies) == 60
    assert sum("Terdaftar! Antrean" in r for r in replies) == QUOTA
    assert sum("sudah penuh" in r for r in replies) == 60 - QUOTA
    numbers = db_rows(gateway, "SELECT queue_seq FROM bookings WHERE status = 'active'")
    assert sorted(n for (n,) in numbers) == list(range(1, QUOTA + 1))
    assert db_rows(gateway, "SELECT booked FROM session_slots") == [(QUOTA,)]

"""The outbox and its worker: exactly once, retries with backoff, permanent failures.

Twilio is reached only through a recording fake of twilio's own HttpClient
layer; no test touches the network.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from sms_gateway.app import create_app
from sms_gateway.channels.console import ConsoleSender
from sms_gateway.channels.twilio.sender import TwilioSender
from sms_gateway.cli import main
from sms_gateway.cli.messaging import OUTBOX_COLUMNS
from sms_gateway.gateway import Gateway
from sms_gateway.models import SendStatus
from sms_gateway.sending import SendError
from sms_gateway.services.outbound import Outbound, retry_delay
from tests.conftest import AUTH_TOKEN, Clock, count, phone, write_config
from tests.test_twilio_sender import (
    RecordingHttpClient,
    api_error,
    message_resource,
    with_twilio,
)


@pytest.fixture(autouse=True)
def no_twilio_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # twilio's Client falls back to these; keep a developer's own out of the tests.
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_EDGE", "TWILIO_REGION"):
        monkeypatch.delenv(name, raising=False)


def enqueue(gateway: Gateway, *bodies: str) -> list[int]:
    with gateway.sessions.begin() as session:
        messages = [
            gateway.outbound.enqueue(session, phone(i), body, gateway.clock())
            for i, body in enumerate(bodies, start=1)
        ]
        session.flush()
        return [m.id for m in messages]


def statuses(gateway: Gateway) -> list[tuple[str, int, str | None]]:
    with gateway.engine.connect() as conn:
        rows = conn.execute(text("SELECT status, attempts, error FROM messages ORDER BY id"))
        return [(r.status, r.attempts, r.error) for r in rows]


def test_console_sender_sends_the_outbox_once(gateway: Gateway) -> None:
    enqueue(gateway, "satu", "dua")
    stream = io.StringIO()
    sender = ConsoleSender(gateway.settings, stream=stream)
    assert gateway.outbound.drain(sender).sent == 2
    assert gateway.outbound.drain(sender).handled == 0
    assert stream.getvalue().splitlines() == [
        f"SMS to {phone(1)} (#1): satu",
        f"SMS to {phone(2)} (#2): dua",
    ]
    assert statuses(gateway) == [("sent", 1, None), ("sent", 1, None)]


def test_twilio_success_transient_and_permanent_failures(gateway: Gateway, clock: Clock) -> None:
    fake = RecordingHttpClient()
    fake.reply(201, message_resource("SM" + "a" * 32, to=phone(1)))
    fake.reply(503, api_error(503, 20503, "Service Unavailable"))
    fake.reply(400, api_error(400, 21211, "The 'To' number is not a valid phone number."))
    sender = TwilioSender(with_twilio(gateway.settings), http_client=fake)
    enqueue(gateway, "ok", "sebentar", "nomor salah")

    result = gateway.outbound.drain(sender)
    assert (result.sent, result.retried, result.failed) == (1, 1, 1)
    rows = statuses(gateway)
    assert rows[0] == ("sent", 1, None)
    assert rows[1][0:2] == ("pending", 1)
    assert "503" in (rows[1][2] or "")
    assert rows[2][0:2] == ("failed", 1)
    assert "21211" in (rows[2][2] or "")
    with gateway.engine.connect() as conn:
        sid = conn.execute(text("SELECT external_id FROM messages WHERE id = 1")).scalar_one()
    assert sid == "SM" + "a" * 32

    # Not yet due: nothing happens before the backoff has passed.
    assert gateway.outbound.drain(sender).handled == 0
    clock.now += retry_delay(1)
    fake.reply(201, message_resource("SM" + "b" * 32, to=phone(2)))
    assert gateway.outbound.drain(sender).sent == 1
    assert statuses(gateway)[1] == ("sent", 2, None)
    assert len(fake.requests) == 4  # one HTTP request per attempt, no hidden retries


def test_too_many_temporary_failures_end_as_failed(gateway: Gateway, clock: Clock) -> None:
    class Down:
        name = "console"

        def send(self, to: str, text: str, message_id: int) -> str | None:
            raise SendError("provider down", permanent=False)

    outbound = Outbound(
        gateway.sessions, clock, dataclasses.replace(gateway.settings.outbound, max_attempts=3)
    )
    enqueue(gateway, "halo")
    delays = []
    for _ in range(3):
        outbound.drain(Down())
        with gateway.engine.connect() as conn:
            due = conn.execute(text("SELECT next_attempt_at FROM messages")).scalar_one()
        if due is not None:
            delays.append(due)
        clock.now += timedelta(hours=2)
    assert statuses(gateway) == [("failed", 3, "provider down")]
    assert len(delays) == 2  # two retries were scheduled, the third failure was final


def test_retry_delays_grow_and_stop_at_an_hour() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_two_workers_draining_at_once_send_each_message_exactly_once(
    gateway: Gateway,
) -> None:
    enqueue(gateway, *[f"pesan {i}" for i in range(60)])
    sent: list[int] = []
    lock = threading.Lock()

    class Recording:
        name = "console"

        def send(self, to: str, text: str, message_id: int) -> str | None:
            with lock:
                sent.append(message_id)
            return None

    barrier = threading.Barrier(2)

    def work() -> None:
        # Each worker has its own service and connections, as two processes would.
        outbound = Outbound(
            gateway.sessions,
            gateway.clock,
            dataclasses.replace(gateway.settings.outbound, batch_size=5),
        )
        barrier.wait()
        outbound.drain(Recording())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sent) == list(range(1, 61))
    assert count(gateway, "SELECT count(*) FROM messages WHERE status = 'sent'") == 60


def test_a_claim_left_by_a_dead_worker_is_recovered(gateway: Gateway, clock: Clock) -> None:
    enqueue(gateway, "halo")
    claimed = gateway.outbound._claim(10)  # a worker claims, then dies before sending
    assert [m.status for m in claimed] == [SendStatus.SENDING]
    assert gateway.outbound.recover_stale() == 0  # too recent to be abandoned
    clock.now += timedelta(minutes=11)
    assert gateway.outbound.recover_stale() == 1
    assert gateway.outbound.drain(ConsoleSender(gateway.settings, stream=io.StringIO())).sent == 1


# -- Twilio's status callback ------------------------------------------------------------


@pytest.fixture
def client(gateway: Gateway) -> Iterator[FlaskClient]:
    yield create_app(gateway.settings, gateway=gateway).test_client()


def _post_status(client: FlaskClient, form: dict[str, str], signed: bool = True) -> TestResponse:
    url = "http://localhost/sms/twilio/status"
    headers = (
        {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}
        if signed
        else {}
    )
    return client.post("/sms/twilio/status", data=form, headers=headers)


def test_twilio_status_callbacks_record_delivery(gateway: Gateway, client: FlaskClient) -> None:
    fake = RecordingHttpClient().reply(201, message_resource("SM" + "c" * 32, to=phone(1)))
    enqueue(gateway, "halo")
    gateway.outbound.drain(TwilioSender(with_twilio(gateway.settings), http_client=fake))
    sid = "SM" + "c" * 32
    assert _post_status(client, {"MessageSid": sid, "MessageStatus": "sent"}).status_code == 200
    assert (
        _post_status(client, {"MessageSid": sid, "MessageStatus": "delivered"}).status_code == 200
    )
    assert _post_status(client, {"MessageSid": sid, "MessageStatus": "sent"}).status_code == 200
    with gateway.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT delivery_status FROM messages")).scalar_one() == "delivered"
        )
        assert conn.execute(text("SELECT count(*) FROM delivery_reports")).scalar_one() == 3


@pytest.mark.parametrize(
    ("form", "signed", "status"),
    [
        ({"MessageSid": "SM1", "MessageStatus": "delivered"}, False, 403),
        ({"MessageSid": "SM1", "MessageStatus": "exploded"}, True, 400),
        ({"MessageStatus": "delivered"}, True, 400),
        ({"MessageSid": "SMunknown", "MessageStatus": "delivered"}, True, 200),
    ],
)
def test_bad_status_callbacks_change_nothing(
    gateway: Gateway,
    client: FlaskClient,
    form: dict[str, str],
    signed: bool,
    status: int,
) -> None:
    assert _post_status(client, form, signed).status_code == status
    assert count(gateway, "SELECT count(*) FROM delivery_reports") == 0


# -- the commands ------------------------------------------------------------------------


def test_worker_once_sends_through_the_configured_sender_and_outbox_lists_it(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, db_url, extra='[outbound]\nsender = "console"\n'))
    from sms_gateway.config import load_settings

    gateway = Gateway(load_settings(config, env={}))
    try:
        enqueue(gateway, "Nomor PMK-007 silakan ke loket 2")
    finally:
        gateway.close()
    assert main(["--config", config, "outbox", "--status", "pending", "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == ",".join(OUTBOX_COLUMNS) == "id,to,body,status,attempts,created_at,sent_at,error"
    )
    assert out[1].startswith(f"1,{phone(1)},Nomor PMK-007 silakan ke loket 2,pending,0,")
    assert main(["--config", config, "worker", "--once"]) == 0
    captured = capsys.readouterr()
    assert f"SMS to {phone(1)} (#1): Nomor PMK-007 silakan ke loket 2" in captured.out
    assert "worker: 1 sent, 0 to retry, 0 failed" in captured.err
    assert main(["--config", config, "outbox", "--status", "sent"]) == 0
    assert "Nomor PMK-007" in capsys.readouterr().out


def test_staff_and_audit_commands(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, db_url))
    base = ["--config", config, "staff"]
    assert (
        main(
            [
                *base,
                "add",
                "--phone",
                "081100000001",
                "--office",
                "pmk",
                "--role",
                "kepala",
                "--name",
                "Bu Sari",
                "--pin",
                "123456",
            ]
        )
        == 0
    )
    assert "added Bu Sari (kepala, PMK) on 0811-0000-0001" in capsys.readouterr().out
    for argv, message, status in (
        (
            [
                "add",
                "--phone",
                "081100000001",
                "--office",
                "PMK",
                "--role",
                "petugas",
                "--name",
                "X",
                "--pin",
                "1234",
            ],
            "already registered",
            1,
        ),
        (
            [
                "add",
                "--phone",
                "081100000002",
                "--office",
                "SBY",
                "--role",
                "petugas",
                "--name",
                "X",
                "--pin",
                "1234",
            ],
            "is not an office",
            2,
        ),
        (
            [
                "add",
                "--phone",
                "081100000002",
                "--office",
                "PMK",
                "--role",
                "petugas",
                "--name",
                "X",
                "--pin",
                "12",
            ],
            "a PIN is 4 to 8 digits",
            1,
        ),
        (["remove", "--phone", "081100000009"], "is not registered as staff", 1),
    ):
        assert main([*base, *argv]) == status
        assert message in capsys.readouterr().err
    assert main([*base, "list"]) == 0
    assert "PMK    kepala   0811-0000-0001   Bu Sari" in capsys.readouterr().out
    assert main([*base, "reset-pin", "--phone", "081100000001", "--pin", "654321"]) == 0
    assert "new PIN set for Bu Sari" in capsys.readouterr().out

    assert main(["--config", config, "sms", "--from", "081100000001", "REKAP", "654321"]) == 0
    assert capsys.readouterr().out.startswith("REKAP PMK")
    assert main(["--config", config, "audit", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "at,phone,name,office,command,outcome"
    assert lines[1].endswith(",+6281100000001,Bu Sari,PMK,REKAP ****,ok")
    assert "654321" not in "".join(lines)
    assert main([*base, "remove", "--phone", "081100000001"]) == 0
    assert capsys.readouterr().out.startswith("removed Bu Sari")
    assert main(["--config", config, "sms", "--from", "081100000001", "REKAP", "654321"]) == 0
    assert capsys.readouterr().out.startswith("Perintah tidak dikenal.")

"""Outbound senders against stand-ins on loopback: what they send and how failures read."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sms_gateway.channels.gammu.sender import GammuSender
from sms_gateway.channels.kannel.sender import KannelSender
from sms_gateway.channels.registry import sender_for
from sms_gateway.cli import main
from sms_gateway.config import KannelSettings, Settings
from sms_gateway.gateway import Gateway
from sms_gateway.models import SendStatus
from sms_gateway.sending import SendError
from tests.conftest import write_config


class SendsmsStandIn:
    """A loopback HTTP server that answers like Kannel's sendsms and records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, list[str]]] = []
        self.status, self.body = 202, "0: Accepted for delivery"
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.requests.append(parse_qs(urlsplit(self.path).query))
                payload = stand_in.body.encode()
                self.send_response(stand_in.status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cgi-bin/sendsms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def sendsms() -> Iterator[SendsmsStandIn]:
    stand_in = SendsmsStandIn()
    yield stand_in
    stand_in.close()


def kannel_settings(settings: Settings, url: str, **changes: Any) -> Settings:
    kannel = KannelSettings(
        secret="kannel-secret-0123456789",
        sendsms_url=url,
        username="gateway",
        password="pw",
        sender="1234",
        dlr_url="http://127.0.0.1:5000/sms/kannel/dlr",
    )
    return dataclasses.replace(settings, kannel=dataclasses.replace(kannel, **changes))


def test_kannel_sender_asks_for_delivery_reports_carrying_our_id(
    settings: Settings, sendsms: SendsmsStandIn
) -> None:
    sender = KannelSender(kannel_settings(settings, sendsms.url))
    assert sender.send("+6281234567890", "Nomor PMK-007 silakan ke loket 2", 42) is None
    (params,) = sendsms.requests
    assert params["username"] == ["gateway"]
    assert params["password"] == ["pw"]
    assert params["to"] == ["+6281234567890"]
    assert params["from"] == ["1234"]
    assert params["text"] == ["Nomor PMK-007 silakan ke loket 2"]
    assert params["coding"] == ["0"]
    assert params["dlr-mask"] == ["31"]
    dlr = urlsplit(params["dlr-url"][0])
    assert (dlr.scheme, dlr.netloc, dlr.path) == ("http", "127.0.0.1:5000", "/sms/kannel/dlr")
    dlr_query = parse_qs(dlr.query)
    assert dlr_query["key"] == ["kannel-secret-0123456789"]
    assert dlr_query["msgid"] == ["42"]
    assert dlr_query["status"] == ["%d"]


def test_kannel_sender_uses_ucs2_only_when_the_text_needs_it(
    settings: Settings, sendsms: SendsmsStandIn
) -> None:
    sender = KannelSender(kannel_settings(settings, sendsms.url))
    sender.send("+6281234567890", "Halo \u00e7", 1)
    assert sendsms.requests[-1]["coding"] == ["2"]


@pytest.mark.parametrize(
    ("status", "body", "permanent", "words"),
    [
        (403, "Authorization failed for sendsms", True, "credentials"),
        (400, "Missing receiver number", True, "rejected the message"),
        (503, "", False, r"failed \(503\)"),
        (202, "3: Queued for later delivery", None, ""),
    ],
)
def test_kannel_sender_failures_say_whether_to_retry(
    settings: Settings,
    sendsms: SendsmsStandIn,
    status: int,
    body: str,
    permanent: bool | None,
    words: str,
) -> None:
    sendsms.status, sendsms.body = status, body
    sender = KannelSender(kannel_settings(settings, sendsms.url))
    if permanent is None:
        assert sender.send("+6281234567890", "x", 1) is None
        return
    with pytest.raises(SendError, match=words) as failure:
        sender.send("+6281234567890", "x", 1)
    assert failure.value.permanent is permanent


def test_kannel_sender_unreachable_is_temporary(settings: Settings) -> None:
    sender = KannelSender(kannel_settings(settings, "http://127.0.0.1:1/cgi-bin/sendsms"))
    with pytest.raises(SendError, match="unreachable") as failure:
        sender.send("+6281234567890", "x", 1)
    assert failure.value.permanent is False


def test_kannel_sender_without_credentials_is_a_permanent_error(settings: Settings) -> None:
    sender = KannelSender(kannel_settings(settings, "http://127.0.0.1:1/", username=None))
    with pytest.raises(SendError, match="username and password") as failure:
        sender.send("+6281234567890", "x", 1)
    assert failure.value.permanent is True


def test_outbound_records_sent_and_failed(
    settings: Settings, sendsms: SendsmsStandIn, gateway: Gateway
) -> None:
    sender = KannelSender(kannel_settings(settings, sendsms.url))
    sent = gateway.outbound.send(sender, "+6281234567890", "Halo 3528011505900001")
    assert sent.status == SendStatus.SENT
    assert sent.body == "Halo 3528********0001"  # the log never holds a NIK
    sendsms.status, sendsms.body = 403, "Authorization failed for sendsms"
    with pytest.raises(SendError):
        gateway.outbound.send(sender, "+6281234567890", "Halo")
    with gateway.sessions() as session:
        from sqlalchemy import select

        from sms_gateway.models import Message

        failed = session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert failed is not None
    assert failed.status == SendStatus.FAILED
    assert "credentials" in (failed.error or "")


def test_send_command_reports_the_message_and_failures(
    tmp_path: Path, db_url: str, sendsms: SendsmsStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = f"""
        [kannel]
        secret = "kannel-secret-0123456789"
        sendsms_url = "{sendsms.url}"
        username = "gateway"
        password = "pw"
    """
    config = str(write_config(tmp_path, db_url, extra=extra))
    assert (
        main(
            ["--config", config, "send", "--via", "kannel", "--to", "081234567890", "Tes", "kirim"]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("message 1 sent via kannel")
    assert sendsms.requests[-1]["text"] == ["Tes kirim"]
    sendsms.status, sendsms.body = 403, "Authorization failed for sendsms"
    assert main(["--config", config, "send", "--via", "kannel", "--to", "081234567890", "x"]) == 1
    assert "kannel: Kannel refused the sendsms credentials" in capsys.readouterr().err


# -- gammu -------------------------------------------------------------------------------


def fake_inject(tmp_path: Path, body: str) -> str:
    """Write a stand-in for gammu-smsd-inject (the real one is used in the e2e tests)."""
    script = tmp_path / "inject"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def gammu_settings(settings: Settings, inject: str) -> Settings:
    return dataclasses.replace(
        settings, gammu=dataclasses.replace(settings.gammu, inject=inject, smsdrc="/x/smsdrc")
    )


def test_gammu_sender_runs_inject_and_returns_smsd_id(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "args"
    inject = fake_inject(
        tmp_path,
        f'printf "%s\\n" "$@" > {log}\n'
        'echo "Written message with ID /var/spool/gammu/outbox/'
        'OUTC20261127_120000_00_+6281234567890_sms0.smsbackup"\n',
    )
    sender = GammuSender(gammu_settings(settings, inject))
    assert sender.send("+6281234567890", "Halo dunia", 7) == (
        "OUTC20261127_120000_00_+6281234567890_sms0.smsbackup"
    )
    assert log.read_text().splitlines() == [
        "-c", "/x/smsdrc", "TEXT", "+6281234567890", "-autolen", "10", "-textutf8", "Halo dunia",
    ]  # fmt: skip
    # Characters outside the BMP count as two UTF-16 units, so nothing is cut off.
    assert sender.command("+6281234567890", "Hi \U0001f600")[5:7] == ["-autolen", "5"]


@pytest.mark.parametrize(
    ("body", "words"),
    [("echo 'Error opening outbox' >&2\nexit 2\n", "Error opening outbox"), ("exit 0\n", "exit 0")],
)
def test_gammu_sender_failures_are_temporary(
    settings: Settings, tmp_path: Path, body: str, words: str
) -> None:
    sender = GammuSender(gammu_settings(settings, fake_inject(tmp_path, body)))
    with pytest.raises(SendError, match=words) as failure:
        sender.send("+6281234567890", "x", 1)
    assert failure.value.permanent is False


def test_gammu_sender_missing_program_is_permanent(settings: Settings, tmp_path: Path) -> None:
    sender = GammuSender(gammu_settings(settings, str(tmp_path / "no-such-inject")))
    with pytest.raises(SendError, match="not found") as failure:
        sender.send("+6281234567890", "x", 1)
    assert failure.value.permanent is True


def test_sender_for_knows_the_channels(settings: Settings) -> None:
    assert sender_for("kannel", settings).name == "kannel"
    assert sender_for("gammu", settings).name == "gammu"
    with pytest.raises(ValueError, match="unknown sender"):
        sender_for("pigeon", settings)

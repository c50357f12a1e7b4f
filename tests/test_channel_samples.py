"""Every channel's raw sample payloads through the real entry point, table-driven.

Each ``channels/<provider>/samples.py`` holds requests as the provider sends
them; here each goes through the real Flask app (Twilio, Kannel) or the real
``gammu-receive`` command and its parser (Gammu), and the test checks the
answer and the ``InboundMessage`` the adapter handed to the gateway, or the
delivery status a report recorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from sms_gateway.app import create_app
from sms_gateway.channels.gammu import samples as gammu_samples
from sms_gateway.channels.gammu.smsd import (
    NotAnSms,
    message_from_environment,
    message_from_inbox_file,
)
from sms_gateway.channels.kannel import samples as kannel_samples
from sms_gateway.channels.sample import HttpSample
from sms_gateway.channels.twilio import samples as twilio_samples
from sms_gateway.cli import main
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage, Reply
from tests.conftest import Clock, write_config


@dataclass
class AcceptingSender:
    """A sender the provider always accepts, answering with ``sid``."""

    name: str
    sid: str | None

    def send(self, to: str, text: str, message_id: int) -> str | None:
        return self.sid


def _gateway(tmp_path: Path, db_url: str, clock: Clock, twilio: str, extra: str) -> Gateway:
    return Gateway(
        load_settings(write_config(tmp_path, db_url, extra, twilio=twilio), env={}), clock=clock
    )


@pytest.fixture
def twilio_gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    gateway = _gateway(
        tmp_path,
        db_url,
        clock,
        f'auth_token = "{twilio_samples.AUTH_TOKEN}"',
        f'[server]\npublic_url = "{twilio_samples.PUBLIC_URL}"\n',
    )
    yield gateway
    gateway.close()


@pytest.fixture
def kannel_gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    gateway = _gateway(
        tmp_path, db_url, clock, "", f'[kannel]\nsecret = "{kannel_samples.SECRET}"\n'
    )
    yield gateway
    gateway.close()


def _through_app(
    gateway: Gateway, sample: HttpSample, monkeypatch: pytest.MonkeyPatch
) -> list[InboundMessage]:
    """Send the sample's raw request to the app; return what reached ``Gateway.handle``."""
    handed: list[InboundMessage] = []
    handle = gateway.handle

    def recording(message: InboundMessage) -> Reply:
        handed.append(message)
        return handle(message)

    monkeypatch.setattr(gateway, "handle", recording)
    client: FlaskClient = create_app(gateway.settings, gateway=gateway).test_client()
    response = client.open(
        sample.path, method=sample.method, headers=dict(sample.headers), data=sample.body
    )
    assert response.status_code == sample.status, response.get_data(as_text=True)
    return handed


def _check(
    gateway: Gateway, sample: HttpSample, monkeypatch: pytest.MonkeyPatch, sender_sid: str | None
) -> None:
    if sample.delivery is not None:
        # The message the report is about: the first the gateway sent (id 1).
        name = sample.path.split("/")[2]
        sent = gateway.outbound.send(AcceptingSender(name, sender_sid), "+6281234567891", "Halo")
        assert sent.id == 1
    handed = _through_app(gateway, sample, monkeypatch)
    assert handed == ([sample.message] if sample.message is not None else [])
    if sample.delivery is not None:
        (message,) = gateway.outbound.messages()
        assert message.delivery_status == sample.delivery


@pytest.mark.parametrize("sample", twilio_samples.SAMPLES, ids=lambda s: s.name)
def test_twilio_samples(
    twilio_gateway: Gateway, sample: HttpSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check(twilio_gateway, sample, monkeypatch, twilio_samples.OUTBOUND_SID)


@pytest.mark.parametrize("sample", kannel_samples.SAMPLES, ids=lambda s: s.name)
def test_kannel_samples(
    kannel_gateway: Gateway, sample: HttpSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check(kannel_gateway, sample, monkeypatch, None)


# -- Gammu: the RunOnReceive environment, parsed and through gammu-receive -----------------


@pytest.mark.parametrize("sample", gammu_samples.SAMPLES, ids=lambda s: s.name)
def test_gammu_sample_is_parsed(sample: gammu_samples.SmsdSample) -> None:
    if sample.message is None:
        with pytest.raises(NotAnSms):
            message_from_environment(sample.environment, sample.arguments)
    else:
        assert message_from_environment(sample.environment, sample.arguments) == sample.message


@pytest.mark.parametrize("sample", gammu_samples.SAMPLES, ids=lambda s: s.name)
def test_gammu_sample_through_gammu_receive(
    sample: gammu_samples.SmsdSample,
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    injected = tmp_path / "injected"
    inject = tmp_path / "inject"
    inject.write_text(
        f'#!/bin/sh\nprintf "%s|" "$@" >> {injected}; echo >> {injected}\n'
        'echo "Written message with ID /spool/outbox/OUTC1.smsbackup"\n'
    )
    inject.chmod(0o755)
    extra = f'[gammu]\ninject = "{inject}"\nsmsdrc = "{tmp_path}/smsdrc"\n'
    config = write_config(tmp_path, db_url, extra)
    for key in [k for k in os.environ if k.startswith(("SMS_", "DECODED_", "PHONE_ID"))]:
        monkeypatch.delenv(key)
    for key, value in sample.environment.items():
        monkeypatch.setenv(key, value)
    assert main(["--config", str(config), "gammu-receive", *sample.arguments]) == 0
    out, err = capsys.readouterr()
    if sample.message is None:
        assert (out, injected.exists()) == ("", False)
        assert "ignored: not an SMS from a phone" in err
        return
    # The reply went to the sender through SMSD's outbox.
    (call,) = injected.read_text().splitlines()
    assert f"|TEXT|{sample.message.sender}|" in call
    assert call.endswith("|" + out.strip() + "|")


def test_gammu_inbox_file_sample_reads_as_its_environment(tmp_path: Path) -> None:
    path = tmp_path / gammu_samples.SINGLE_ID
    path.write_text(gammu_samples.INBOX_FILE, encoding="utf-8")
    assert message_from_inbox_file(path) == gammu_samples.SAMPLES[0].message

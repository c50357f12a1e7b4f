"""GET /metrics: inbound counts, latency, and the database gauges, in Prometheus format."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from sms_gateway.app import create_app
from sms_gateway.gateway import Gateway
from tests.conftest import VALID_NIK, nik, phone
from tests.test_twilio_webhook import BASE_FORM, sign


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_count_messages_and_read_the_database(
    gateway: Gateway, send: Callable[..., str]
) -> None:
    client = create_app(gateway.settings, gateway=gateway).test_client()
    daftar_ok = (
        "sms_inbound_messages_total",
        (("command", "DAFTAR"), ("outcome", "ok"), ("transport", "twilio")),
    )
    refused = (
        "sms_inbound_messages_total",
        (("command", "DAFTAR"), ("outcome", "refused"), ("transport", "twilio")),
    )
    retry = (
        "sms_inbound_messages_total",
        (("command", "retry"), ("outcome", "duplicate"), ("transport", "twilio")),
    )
    before = scrape(client)

    headers = {"X-Twilio-Signature": sign(BASE_FORM)}
    client.post("/sms/twilio", data=BASE_FORM, headers=headers)
    client.post("/sms/twilio", data=BASE_FORM, headers=headers)  # a Twilio retry
    other = BASE_FORM | {"MessageSid": "SM" + "9" * 32, "From": phone(2)}
    client.post("/sms/twilio", data=other, headers={"X-Twilio-Signature": sign(other)})
    send(f"DAFTAR {nik(3)} 9-12-2026", sender=phone(3))

    after = scrape(client)
    for key, delta in ((daftar_ok, 1), (refused, 1), (retry, 1)):
        assert after.get(key, 0) - before.get(key, 0) == delta, key
    assert after[("sms_bookings", (("date", "2026-12-08"), ("office", "PMK")))] == 1
    assert after[("sms_bookings", (("date", "2026-12-09"), ("office", "PMK")))] == 1
    latency = ("sms_http_request_seconds_count", (("endpoint", "twilio.inbound"),))
    assert after[latency] - before.get(latency, 0) == 3
    assert VALID_NIK not in client.get("/metrics").get_data(as_text=True)
    # Two bookings, two records in the audit chain: the chain grows with the work.
    assert after[("sms_audit_chain_records", ())] - before[("sms_audit_chain_records", ())] == 2


def test_outbox_backlog_and_failures_are_gauges(gateway: Gateway) -> None:
    with gateway.sessions.begin() as session:
        for i in range(3):
            gateway.outbound.enqueue(session, phone(i), "halo", gateway.clock())
    client = create_app(gateway.settings, gateway=gateway).test_client()
    assert scrape(client)[("sms_outbox_messages", (("status", "pending"),))] == 3


@pytest.fixture(autouse=True)
def _no_multiprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


def test_json_log_lines_mask_every_nik(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    from sms_gateway.config import LoggingSettings
    from sms_gateway.logs import configure_logging

    configure_logging(LoggingSettings(format="json"))
    logging.getLogger("sms_gateway.test").warning("got DAFTAR %s 8/12", VALID_NIK)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "sms_gateway.test"
    assert entry["message"] == "got DAFTAR 3528********0001 8/12"
    assert VALID_NIK not in line

"""The Twilio webhook, table-driven like courier's handler tests: happy and unhappy paths."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from sms_gateway.app import create_app
from sms_gateway.config import ConfigError, Settings, load_settings
from sms_gateway.gateway import Gateway
from tests.conftest import AUTH_TOKEN, VALID_NIK, Clock, count, database_down, write_config

URL = "http://localhost/sms/twilio"

# A real inbound payload's shape (REFERENCE.md 1.1), with our values.
BASE_FORM = {
    "ToCountry": "ID",
    "ToState": "",
    "SmsMessageSid": "SM0123456789abcdef0123456789abcdef",
    "NumMedia": "0",
    "ToCity": "",
    "FromZip": "",
    "SmsSid": "SM0123456789abcdef0123456789abcdef",
    "FromState": "",
    "SmsStatus": "received",
    "FromCity": "",
    "Body": f"DAFTAR {VALID_NIK} 8-12-2026",
    "FromCountry": "ID",
    "To": "+6282140000001",
    "ToZip": "",
    "NumSegments": "1",
    "ReferralNumMedia": "0",
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": "+6281234567890",
    "ApiVersion": "2010-04-01",
}


def sign(form: dict[str, str], url: str = URL, token: str = AUTH_TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, form)
    return signature


def reply_text(body: bytes) -> str:
    root = ElementTree.fromstring(body)
    assert root.tag == "Response"
    message = root.find("Message")
    assert message is not None and message.text is not None, body
    return message.text


@pytest.fixture
def app(gateway: Gateway, settings: Settings) -> Flask:
    return create_app(settings, gateway=gateway)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bookings(gateway: Gateway) -> int:
    return count(gateway, "SELECT count(*) FROM bookings")


def messages(gateway: Gateway) -> int:
    return count(gateway, "SELECT count(*) FROM messages")


def _without(form: dict[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in form.items() if k != key}


CASES = [
    # id, form, signature ("ok" = valid, None = header absent, other = literal), status, booked
    ("valid", BASE_FORM, "ok", 200, 1),
    ("unsigned", BASE_FORM, None, 403, 0),
    ("empty-signature", BASE_FORM, "", 403, 0),
    ("forged-with-another-token", BASE_FORM, sign(BASE_FORM, token="not-the-token"), 403, 0),
    ("signed-for-another-url", BASE_FORM, sign(BASE_FORM, url="https://evil.example/sms"), 403, 0),
    (
        "tampered-body",
        BASE_FORM | {"Body": f"DAFTAR {VALID_NIK} 9-12-2026"},
        sign(BASE_FORM),
        403,
        0,
    ),
    ("missing-body", _without(BASE_FORM, "Body"), "ok", 400, 0),
    ("missing-from", _without(BASE_FORM, "From"), "ok", 400, 0),
    ("missing-to", _without(BASE_FORM, "To"), "ok", 400, 0),
    ("missing-message-sid", _without(BASE_FORM, "MessageSid"), "ok", 400, 0),
    ("from-not-a-phone", BASE_FORM | {"From": "whatsapp:hello"}, "ok", 400, 0),
    ("to-not-a-phone", BASE_FORM | {"To": "z" * 300}, "ok", 200, 1),
    ("empty-form", {}, "ok", 400, 0),
]


@pytest.mark.parametrize(
    ("form", "signature", "status", "booked"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_webhook_request(
    client: FlaskClient,
    gateway: Gateway,
    form: dict[str, str],
    signature: str | None,
    status: int,
    booked: int,
) -> None:
    headers = {}
    if signature is not None:
        headers["X-Twilio-Signature"] = sign(form) if signature == "ok" else signature
    response = client.post("/sms/twilio", data=form, headers=headers)
    assert response.status_code == status, response.data
    assert bookings(gateway) == booked
    if status == 200:
        assert response.content_type.startswith("text/xml")
        assert reply_text(response.data).startswith("Terdaftar! Antrean PMK-001 ")
    else:
        assert messages(gateway) == 0  # a refused request is not even logged as a message


def test_valid_reply_is_twiml_with_one_message(client: FlaskClient) -> None:
    response = client.post(
        "/sms/twilio", data=BASE_FORM, headers={"X-Twilio-Signature": sign(BASE_FORM)}
    )
    root = ElementTree.fromstring(response.data)
    assert [child.tag for child in root] == ["Message"]


def test_twilio_retry_with_the_same_message_sid_gets_the_same_reply_and_changes_nothing(
    client: FlaskClient, gateway: Gateway
) -> None:
    headers = {"X-Twilio-Signature": sign(BASE_FORM)}
    first = client.post("/sms/twilio", data=BASE_FORM, headers=headers)
    again = client.post("/sms/twilio", data=BASE_FORM, headers=headers)
    assert again.status_code == 200
    assert reply_text(again.data) == reply_text(first.data)
    assert bookings(gateway) == 1
    assert messages(gateway) == 2
    # A new MessageSid with the same text is a new message: it finds the same booking.
    other = BASE_FORM | {"MessageSid": "SM" + "f" * 32}
    response = client.post("/sms/twilio", data=other, headers={"X-Twilio-Signature": sign(other)})
    assert reply_text(response.data).startswith("Sudah terdaftar: antrean PMK-001")
    assert bookings(gateway) == 1


def test_the_to_number_chooses_the_office(client: FlaskClient) -> None:
    form = BASE_FORM | {"To": "+6281330000002"}
    response = client.post("/sms/twilio", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert "Kantor Imigrasi Malang" in reply_text(response.data)


def test_national_from_number_is_normalised(client: FlaskClient, gateway: Gateway) -> None:
    form = BASE_FORM | {"From": "081234567890"}
    client.post("/sms/twilio", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert count(gateway, "SELECT count(*) FROM bookings WHERE phone = '+6281234567890'") == 1


def test_get_is_not_allowed(client: FlaskClient) -> None:
    assert client.get("/sms/twilio").status_code == 405


def test_oversized_request_is_refused(client: FlaskClient, gateway: Gateway) -> None:
    form = BASE_FORM | {"Body": "x" * 100_000}
    response = client.post("/sms/twilio", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert response.status_code == 413
    assert messages(gateway) == 0


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(
    app: Flask, gateway: Gateway, tmp_path: Path
) -> None:
    from sms_gateway.db import create_db_engine

    gateway.engine.dispose()
    gateway.engine = create_db_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "database unreachable"}


def test_an_internal_failure_answers_an_apology_not_a_500(
    client: FlaskClient, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(message: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gateway.inbox, "handle", broken)
    response = client.post(
        "/sms/twilio", data=BASE_FORM, headers={"X-Twilio-Signature": sign(BASE_FORM)}
    )
    assert response.status_code == 200
    assert reply_text(response.data).startswith("Maaf, sistem sedang gangguan")


# -- behind a proxy ----------------------------------------------------------------------


def _app_with(tmp_path: Path, db_url: str, server: str, clock: Clock) -> tuple[Flask, Gateway]:
    settings = load_settings(write_config(tmp_path, db_url, extra=server), env={})
    gateway = Gateway(settings, clock=clock)
    return create_app(settings, gateway=gateway), gateway


def test_public_url_is_used_to_check_the_signature(
    tmp_path: Path, db_url: str, clock: Clock
) -> None:
    public = "https://sms.imigrasi.example.go.id/gateway/sms/twilio"
    app, gateway = _app_with(
        tmp_path,
        db_url,
        """
        [server]
        public_url = "https://sms.imigrasi.example.go.id/gateway"
    """,
        clock,
    )
    try:
        client = app.test_client()
        good = client.post(
            "/sms/twilio",
            data=BASE_FORM,
            headers={"X-Twilio-Signature": sign(BASE_FORM, url=public)},
        )
        assert good.status_code == 200
        local = client.post(
            "/sms/twilio",
            data=BASE_FORM | {"MessageSid": "SM2"},
            headers={"X-Twilio-Signature": sign(BASE_FORM | {"MessageSid": "SM2"})},
        )
        assert local.status_code == 403
    finally:
        gateway.close()


def test_forwarded_headers_are_trusted_only_when_enabled(
    tmp_path: Path, db_url: str, clock: Clock
) -> None:
    public = "https://sms.imigrasi.example.go.id/sms/twilio"
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "sms.imigrasi.example.go.id",
        "X-Twilio-Signature": sign(BASE_FORM, url=public),
    }
    app, gateway = _app_with(tmp_path, db_url, "[server]\nproxy_hops = 1\n", clock)
    try:
        assert (
            app.test_client().post("/sms/twilio", data=BASE_FORM, headers=headers).status_code
            == 200
        )
    finally:
        gateway.close()
    app, gateway = _app_with(tmp_path, db_url, "", clock)
    try:
        assert (
            app.test_client().post("/sms/twilio", data=BASE_FORM, headers=headers).status_code
            == 403
        )
    finally:
        gateway.close()


# -- without an auth token ---------------------------------------------------------------


def test_no_auth_token_refuses_to_build_the_app_unless_unsigned_is_allowed(
    settings: Settings, gateway: Gateway
) -> None:
    tokenless = dataclasses.replace(
        settings, twilio=dataclasses.replace(settings.twilio, auth_token=None)
    )
    with pytest.raises(ConfigError, match="auth_token"):
        create_app(tokenless, gateway=gateway)
    app = create_app(tokenless, gateway=gateway, allow_unsigned=True)
    response = app.test_client().post("/sms/twilio", data=BASE_FORM)
    assert response.status_code == 200
    assert reply_text(response.data).startswith("Terdaftar!")


def test_known_signature_vector_from_twilio_docs() -> None:
    # REFERENCE.md 1.2: Twilio's published example, to pin the validator we rely on.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert (
        RequestValidator("12345").compute_signature(url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )


def test_a_database_outage_answers_503_not_an_apology(
    client: FlaskClient, gateway: Gateway
) -> None:
    with database_down(gateway):
        response = client.post(
            "/sms/twilio", data=BASE_FORM, headers={"X-Twilio-Signature": sign(BASE_FORM)}
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
    assert bookings(gateway) == 0


@pytest.mark.parametrize(
    ("signed_url", "valid"),
    [
        pytest.param("http://localhost/sms/twilio", True, id="as-requested"),
        pytest.param("http://localhost:80/sms/twilio", True, id="with-the-default-port"),
        pytest.param("http://localhost:8080/sms/twilio", False, id="with-another-port"),
        pytest.param("https://localhost/sms/twilio", False, id="another-scheme"),
    ],
)
def test_the_validator_accepts_what_twilios_own_accepts(signed_url: str, valid: bool) -> None:
    # The adapter's validator tries the URL as requested first, then falls back to
    # the library's check (with and without the port): same verdicts as the library.
    from sms_gateway.channels.twilio.adapter import _Validator

    url = "http://localhost/sms/twilio"
    signature = sign(BASE_FORM, url=signed_url)
    assert _Validator(AUTH_TOKEN).validate(url, BASE_FORM, signature) is valid
    assert RequestValidator(AUTH_TOKEN).validate(url, BASE_FORM, signature) is valid

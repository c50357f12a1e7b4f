"""Twilio and console senders: what reaches Twilio's API and how its answers read.

Nothing here touches the network: ``RecordingHttpClient`` plugs into twilio's
own HTTP-client layer (``Client(..., http_client=...)``), records every request
the real twilio library builds, and answers with canned, real-shaped bodies.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.request import Request as TwilioRequest
from twilio.http.response import Response

from sms_gateway.channels.console import ConsoleSender
from sms_gateway.channels.twilio import sender as twilio_sender
from sms_gateway.channels.twilio.sender import TwilioSender
from sms_gateway.config import Settings, TwilioSettings, load_settings
from sms_gateway.sending import SendError

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
NUMBER = "+15005550006"
TO = "+6281234567890"
TEXT = "Nomor PMK-007, PAGI 08:00-12:00 Sen 30-11-2026"
CALLBACK = "https://gateway.example.org/sms/twilio/status"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@dataclass
class RecordedRequest:
    """One request as twilio's client handed it to the HTTP layer."""

    method: str
    url: str
    params: dict[str, object] | None
    data: dict[str, object] | None
    headers: dict[str, str] | None
    auth: tuple[str, str] | None
    timeout: float | None


class RecordingHttpClient(HttpClient):
    """A twilio HttpClient that records requests and answers from a queue, offline.

    Queue answers with ``reply(status, body)`` (a dict is sent as JSON, a str as
    is) or ``fail(exception)`` (raised instead of answering, like a network error).
    A request with nothing queued fails the test loudly.
    """

    def __init__(self) -> None:
        # The base class sets logger, is_async, timeout and the _test_only_last_* slots.
        super().__init__(logging.getLogger(__name__), is_async=False, timeout=None)
        self.requests: list[RecordedRequest] = []
        self.answers: deque[Response | BaseException] = deque()

    def reply(self, status: int, body: dict[str, Any] | str) -> RecordingHttpClient:
        """Queue one answer; return self so calls can be chained."""
        text = body if isinstance(body, str) else json.dumps(body)
        self.answers.append(Response(status, text, {"Content-Type": "application/json"}))
        return self

    def fail(self, error: BaseException) -> RecordingHttpClient:
        """Queue an exception to raise in place of an answer."""
        self.answers.append(error)
        return self

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Record the request and return (or raise) the next queued answer."""
        self.requests.append(RecordedRequest(method, url, params, data, headers, auth, timeout))
        # Passed as TwilioHttpClient.request passes them, as a dict: twilio's Request is
        # annotated without None (or object values), but takes them, and twilio sends them.
        recorded: dict[str, Any] = {
            "method": method,
            "url": url,
            "auth": auth,
            "params": params,
            "data": data,
            "headers": headers,
        }
        self._test_only_last_request = TwilioRequest(**recorded)
        self._test_only_last_response = None
        if not self.answers:
            raise AssertionError(f"unexpected request {method} {url}: no answer queued")
        answer = self.answers.popleft()
        if isinstance(answer, BaseException):
            raise answer
        self._test_only_last_response = answer
        return answer


def message_resource(sid: str, to: str = TO, body: str = TEXT, **changes: Any) -> dict[str, Any]:
    """Return a Message resource as Twilio answers a create (HTTP 201)."""
    resource: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": "Fri, 27 Nov 2026 03:00:00 +0000",
        "date_sent": None,
        "date_updated": "Fri, 27 Nov 2026 03:00:00 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": NUMBER,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"
        },
        "to": to,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }
    resource.update(changes)
    return resource


def api_error(status: int, code: int, message: str) -> dict[str, Any]:
    """Return an error body as Twilio's REST API sends it."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


SID_1 = "SM" + "1" * 32
SID_2 = "SM" + "2" * 32


@pytest.fixture(autouse=True)
def no_twilio_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's TWILIO_* variables out: twilio's Client reads them as fallbacks."""
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_EDGE", "TWILIO_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def defaults() -> Settings:
    return load_settings(None, env={})


def with_twilio(settings: Settings, **changes: str | None) -> Settings:
    """Return settings with a complete [twilio] section, changed by ``changes``."""
    twilio = TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, number=NUMBER)
    return dataclasses.replace(settings, twilio=dataclasses.replace(twilio, **changes))


@pytest.fixture
def fake() -> RecordingHttpClient:
    return RecordingHttpClient()


# -- success ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected_fields"),
    [
        ({}, {"From": NUMBER}),
        ({"status_callback": CALLBACK}, {"From": NUMBER, "StatusCallback": CALLBACK}),
        # A Messaging Service picks the sender, so the configured number is not sent.
        ({"messaging_service_sid": SERVICE_SID}, {"MessagingServiceSid": SERVICE_SID}),
        (
            {"messaging_service_sid": SERVICE_SID, "status_callback": CALLBACK},
            {"MessagingServiceSid": SERVICE_SID, "StatusCallback": CALLBACK},
        ),
    ],
)
def test_send_posts_one_message_and_returns_its_sid(
    defaults: Settings,
    fake: RecordingHttpClient,
    options: dict[str, str],
    expected_fields: dict[str, str],
) -> None:
    fake.reply(201, message_resource(SID_1))
    sender = TwilioSender(with_twilio(defaults), http_client=fake, **options)
    assert sender.send(TO, TEXT, 42) == SID_1
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.url == MESSAGES_URL
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.data == {"To": TO, "Body": TEXT, **expected_fields}
    assert request.headers is not None
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_the_client_is_built_once_not_per_message(
    defaults: Settings, fake: RecordingHttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    real_client = twilio_sender.Client

    def counting_client(*args: Any, **kwargs: Any) -> Any:
        built.append(args)
        return real_client(*args, **kwargs)

    monkeypatch.setattr(twilio_sender, "Client", counting_client)
    fake.reply(201, message_resource(SID_1)).reply(201, message_resource(SID_2))
    sender = TwilioSender(with_twilio(defaults), http_client=fake)
    assert [sender.send(TO, TEXT, 1), sender.send(TO, TEXT, 2)] == [SID_1, SID_2]
    assert built == [(ACCOUNT_SID, AUTH_TOKEN)]
    assert len(fake.requests) == 2


def test_the_default_http_client_has_a_timeout(defaults: Settings) -> None:
    # twilio's own default waits forever on a stuck connection.
    sender = TwilioSender(with_twilio(defaults))
    assert sender.client.http_client.timeout == twilio_sender.TIMEOUT_S


# -- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, api_error(503, 20503, "Service Unavailable")),
        (429, api_error(429, 20429, "Too Many Requests")),
        (500, api_error(500, 20500, "Internal Server Error")),
        (502, "<html><body>502 Bad Gateway</body></html>"),  # an edge proxy, not JSON
    ],
)
def test_transient_failure_is_temporary_and_the_next_send_succeeds(
    defaults: Settings, fake: RecordingHttpClient, status: int, body: dict[str, Any] | str
) -> None:
    fake.reply(status, body).reply(201, message_resource(SID_2))
    sender = TwilioSender(with_twilio(defaults), http_client=fake)
    with pytest.raises(SendError, match=rf"HTTP {status}\b") as failure:
        sender.send(TO, TEXT, 7)
    assert failure.value.permanent is False
    assert len(fake.requests) == 1  # no retry inside the sender: that is the caller's job
    assert sender.send(TO, TEXT, 7) == SID_2
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("status", "code", "message", "permanent"),
    [
        (400, 21211, f"The 'To' number {TO}9 is not a valid phone number.", True),
        (400, 21610, "Attempt to send to unsubscribed recipient", True),
        (400, 21614, f"'To' number {TO} is not a valid mobile number", True),
        (
            400,
            21408,
            f"Permission to send an SMS has not been enabled for the region "
            f"indicated by the 'To' number: {TO}",
            True,
        ),
        (401, 20003, "Authenticate", True),
        (404, 20404, "The requested resource was not found", True),
        # Over 10 hours of messages queued for the sender: it drains with time.
        (
            400,
            21611,
            "This 'From' number has exceeded the maximum number of queued messages",
            False,
        ),
    ],
)
def test_api_errors_name_the_twilio_code_and_say_whether_to_retry(
    defaults: Settings,
    fake: RecordingHttpClient,
    status: int,
    code: int,
    message: str,
    permanent: bool,
) -> None:
    fake.reply(status, api_error(status, code, message))
    sender = TwilioSender(with_twilio(defaults), http_client=fake)
    with pytest.raises(SendError) as failure:
        sender.send(TO, TEXT, 3)
    text = str(failure.value)
    assert failure.value.permanent is permanent
    assert f"error {code}" in text
    assert f"HTTP {status}" in text
    assert message[:40] in text  # Twilio's own explanation, without twilio's prefix
    assert "Unable to create record" not in text
    assert "\n" not in text
    assert len(fake.requests) == 1


def test_rfc9457_error_bodies_are_mapped_too(defaults: Settings, fake: RecordingHttpClient) -> None:
    # twilio raises TwilioServiceException (not TwilioRestException) for this shape.
    problem = {
        "type": "https://www.twilio.com/docs/errors/21211",
        "title": "Invalid 'To' Phone Number",
        "status": 400,
        "code": 21211,
        "detail": f"The 'To' number {TO}9 is not a valid phone number.",
    }
    fake.reply(400, problem).reply(503, {**problem, "status": 503, "code": 20503})
    sender = TwilioSender(with_twilio(defaults), http_client=fake)
    with pytest.raises(SendError, match=r"error 21211\b.*not a valid phone number") as failure:
        sender.send(TO, TEXT, 3)
    assert failure.value.permanent is True
    with pytest.raises(SendError, match="HTTP 503") as failure:
        sender.send(TO, TEXT, 3)
    assert failure.value.permanent is False


def test_long_twilio_messages_are_cut_to_one_short_line(
    defaults: Settings, fake: RecordingHttpClient
) -> None:
    fake.reply(400, api_error(400, 21617, "The concatenated message body\nis too long. " * 20))
    sender = TwilioSender(with_twilio(defaults), http_client=fake)
    with pytest.raises(SendError) as failure:
        sender.send(TO, TEXT, 3)
    text = str(failure.value)
    assert "\n" not in text
    assert text.endswith("...")
    assert len(text) < 300


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectionError("Failed to establish a new connection: [Errno 111]"),
        requests.ReadTimeout("Read timed out. (read timeout=15)"),
        TwilioException("HttpClient is an abstract class"),
    ],
    ids=["connection", "timeout", "twilio-client"],
)
def test_network_failures_are_temporary(
    defaults: Settings, fake: RecordingHttpClient, error: BaseException
) -> None:
    fake.fail(error).reply(201, message_resource(SID_1))
    sender = TwilioSender(with_twilio(defaults), http_client=fake)
    with pytest.raises(SendError, match=re.escape(str(error)[:12])) as failure:
        sender.send(TO, TEXT, 5)
    assert failure.value.permanent is False
    assert len(fake.requests) == 1
    assert sender.send(TO, TEXT, 5) == SID_1


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"account_sid": None}, r"\[twilio\] account_sid"),
        ({"auth_token": None}, r"\[twilio\] auth_token"),
        ({"number": None}, r"\[twilio\] number"),
        ({"account_sid": None, "auth_token": None, "number": None}, r"\[twilio\] account_sid"),
    ],
)
def test_missing_configuration_is_permanent_and_names_the_key(
    defaults: Settings, fake: RecordingHttpClient, changes: dict[str, None], key: str
) -> None:
    sender = TwilioSender(with_twilio(defaults, **changes), http_client=fake)  # never raises
    with pytest.raises(SendError, match=key) as failure:
        sender.send(TO, TEXT, 1)
    assert failure.value.permanent is True
    assert fake.requests == []  # refused before any request


def test_a_messaging_service_stands_in_for_a_missing_number(
    defaults: Settings, fake: RecordingHttpClient
) -> None:
    fake.reply(201, message_resource(SID_1, messaging_service_sid=SERVICE_SID, status="accepted"))
    settings = with_twilio(defaults, number=None)
    sender = TwilioSender(settings, http_client=fake, messaging_service_sid=SERVICE_SID)
    assert sender.send(TO, TEXT, 1) == SID_1
    assert fake.requests[0].data == {"To": TO, "Body": TEXT, "MessagingServiceSid": SERVICE_SID}


def test_constructing_without_any_twilio_configuration_never_fails(
    defaults: Settings, fake: RecordingHttpClient
) -> None:
    assert defaults.twilio == TwilioSettings()  # the built-in defaults have no account
    TwilioSender(defaults)  # with twilio's real HTTP client, which makes no request yet
    sender = TwilioSender(defaults, http_client=fake)
    with pytest.raises(SendError, match="account_sid is not configured") as failure:
        sender.send(TO, TEXT, 1)
    assert failure.value.permanent is True
    assert fake.requests == []


# -- console ------------------------------------------------------------------------------


def test_console_sender_prints_one_line_and_returns_an_id(defaults: Settings) -> None:
    stream = io.StringIO()
    sender = ConsoleSender(defaults, stream=stream)
    assert sender.name == "console"
    assert sender.send(TO, TEXT, 12) == "console-12"
    assert stream.getvalue() == f"SMS to {TO} (#12): {TEXT}\n"


def test_console_sender_writes_to_stdout_by_default(
    defaults: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ConsoleSender(defaults).send(TO, "Halo", 3) == "console-3"
    assert capsys.readouterr().out == f"SMS to {TO} (#3): Halo\n"

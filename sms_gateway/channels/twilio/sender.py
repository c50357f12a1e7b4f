"""Send through Twilio's Programmable Messaging REST API (``client.messages.create``).

Each ``send`` makes exactly one API request and returns the Message SID
(``SM...``); retrying is the caller's job. A ``SendError`` is *permanent* when
trying the same message again cannot help (bad or unsubscribed number, region
not enabled, wrong credentials, missing configuration) and temporary when it
might (HTTP 429, Twilio 5xx, network failures), as healthchecks' transports do.

Indonesia (REFERENCE.md 1.0): Twilio can deliver outbound SMS to Indonesian
mobiles but offers no two-way SMS there, so citizens cannot text an Indonesian
Twilio number; inbound SMS needs Kannel or Gammu. Alphanumeric sender IDs for
Indonesia must be registered with the operators beforehand, otherwise they
are replaced or the messages are filtered.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from sms_gateway.config import ENV_TWILIO_ACCOUNT_SID, ENV_TWILIO_AUTH_TOKEN, Settings
from sms_gateway.sending import SendError

# twilio's default HTTP client waits forever; a stuck API call must not hold a worker.
TIMEOUT_S = 15
# Error codes that come with HTTP 400 but clear up with time: 21611 means the
# sender's queue holds over 10 hours of messages (REFERENCE.md 1.6).
TEMPORARY_CODES = frozenset({21611})
MAX_DETAIL = 200


class TwilioSender:
    """Hand SMS to Twilio's Messages API."""

    name = "twilio"

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: HttpClient | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        self.config = settings.twilio
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        # One client (and so one pooled HTTP session) for all messages. Building it
        # makes no request and accepts missing credentials, so this never fails.
        self.client = Client(
            self.config.account_sid,
            self.config.auth_token,
            http_client=http_client or TwilioHttpClient(timeout=TIMEOUT_S),
        )

    def check(self) -> None:
        """Raise a permanent SendError naming the first missing configuration key."""
        if not self.config.account_sid:
            raise SendError(
                f"[twilio] account_sid is not configured (or set env {ENV_TWILIO_ACCOUNT_SID})",
                permanent=True,
            )
        if not self.config.auth_token:
            raise SendError(
                f"[twilio] auth_token is not configured (or set env {ENV_TWILIO_AUTH_TOKEN})",
                permanent=True,
            )
        if not self.config.number and not self.messaging_service_sid:
            raise SendError(
                "[twilio] number is not configured (and no messaging service SID was given)",
                permanent=True,
            )

    def send(self, to: str, text: str, message_id: int) -> str | None:
        """Create one Twilio message; return its SID, raise SendError if Twilio refused it."""
        self.check()
        params: dict[str, str] = {"to": to, "body": text}
        # A Messaging Service picks the sender itself, so it wins over the fixed number.
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            assert self.config.number is not None  # check() made sure
            params["from_"] = self.config.number
        if self.status_callback:
            params["status_callback"] = self.status_callback
        try:
            message = self.client.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _api_error(exc) from None
        except requests.RequestException as exc:
            # A read timeout is ambiguous (Twilio may have taken the message), but
            # losing a message is worse than sending it twice, so it is temporary.
            raise SendError(f"Twilio API unreachable: {_one_line(exc)}", permanent=False) from None
        except TwilioException as exc:
            raise SendError(f"Twilio client error: {_one_line(exc)}", permanent=False) from None
        return message.sid


def _api_error(exc: TwilioRestException | TwilioServiceException) -> SendError:
    """Turn an error answer from the API into a SendError that says whether to retry."""
    if isinstance(exc, TwilioRestException):
        # twilio prefixes Twilio's own message with "Unable to create record: ".
        detail = str(exc.msg).removeprefix("Unable to create record: ")
    else:
        detail = exc.detail or exc.title
    # Without a JSON body twilio reports the HTTP status as the code; do not repeat it.
    code = exc.code if exc.code not in (None, exc.status) else None
    where = f"HTTP {exc.status}" + (f", error {code}" if code else "")
    temporary = exc.status == 429 or exc.status >= 500 or code in TEMPORARY_CODES
    if temporary:
        return SendError(
            f"Twilio is busy or failing ({where}): {_one_line(detail)}", permanent=False
        )
    return SendError(f"Twilio rejected the message ({where}): {_one_line(detail)}", permanent=True)


def _one_line(text: object) -> str:
    """Return ``text`` on one line, cut to MAX_DETAIL characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 3] + "..."

"""Gammu SMSD: ``sms-gateway gammu-receive`` runs as SMSD's ``RunOnReceive``.

SMSD (driving a USB GSM modem) runs the command once per received message,
with the message in its environment (REFERENCE.md 3): ``SMS_MESSAGES`` parts,
``SMS_n_NUMBER``/``SMS_n_TEXT`` per part, and ``DECODED_PARTS`` /
``DECODED_n_TEXT`` for a reassembled multipart text. It appends the stored
message ids (inbox file names with ``Service = files``) as arguments; the first
one serves as the message's id, so a replay of the same message is answered
once.

SMSD waits for the command and receives nothing else meanwhile (gammu-smsd
1.42 sets no time limit of its own), so this returns quickly: if the database
is unavailable it retries for ``[gammu] receive_timeout`` seconds, then exits
75. SMSD logs "Process failed with exit status 75" but does not run
``RunOnFailure`` for it; with ``Service = files`` the message stays in the
inbox folder, and ``gammu-receive --replay FILE...`` handles it later. Replays
are safe to repeat: the inbox file name is the message's id.

The reply is queued in SMSD's outbox with ``gammu-smsd-inject``.
"""

from __future__ import annotations

import configparser
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError, OperationalError

from sms_gateway.channels.gammu.sender import GammuSender
from sms_gateway.config import Settings
from sms_gateway.gateway import Gateway, system_clock
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.phones import PhoneError, normalize_phone

log = logging.getLogger(__name__)

TRANSPORT = "gammu"
MAX_BACKOFF_S = 5.0


class NotFromSmsd(Exception):
    """The environment does not hold a message from Gammu SMSD."""


class NotAnSms(Exception):
    """SMSD ran us for something that is not a citizen's SMS (a USSD answer, no sender)."""


class DatabaseUnavailable(Exception):
    """The database stayed unreachable for the whole receive timeout."""


def _env_text(value: str) -> str:
    # The environment is decoded as UTF-8 with surrogate escapes; never let a stray
    # byte crash the receiver.
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _count(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    value = env.get(name)
    if value is None and default is not None:
        return default
    try:
        count = int(value or "")
    except ValueError:
        raise NotFromSmsd(f"{name} is {value!r}, not a number") from None
    if count < 0 or count > 255:
        raise NotFromSmsd(f"{name} is out of range ({count})")
    return count


def message_from_environment(env: Mapping[str, str], ids: Sequence[str]) -> InboundMessage:
    """Read the received SMS from SMSD's environment, reassembling multipart text."""
    if "SMS_MESSAGES" not in env or "SMS_1_NUMBER" not in env:
        raise NotFromSmsd(
            "SMS_MESSAGES and SMS_1_NUMBER are not set: run this from Gammu SMSD's RunOnReceive "
            "(or use --replay with inbox files)"
        )
    # USSD answers (e.g. a prepaid balance check) come with class 127 and no sender.
    if env.get("SMS_1_CLASS") == "127" or not env["SMS_1_NUMBER"].strip():
        raise NotAnSms(f"class {env.get('SMS_1_CLASS')}, sender {env['SMS_1_NUMBER']!r}")
    parts = _count(env, "SMS_MESSAGES")
    decoded = _count(env, "DECODED_PARTS", default=0)
    # Gammu's own rule: decoded (reassembled) parts when there are any, else raw parts.
    if decoded:
        text = "".join(env.get(f"DECODED_{i}_TEXT", "") for i in range(1, decoded + 1))
    else:
        text = "".join(env.get(f"SMS_{i}_TEXT", "") for i in range(1, parts + 1))
    try:
        sender = normalize_phone(env["SMS_1_NUMBER"])
    except PhoneError:
        raise NotFromSmsd(f"SMS_1_NUMBER {env['SMS_1_NUMBER']!r} is not a phone number") from None
    first_id = ids[0].rsplit("/", 1)[-1][:64] if ids else None
    return InboundMessage(
        transport=TRANSPORT,
        sender=sender,
        text=_env_text(text),
        external_id=first_id or None,
        reply_inline=False,
    )


def message_from_inbox_file(path: Path) -> InboundMessage:
    """Read a message SMSD stored in its inbox folder (``InboxFormat = detail``).

    The file is Gammu's smsbackup format: one ``[SMSBackupNNN]`` section per part,
    the text as hex UTF-16BE in ``Text00``, ``Text01``... and ``UDH`` on multipart
    messages, whose last byte is the part's sequence number.
    """
    parser = configparser.ConfigParser(
        interpolation=None, strict=False, comment_prefixes=(";", "#")
    )
    try:
        parser.read_string(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, configparser.Error) as exc:
        raise NotFromSmsd(f"{path}: not a Gammu inbox file ({exc})") from None
    sections = [parser[name] for name in parser.sections() if name.lower().startswith("smsbackup")]
    if not sections:
        raise NotFromSmsd(f"{path}: no message in it (SMSD needs InboxFormat = detail)")
    number = sections[0].get("number", "").strip().strip('"')

    def sequence(section: configparser.SectionProxy) -> int:
        udh = section.get("udh", "").strip()
        return int(udh[-2:], 16) if len(udh) >= 2 else 0

    texts = []
    for section in sorted(sections, key=sequence):
        if section.get("coding", "").lower().startswith("8bit"):
            raise NotAnSms(f"{path}: 8-bit data message")
        hex_text = "".join(section[key] for key in sorted(section) if key.startswith("text"))
        try:
            texts.append(bytes.fromhex(hex_text).decode("utf-16-be"))
        except ValueError:
            raise NotFromSmsd(f"{path}: damaged text in {section.name}") from None
    env = {
        "SMS_MESSAGES": str(len(sections)),
        "SMS_1_NUMBER": number,
        "SMS_1_CLASS": sections[0].get("class", "-1"),
        "DECODED_PARTS": "1",
        "DECODED_1_TEXT": "".join(texts),
    }
    return message_from_environment(env, [path.name])


def receive(
    settings: Settings,
    message: InboundMessage,
    *,
    clock: Callable[[], datetime] = system_clock,
    sleep: Callable[[float], None] = time.sleep,
) -> Reply:
    """Handle the message and queue its reply in SMSD's outbox.

    Raises DatabaseUnavailable after ``[gammu] receive_timeout`` seconds of
    database errors, and SendError if the reply could not be queued; in both
    cases a replay of the same message (same id) finishes the job.
    """
    deadline = time.monotonic() + settings.gammu.receive_timeout
    delay = 0.25
    while True:
        try:
            gateway = Gateway(settings, clock=clock)
            try:
                reply = gateway.handle(message)
                if reply.needs_sending and reply.text and reply.message_id is not None:
                    gateway.outbound.deliver(
                        GammuSender(settings), reply.message_id, message.sender, reply.text
                    )
                return reply
            finally:
                gateway.close()
        except (OperationalError, DBAPIError) as exc:
            # Retried: an OperationalError, or another DBAPIError that lost the connection.
            if not isinstance(exc, OperationalError) and not exc.connection_invalidated:
                raise
            if time.monotonic() + delay > deadline:
                raise DatabaseUnavailable(str(exc.orig or exc).strip().splitlines()[0]) from None
            log.warning(
                "gammu: database unavailable (%s); retrying in %.1fs",
                type(exc.orig or exc).__name__,
                delay,
            )
            sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)

"""Single messages in and out: ``sms``, ``gammu-receive``, ``send``, ``outbox``, ``twilio-curl``."""

from __future__ import annotations

import os
import shlex
from datetime import datetime
from pathlib import Path

import click

from sms_gateway.cli.options import (
    PHONE,
    PhoneNumber,
    format_option,
    now_option,
    open_gateway,
    parse_now,
    text_argument,
    with_settings,
)
from sms_gateway.cli.output import write_rows
from sms_gateway.config import Settings
from sms_gateway.messages import InboundMessage
from sms_gateway.models import SendStatus

# EX_TEMPFAIL: "try again later", for SMSD's RunOnFailure and for operators.
EXIT_TEMPFAIL = 75

OUTBOX_COLUMNS = ("id", "to", "body", "status", "attempts", "created_at", "sent_at", "error")


@click.command()
@click.option(
    "--from", "sender", type=PHONE, required=True, help="The applicant's phone, e.g. 081234567890."
)
@click.option(
    "--to",
    "recipient",
    type=PhoneNumber(short_code=True),
    help="The office number it was sent to (chooses the office).",
)
@now_option()
@text_argument
@with_settings
def sms(
    settings: Settings, sender: str, recipient: str | None, now: str | None, text: tuple[str, ...]
) -> None:
    """Handle one SMS exactly as the webhook would and print the reply."""
    with open_gateway(settings, parse_now(now, settings)) as gateway:
        reply = gateway.handle(
            InboundMessage(transport="cli", sender=sender, recipient=recipient, text=" ".join(text))
        )
    click.echo(reply.text)


@click.command("gammu-receive")
@click.option(
    "--replay",
    is_flag=True,
    help="Handle the inbox files named as arguments (messages SMSD kept after a "
    "failure); safe to repeat.",
)
@click.argument("ids", nargs=-1)
@with_settings
def gammu_receive(settings: Settings, replay: bool, ids: tuple[str, ...]) -> None:
    """Handle the SMS Gammu SMSD received (run as SMSD's RunOnReceive).

    SMSD passes the message in its environment and the stored message ids
    (inbox file names) as arguments. With --replay, the arguments are inbox
    files (InboxFormat = detail) to handle now; each is answered only once.
    """
    from sms_gateway.channels.gammu import smsd as gammu

    if not replay:
        try:
            message = gammu.message_from_environment(os.environ, ids)
        except gammu.NotAnSms as exc:
            click.echo(f"ignored: not an SMS from a phone ({exc})", err=True)
            return
        except gammu.NotFromSmsd as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(_gammu_handle(settings, message))
        return
    if not ids:
        raise click.UsageError("--replay needs the inbox files to handle")
    for name in ids:
        try:
            message = gammu.message_from_inbox_file(Path(name))
        except (gammu.NotFromSmsd, gammu.NotAnSms) as exc:
            click.echo(f"{name}: skipped: {exc}", err=True)
            continue
        click.echo(f"{name}: {_gammu_handle(settings, message)}")


def _gammu_handle(settings: Settings, message: InboundMessage) -> str:
    from sms_gateway.channels.gammu import smsd as gammu
    from sms_gateway.sending import SendError

    try:
        return gammu.receive(settings, message).text
    except gammu.DatabaseUnavailable as exc:
        click.echo(
            f"Error: database unavailable for {settings.gammu.receive_timeout}s ({exc}); "
            "the message was NOT handled: replay it",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_TEMPFAIL) from None
    except SendError as exc:
        click.echo(
            f"Error: the reply could not be queued ({exc}); replay the message to send it", err=True
        )
        raise click.exceptions.Exit(EXIT_TEMPFAIL) from None


@click.command()
@click.option(
    "--via",
    type=click.Choice(["kannel", "gammu"]),
    required=True,
    help="The channel to send through.",
)
@click.option("--to", "recipient", type=PHONE, required=True, help="The phone to send to.")
@click.argument("text", nargs=-1, required=True)
@with_settings
def send(settings: Settings, via: str, recipient: str, text: tuple[str, ...]) -> None:
    """Send one SMS through a channel (to check the wiring); prints the message id."""
    from sms_gateway.channels.registry import sender_for
    from sms_gateway.sending import SendError

    with open_gateway(settings) as gateway:
        try:
            message = gateway.outbound.send(sender_for(via, settings), recipient, " ".join(text))
        except SendError as exc:
            raise click.ClickException(f"{via}: {exc}") from None
    click.echo(
        f"message {message.id} {message.status.value if message.status else ''} via {via}"
        + (f" ({message.external_id})" if message.external_id else "")
    )


@click.command()
@click.option("--status", type=click.Choice([s.value for s in SendStatus]))
@format_option
@with_settings
def outbox(settings: Settings, status: str | None, fmt: str) -> None:
    """List the SMS the gateway sent or will send on its own (not inline replies)."""
    with open_gateway(settings) as gateway:
        messages = gateway.outbound.messages(SendStatus(status) if status else None)
    tz = settings.booking.timezone

    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).isoformat(timespec="seconds") if moment else ""

    rows = [
        {
            "id": str(m.id),
            "to": m.phone,
            "body": m.body,
            "status": m.status.value if m.status else "",
            "attempts": str(m.attempts),
            "created_at": when(m.created_at),
            "sent_at": when(m.sent_at),
            "error": m.error or "",
        }
        for m in messages
    ]
    write_rows(rows, OUTBOX_COLUMNS, fmt, "the outbox is empty")


@click.command("twilio-curl")
@click.option(
    "--url",
    default="http://127.0.0.1:5000/sms/twilio",
    show_default=True,
    help="The webhook URL exactly as Twilio would call it.",
)
@click.option("--from", "sender", type=PHONE, required=True, help="The applicant's phone.")
@click.option("--to", "recipient", help="The office number (default: the first office's).")
@click.option("--sid", help="MessageSid (default: a random one).")
@text_argument
@with_settings
def twilio_curl(
    settings: Settings,
    url: str,
    sender: str,
    recipient: str | None,
    sid: str | None,
    text: tuple[str, ...],
) -> None:
    """Print a curl command that posts a correctly signed Twilio webhook."""
    import secrets

    from twilio.request_validator import RequestValidator

    token = settings.twilio.auth_token
    if not token:
        raise click.ClickException(
            "no Twilio auth token configured (env TWILIO_AUTH_TOKEN or "
            "[twilio] auth_token); nothing to sign with"
        )
    form = {
        "MessageSid": sid or "SM" + secrets.token_hex(16),
        "AccountSid": settings.twilio.account_sid or "AC" + "0" * 32,
        "From": sender,
        "To": recipient or settings.offices[0].sms_number or settings.twilio.number or "",
        "Body": " ".join(text),
        "NumMedia": "0",
    }
    signature = RequestValidator(token).compute_signature(url, form)
    parts = ["curl", "-sS", "-X", "POST", url, "-H", f"X-Twilio-Signature: {signature}"]
    for key, value in form.items():
        parts += ["--data-urlencode", f"{key}={value}"]
    click.echo(shlex.join(parts))

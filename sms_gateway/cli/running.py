"""Running the gateway: ``serve``, ``init-db``, ``worker`` and ``tick``."""

from __future__ import annotations

import ipaddress
import signal
import sys
import threading
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import click

from sms_gateway import migrate
from sms_gateway.cli.options import now_option, open_gateway, parse_now, safe_url, with_settings
from sms_gateway.config import Settings
from sms_gateway.dates import format_date
from sms_gateway.gateway import Gateway
from sms_gateway.logs import QueryFreeRequestHandler

# A made-up NIK for trying the gateway from the banner and the README.
TRY_NIK = "3528011505900001"

TICK_EVERY = timedelta(minutes=1)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@with_settings
def serve(settings: Settings, host: str, port: int) -> None:
    """Run the webhook server (development server; use gunicorn in production)."""
    from sms_gateway.app import create_app, has_credentials

    loopback = _is_loopback(host)
    if not has_credentials(settings) and not loopback:
        raise click.ClickException(
            f"refusing to listen on {host} without a Twilio auth token or a Kannel secret: "
            "anyone could post fake SMS. Set env TWILIO_AUTH_TOKEN / [twilio] auth_token or "
            "KANNEL_SECRET / [kannel] secret, or use --host 127.0.0.1 for a local trial"
        )
    gateway = Gateway(settings)
    # On loopback, unsigned requests only while no credential is set at all; with
    # one, every transport needs its own (app.accepts_unsigned).
    app = create_app(settings, gateway=gateway, allow_unsigned=loopback)
    _print_banner(settings, gateway, host, port)
    app.run(
        host=host,
        port=port,
        threaded=True,
        load_dotenv=False,
        request_handler=QueryFreeRequestHandler,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _print_banner(settings: Settings, gateway: Gateway, host: str, port: int) -> None:
    from sms_gateway.app import has_credentials

    office = settings.offices[0]
    today = gateway.calendar.today(office, gateway.clock())
    day = gateway.calendar.next_bookable(office, today) or today
    exe = Path(sys.argv[0])
    with suppress(ValueError):
        exe = exe.resolve().relative_to(Path.cwd())
    url = f"http://{host}:{port}/sms/twilio"
    body = f"DAFTAR {TRY_NIK} {format_date(day)}"
    lines = [
        f"SMS gateway on http://{host}:{port}  database: {safe_url(settings.database.url)}",
        "Offices: " + ", ".join(f"{o.code} ({o.name})" for o in settings.offices),
        "Try it from another terminal:",
        f'  {exe} sms --from 081234567890 "{body}"',
    ]
    # Once any credential is set, a transport without its own refuses every request
    # (app.accepts_unsigned); only a server with none at all takes unsigned ones.
    trial = not has_credentials(settings)
    if settings.twilio.auth_token:
        lines.append(f'  {exe} twilio-curl --url {url} --from 081234567890 "{body}" | sh')
    elif trial:
        lines.append(
            f"  curl -s {url} -d From=+6281234567890 -d To={office.sms_number or ''} "
            f'-d MessageSid=SMtest$RANDOM --data-urlencode "Body={body}"'
        )
        lines.append("  (no credential at all: unsigned requests are accepted on loopback only)")
    else:
        lines.append("  (no Twilio auth token: /sms/twilio answers 403 to every request)")
    kannel = f"http://{host}:{port}/sms/kannel"
    key = "key=$KANNEL_SECRET&" if settings.kannel.secret else ""
    to = quote(office.sms_number or "1234", safe="")  # "+" in a query string is a space
    refused = "" if settings.kannel.secret or trial else "  (403 until a Kannel secret is set)"
    lines.append(f'  curl -s "{kannel}?{key}from=081234567890&to={to}&text=CEK"{refused}')
    lines.append(
        f"Public pages: http://{host}:{port}/transparansi  "
        f"waiting-room display: http://{host}:{port}/layar/{office.code}"
    )
    click.echo("\n".join(lines), err=True)


@click.command("init-db")
@with_settings
def init_db(settings: Settings) -> None:
    """Create or upgrade the database schema (Alembic upgrade to head)."""
    gateway = Gateway(settings)
    gateway.close()
    click.echo(
        f"database {safe_url(settings.database.url)} is at schema revision "
        f"{migrate.head_revision()}"
    )


@click.command()
@click.option("--once", is_flag=True, help="Do one round and exit (for cron or tests).")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between rounds.",
)
@now_option()
@with_settings
def worker(settings: Settings, once: bool, interval: float, now: str | None) -> None:
    """Send the outbox and close finished days, every few seconds."""
    from sms_gateway.channels.registry import sender_for

    with open_gateway(settings, parse_now(now, settings)) as gateway:
        sender = sender_for(settings.outbound.sender, settings)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        click.echo(f"worker: sending through {sender.name} every {interval:g}s", err=True)
        last_tick: datetime | None = None
        while True:
            now_ = gateway.clock()
            if last_tick is None or now_ - last_tick >= TICK_EVERY:
                # Reminders, releases, the waitlist and the day end, once a minute.
                ticked = gateway.jobs.tick(now_)
                last_tick = now_
                if any(vars(ticked).values()):
                    click.echo(f"worker: {ticked}", err=True)
            gateway.outbound.recover_stale()
            result = gateway.outbound.drain(sender)
            if result.handled:
                click.echo(
                    f"worker: {result.sent} sent, {result.retried} to retry, "
                    f"{result.failed} failed",
                    err=True,
                )
            if once or stop.wait(interval):
                break


@click.command()
@now_option("Run what is due at this moment (ISO-8601); default: now.")
@with_settings
def tick(settings: Settings, now: str | None) -> None:
    """Run every time-driven job due now: reminders, releases, waitlist, day end."""
    with open_gateway(settings, parse_now(now, settings)) as gateway:
        result = gateway.jobs.tick(gateway.clock())
    click.echo(str(result))

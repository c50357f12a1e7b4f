"""The ``sms-gateway`` command: serve, init-db, sms, bookings, twilio-curl.

Every failure the operator can cause (a bad config, an unreachable database,
a malformed argument) ends in one clear line and a non-zero exit, never a
traceback. Set ``SMS_GATEWAY_DEBUG=1`` to see the traceback of an unexpected
failure.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sms_gateway import csv_safe, migrate
from sms_gateway.config import ConfigError, Settings, load_settings
from sms_gateway.dates import format_date
from sms_gateway.gateway import Gateway, system_clock
from sms_gateway.logs import QueryFreeRequestHandler, configure_logging
from sms_gateway.messages import InboundMessage
from sms_gateway.models import Booking, BookingStatus, SendStatus, Staff, StaffRole
from sms_gateway.phones import PhoneError, national_format, normalize_phone

P = ParamSpec("P")
R = TypeVar("R")


class PhoneNumber(click.ParamType):
    """A phone number option, normalised to E.164 (or a short code where allowed)."""

    name = "phone"

    def __init__(self, *, short_code: bool = False) -> None:
        self.short_code = short_code

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return normalize_phone(str(value), allow_short_code=self.short_code)
        except PhoneError:
            what = "a phone number or short code" if self.short_code else "a phone number"
            self.fail(f"{value!r} is not {what}", param, ctx)


PHONE = PhoneNumber()

# A made-up NIK for trying the gateway from the banner and the README.
TRY_NIK = "3528011505900001"

CSV_COLUMNS = (
    "office",
    "date",
    "session",
    "queue_number",
    "phone",
    "nik_masked",
    "status",
    "code",
    "created_at",
)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def _operator_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn the failures an operator can cause into one clear line."""
    try:
        yield
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    except SQLAlchemyError as exc:
        where = _safe_url(settings.database.url) if settings else "the database"
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"database {where}: {reason}") from None


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        with _operator_errors():
            obj["settings"] = load_settings(obj.get("config_path"))
        configure_logging(obj["settings"].logging, obj.get("log_level"))
    settings: Settings = obj["settings"]
    return settings


def _with_settings(func: Callable[Concatenate[Settings, P], R]) -> Callable[P, R]:
    """Call ``func`` with the loaded settings first, turning operator errors into one line."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = click.get_current_context()
        settings = _settings(ctx)
        with _operator_errors(settings):
            return func(settings, *args, **kwargs)

    return wrapper


def _parse_now(value: str | None, settings: Settings) -> Callable[[], datetime]:
    if not value:
        return system_clock
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "use ISO-8601, e.g. 2026-12-01T09:30 or 2026-12-01T09:30+07:00", param_hint="--now"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.booking.timezone)
    fixed = moment.astimezone(UTC)
    return lambda: fixed


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="SMS_GATEWAY_CONFIG",
    help="TOML config file (env SMS_GATEWAY_CONFIG). Default: built-in offices "
    "and ./sms-gateway.db",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """SMS booking gateway for a public office's queue."""
    obj = ctx.ensure_object(dict)
    obj["config_path"] = config_path
    # One line per message for the servers; one-shot commands print only their result.
    obj["log_level"] = None if ctx.invoked_subcommand in ("serve", "worker") else logging.WARNING


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@_with_settings
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
        f"SMS gateway on http://{host}:{port}  database: {_safe_url(settings.database.url)}",
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


@cli.command("init-db")
@_with_settings
def init_db(settings: Settings) -> None:
    """Create or upgrade the database schema (Alembic upgrade to head)."""
    gateway = Gateway(settings)
    gateway.close()
    click.echo(
        f"database {_safe_url(settings.database.url)} is at schema revision "
        f"{migrate.head_revision()}"
    )


@cli.command()
@click.option(
    "--from", "sender", type=PHONE, required=True, help="The applicant's phone, e.g. 081234567890."
)
@click.option(
    "--to",
    "recipient",
    type=PhoneNumber(short_code=True),
    help="The office number it was sent to (chooses the office).",
)
@click.option("--now", help="Pretend it is this moment (ISO-8601; for training and drills).")
@click.argument("text", nargs=-1)
@_with_settings
def sms(
    settings: Settings, sender: str, recipient: str | None, now: str | None, text: tuple[str, ...]
) -> None:
    """Handle one SMS exactly as the webhook would and print the reply."""
    gateway = Gateway(settings, clock=_parse_now(now, settings))
    try:
        reply = gateway.handle(
            InboundMessage(transport="cli", sender=sender, recipient=recipient, text=" ".join(text))
        )
    finally:
        gateway.close()
    click.echo(reply.text)


@cli.command()
@click.option("--date", "day", required=True, help="The day, YYYY-MM-DD.")
@click.option("--office", help="Only this office code.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in BookingStatus]),
    help="Only bookings with this status.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True
)
@_with_settings
def bookings(
    settings: Settings, day: str, office: str | None, status: str | None, fmt: str
) -> None:
    """List every booking of a day (the counter's printed list)."""
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter(
            f"{day!r} is not a date like 2026-12-08", param_hint="--date"
        ) from None
    if office and settings.office(office) is None:
        codes = ", ".join(o.code for o in settings.offices)
        raise click.BadParameter(
            f"{office!r} is not an office (offices: {codes})", param_hint="--office"
        )
    gateway = Gateway(settings)
    try:
        with gateway.sessions.begin() as session:
            gateway.bookings.sweep(session, gateway.clock())
            rows = gateway.bookings.bookings_on(
                session, wanted, office=office, status=BookingStatus(status) if status else None
            )
            records = [_record(b, settings) for b in rows]
    finally:
        gateway.close()
    if fmt == "csv":
        writer = csv_safe.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows([r[c] for c in CSV_COLUMNS] for r in records)
        return
    _print_table(records, wanted, office)


def _record(b: Booking, settings: Settings) -> dict[str, str]:
    spec = settings.office(b.office_code)
    tz = spec.timezone if spec else settings.booking.timezone
    return {
        "office": b.office_code,
        "date": b.booking_date.isoformat(),
        "session": b.session_name,
        "queue_number": b.queue_number,
        "phone": b.phone,
        "nik_masked": b.nik_masked,
        "status": b.status.value,
        "code": b.code,
        "created_at": b.created_at.astimezone(tz).isoformat(timespec="seconds"),
    }


def _print_table(records: list[dict[str, str]], day: date, office: str | None) -> None:
    title = f"Bookings for {format_date(day)}" + (f" at {office.upper()}" if office else "")
    if not records:
        click.echo(f"{title}: none")
        return
    columns = ("queue_number", "session", "status", "code", "nik_masked", "phone", "created_at")
    headers = {"queue_number": "number", "nik_masked": "NIK"}
    rows = [[r[c] if c != "phone" else national_format(r[c]) for c in columns] for r in records]
    head = [headers.get(c, c) for c in columns]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=False)]
    click.echo(title)
    for line in [head, *rows]:
        click.echo("  ".join(x.ljust(w) for x, w in zip(line, widths, strict=False)).rstrip())
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    click.echo(
        f"{len(records)} booking(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    )


TICK_EVERY = timedelta(minutes=1)

# EX_TEMPFAIL: "try again later", for SMSD's RunOnFailure and for operators.
EXIT_TEMPFAIL = 75


@cli.command("gammu-receive")
@click.option(
    "--replay",
    is_flag=True,
    help="Handle the inbox files named as arguments (messages SMSD kept after a "
    "failure); safe to repeat.",
)
@click.argument("ids", nargs=-1)
@_with_settings
def gammu_receive(settings: Settings, replay: bool, ids: tuple[str, ...]) -> None:
    """Handle the SMS Gammu SMSD received (run as SMSD's RunOnReceive).

    SMSD passes the message in its environment and the stored message ids
    (inbox file names) as arguments. With --replay, the arguments are inbox
    files (InboxFormat = detail) to handle now; each is answered only once.
    """
    from sms_gateway.transports import gammu

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
    from sms_gateway.senders import SendError
    from sms_gateway.transports import gammu

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


@cli.command()
@click.option(
    "--via",
    type=click.Choice(["kannel", "gammu"]),
    required=True,
    help="The channel to send through.",
)
@click.option("--to", "recipient", type=PHONE, required=True, help="The phone to send to.")
@click.argument("text", nargs=-1, required=True)
@_with_settings
def send(settings: Settings, via: str, recipient: str, text: tuple[str, ...]) -> None:
    """Send one SMS through a channel (to check the wiring); prints the message id."""
    from sms_gateway.senders import SendError, sender_for

    gateway = Gateway(settings)
    try:
        message = gateway.outbound.send(sender_for(via, settings), recipient, " ".join(text))
    except SendError as exc:
        raise click.ClickException(f"{via}: {exc}") from None
    finally:
        gateway.close()
    click.echo(
        f"message {message.id} {message.status.value if message.status else ''} via {via}"
        + (f" ({message.external_id})" if message.external_id else "")
    )


# -- staff, audit, outbox, day end ---------------------------------------------------------


@contextmanager
def _unit_of_work(settings: Settings) -> Iterator[tuple[Gateway, Session]]:
    """Open the gateway and one transaction; staff errors become one clear line."""
    from sms_gateway.services.staff import StaffError

    gateway = Gateway(settings)
    try:
        with gateway.sessions.begin() as session:
            yield gateway, session
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        gateway.close()


def _ask_pin(pin: str | None) -> str:
    if pin is not None:
        return pin
    return str(click.prompt("PIN (4-8 digits)", hide_input=True, confirmation_prompt=True))


@cli.group()
def staff() -> None:
    """Register staff phones, their offices, roles and PINs."""


@staff.command("add")
@click.option("--phone", type=PHONE, required=True, help="The staff member's own phone.")
@click.option("--office", required=True, help="Office code, e.g. PMK.")
@click.option("--role", type=click.Choice([r.value for r in StaffRole]), required=True)
@click.option("--name", required=True)
@click.option("--pin", help="4-8 digits; asked for (hidden) when left out.")
@_with_settings
def staff_add(
    settings: Settings, phone: str, office: str, role: str, name: str, pin: str | None
) -> None:
    """Register a staff phone."""
    from sms_gateway.services import staff as staff_service

    if settings.office(office) is None:
        codes = ", ".join(o.code for o in settings.offices)
        raise click.BadParameter(
            f"{office!r} is not an office (offices: {codes})", param_hint="--office"
        )
    with _unit_of_work(settings) as (gateway, session):
        added = staff_service.add_staff(
            session,
            phone=phone,
            office=office.upper(),
            role=StaffRole(role),
            name=name,
            pin=_ask_pin(pin),
            now=gateway.clock(),
        )
        click.echo(
            f"added {added.name} ({added.role.value}, {added.office_code}) "
            f"on {national_format(added.phone)}"
        )


@staff.command("list")
@_with_settings
def staff_list(settings: Settings) -> None:
    """List staff phones."""
    from sqlalchemy import select

    with _unit_of_work(settings) as (gateway, session):
        members = list(session.scalars(select(Staff).order_by(Staff.office_code, Staff.name)))
        if not members:
            click.echo("no staff registered (add one with: sms-gateway staff add ...)")
            return
        now = gateway.clock()
        for m in members:
            locked = " LOCKED" if m.locked_until and m.locked_until > now else ""
            click.echo(
                f"{m.office_code:6} {m.role.value:8} {national_format(m.phone):16} {m.name}{locked}"
            )


@staff.command("remove")
@click.option("--phone", type=PHONE, required=True)
@_with_settings
def staff_remove(settings: Settings, phone: str) -> None:
    """Remove a staff phone (its audit entries stay)."""
    from sms_gateway.services import staff as staff_service

    with _unit_of_work(settings) as (_, session):
        removed = staff_service.remove_staff(session, phone)
        click.echo(f"removed {removed.name} ({national_format(removed.phone)})")


@staff.command("reset-pin")
@click.option("--phone", type=PHONE, required=True)
@click.option("--pin", help="4-8 digits; asked for (hidden) when left out.")
@_with_settings
def staff_reset_pin(settings: Settings, phone: str, pin: str | None) -> None:
    """Set a new PIN and lift a lockout."""
    from sms_gateway.services import staff as staff_service

    with _unit_of_work(settings) as (_, session):
        member = staff_service.reset_pin(session, phone, _ask_pin(pin))
        click.echo(f"new PIN set for {member.name}; lockout lifted")


def _parse_day(value: str | None, param: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date like 2026-12-08", param_hint=param
        ) from None


def _write(rows: list[dict[str, str]], columns: tuple[str, ...], fmt: str, empty: str) -> None:
    if fmt == "csv":
        writer = csv_safe.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([r[c] for c in columns] for r in rows)
        return
    if not rows:
        click.echo(empty)
        return
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
    for line in [dict(zip(columns, columns, strict=True)), *rows]:
        click.echo(
            "  ".join(line[c].ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
        )


AUDIT_COLUMNS = ("at", "phone", "name", "office", "command", "outcome")
OUTBOX_COLUMNS = ("id", "to", "body", "status", "attempts", "created_at", "sent_at", "error")


@cli.group(invoke_without_command=True)
@click.option("--since", help="From this day on (YYYY-MM-DD, office time).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True
)
@click.pass_context
def audit(ctx: click.Context, since: str | None, fmt: str) -> None:
    """Show the audit log of staff commands (PINs masked); verify or anchor the chain."""
    if ctx.invoked_subcommand is None:
        _audit_log(since, fmt)


@_with_settings
def _audit_log(settings: Settings, since: str | None, fmt: str) -> None:
    from sms_gateway.services import staff as staff_service

    day = _parse_day(since, "--since")
    tz = settings.booking.timezone
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz) if day else None
    with _unit_of_work(settings) as (_, session):
        rows = [
            {
                "at": e.at.astimezone(tz).isoformat(timespec="seconds"),
                "phone": e.phone,
                "name": e.staff_name or "",
                "office": e.office_code or "",
                "command": e.command,
                "outcome": e.outcome,
            }
            for e in staff_service.audit_entries(session, start)
        ]
    _write(rows, AUDIT_COLUMNS, fmt, "no staff commands recorded")


def _parse_anchor(value: str) -> tuple[int, str]:
    from sms_gateway.services.chain import MIN_ANCHOR_HEX

    seq, _, digest = value.strip().lstrip("#").partition(":")
    digest = digest.strip().lower()
    if (
        not seq.isdigit()
        or len(digest) < MIN_ANCHOR_HEX
        or len(digest) > 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise click.BadParameter(
            f"{value!r} is not SEQ:HASH, e.g. 1234:9f2c... (at least {MIN_ANCHOR_HEX} hex "
            "digits of the hash `audit head` printed)",
            param_hint="--anchor",
        )
    return int(seq), digest


@audit.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    help="A head published earlier, SEQ:HASH (as `audit head` printed it); repeatable.",
)
@click.option("--max-problems", default=50, show_default=True, type=click.IntRange(1, 100000))
@_with_settings
def audit_verify(settings: Settings, anchors: tuple[str, ...], max_problems: int) -> None:
    """Check every link of the chain and reconcile it with the live tables.

    Exits 1 when a link is broken, an anchor does not match, or a booking or
    staff command differs from what the chain recorded for it.
    """
    wanted = [_parse_anchor(a) for a in anchors]
    gateway = Gateway(settings)
    try:
        with gateway.sessions() as session:
            report = gateway.chain.verify(session, wanted, max_problems)
    finally:
        gateway.close()
    matched = ", ".join(f"{n} {kind}" for kind, n in sorted(report.matched.items()))
    click.echo(f"{report.records} record(s); head #{report.head.seq} {report.head.hash}")
    click.echo(f"rows matching the chain: {matched or 'none'}")
    if report.ok:
        click.echo("audit chain OK")
        return
    for problem in report.problems:
        click.echo(f"PROBLEM: {problem}")
    raise click.exceptions.Exit(1)


@audit.command("redact")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    help="A head the kepala published, SEQ:HASH; repeatable. The chain must match it.",
)
@click.option(
    "--without-anchors",
    is_flag=True,
    help="Rewrite although no anchor is given (the statement records the waiver).",
)
@_with_settings
def audit_redact(settings: Settings, anchors: tuple[str, ...], without_anchors: bool) -> None:
    """Mask NIKs and PINs that older versions kept in the audit log and chain.

    Verifies the chain against the published anchors, masks the staff commands
    in audit_log and audit_chain (relinking the chain), the message log and the
    staff-given reasons, and appends a signed statement of the old and new
    heads. Publish the new head afterwards (`audit head --send`).
    """
    from sms_gateway.services.chain_redact import RedactionRefused, redact_chain

    wanted = [_parse_anchor(a) for a in anchors]
    if wanted and without_anchors:
        raise click.UsageError("give --anchor or --without-anchors, not both")
    try:
        with _unit_of_work(settings) as (gateway, session):
            result = redact_chain(
                session, gateway.chain, gateway.nik_secret, wanted, waive_anchors=without_anchors
            )
    except RedactionRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"masked {result.audit_rows} audit log row(s), {result.messages} message(s), "
        f"{result.reasons} reason(s); rewrote {result.records_rewritten} chain record(s)"
    )
    click.echo(f"old head {result.old_head.seq}:{result.old_head.hash}")
    click.echo(f"new head {result.new_head.seq}:{result.new_head.hash}  (publish this one)")


@audit.command("head")
@click.option("--send", is_flag=True, help="Also queue it by SMS to every kepala.")
@click.option("--office", help="With --send: only this office's kepala.")
@_with_settings
def audit_head(settings: Settings, send: bool, office: str | None) -> None:
    """Print the chain's newest record (the daily anchor) to publish or send."""
    from sms_gateway import replies
    from sms_gateway.services import staff as staff_service

    with _unit_of_work(settings) as (gateway, session):
        head = gateway.chain.head(session)
        now = gateway.clock()
        local = now.astimezone(settings.booking.timezone)
        click.echo(f"{head.seq}:{head.hash}")
        click.echo(f"as of {local.isoformat(timespec='seconds')}")
        if not send:
            return
        if office is not None and settings.office(office.upper()) is None:
            raise click.BadParameter(f"no office {office!r} in the config", param_hint="--office")
        text = replies.render(
            "audit_anchor",
            date=local.strftime("%d-%m-%Y"),
            time=local.strftime("%H:%M"),
            seq=head.seq,
            hash=head.hash,
        )
        heads = staff_service.kepala_phones(session, office.upper() if office else None)
        for phone in heads:
            # The template keeps date, time and number apart and the mask leaves a
            # hash alone (redact.py): the anchor arrives as composed.
            gateway.outbound.enqueue(session, phone, text, now)
    click.echo(f"queued for {len(heads)} kepala" if heads else "no kepala registered: nothing sent")


@cli.command()
@click.option("--status", type=click.Choice([s.value for s in SendStatus]))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True
)
@_with_settings
def outbox(settings: Settings, status: str | None, fmt: str) -> None:
    """List the SMS the gateway sent or will send on its own (not inline replies)."""
    gateway = Gateway(settings)
    try:
        messages = gateway.outbound.messages(SendStatus(status) if status else None)
    finally:
        gateway.close()
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
    _write(rows, OUTBOX_COLUMNS, fmt, "the outbox is empty")


@cli.command()
@click.option(
    "--date", "day", help="Close days up to this one (YYYY-MM-DD); default: all finished days."
)
@_with_settings
def sweep(settings: Settings, day: str | None) -> None:
    """Close the books of finished days: no-shows and unserved check-ins."""
    through = _parse_day(day, "--date")
    with _unit_of_work(settings) as (gateway, session):
        changed = gateway.bookings.sweep(session, gateway.clock(), through)
    click.echo(f"{changed} booking(s) closed")


@cli.command()
@click.option("--now", help="Run what is due at this moment (ISO-8601); default: now.")
@_with_settings
def tick(settings: Settings, now: str | None) -> None:
    """Run every time-driven job due now: reminders, releases, waitlist, day end."""
    gateway = Gateway(settings, clock=_parse_now(now, settings))
    try:
        result = gateway.jobs.tick(gateway.clock())
    finally:
        gateway.close()
    click.echo(str(result))


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only count what is due; change nothing.")
@click.option("--now", help="Purge what is due at this moment (ISO-8601); default: now.")
@_with_settings
def purge(settings: Settings, dry_run: bool, now: str | None) -> None:
    """Anonymise everything past its [privacy] retention period, at once, and print counts.

    The worker does the same a bounded batch at a time every minute; this runs
    until nothing is due (after lowering a retention period, say).
    """
    gateway = Gateway(settings, clock=_parse_now(now, settings))
    try:
        result = gateway.jobs.retention.purge(gateway.sessions, gateway.clock(), dry_run=dry_run)
    finally:
        gateway.close()
    privacy = settings.privacy
    click.echo(
        f"{'due' if dry_run else 'anonymised'}: {result.messages} message(s) older than "
        f"{privacy.keep_messages_days} days (text erased, phone replaced)"
    )
    click.echo(
        f"{'due' if dry_run else 'anonymised'}: {result.bookings} booking(s), "
        f"{result.waitlist} waitlist place(s), {result.lottery_entries} lottery "
        f"entr(y/ies), {result.booking_attempts} booking attempt(s) older than "
        f"{privacy.keep_bookings_days} days (phone replaced)"
    )
    if dry_run:
        click.echo("dry run: nothing changed")


@cli.group()
def lottery() -> None:
    """Lottery allocation: check a draw (offices with allocation = "lottery")."""


@lottery.command("verify")
@click.option("--office", required=True, help="Office code, e.g. PMK.")
@click.option("--date", "day", required=True, help="The day that was drawn, YYYY-MM-DD.")
@_with_settings
def lottery_verify(settings: Settings, office: str, day: str) -> None:
    """Re-run a draw from its revealed secret and entries; exit 1 if anything differs."""
    spec = settings.office(office)
    if spec is None:
        raise click.BadParameter(f"no office {office!r} in the config", param_hint="--office")
    wanted = _parse_day(day, "--date")
    assert wanted is not None
    gateway = Gateway(settings)
    try:
        with gateway.sessions() as session:
            draw = gateway.lottery.find_round(session, spec, wanted)
            if draw is None:
                raise click.ClickException(f"no lottery round for {spec.code} on {wanted}")
            report = gateway.lottery.verify(session, draw)
            counts = gateway.lottery.summary(session, draw)
    finally:
        gateway.close()
    tz = spec.timezone
    click.echo(f"round {spec.code} {wanted}: {draw.status}")
    click.echo(
        f"  window      {draw.opens_at.astimezone(tz):%Y-%m-%d %H:%M} to "
        f"{draw.closes_at.astimezone(tz):%Y-%m-%d %H:%M}"
    )
    click.echo(f"  commitment  {draw.commitment}")
    click.echo(f"  secret      {draw.secret or '(revealed at the draw)'}")
    click.echo(f"  seed        {draw.seed or '(made at the draw)'}")
    now = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no entries"
    click.echo(f"  entries     {draw.entries}, winners {draw.winners}; now: {now}")
    if draw.status != "drawn":
        closes = draw.closes_at.astimezone(tz)
        click.echo(f"not drawn yet: the draw runs at {closes:%Y-%m-%d %H:%M}; nothing to verify")
        raise click.exceptions.Exit(1)
    if report.ok:
        click.echo("draw reproduced: commitment, seed, order and winners all match")
        return
    for problem in report.problems:
        click.echo(f"PROBLEM: {problem}")
    raise click.exceptions.Exit(1)


REPORT_COLUMNS = ("pattern", "subject", "count", "detail")


@cli.command()
@click.option("--since", help="From this day on (YYYY-MM-DD, office time); default: 30 days.")
@click.option("--office", help="Only this office code.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True
)
@_with_settings
def report(settings: Settings, since: str | None, office: str | None, fmt: str) -> None:
    """Find the patterns of fictitious and resold bookings before the day."""
    from sms_gateway.services.report import fraud_report

    day = _parse_day(since, "--since")
    if office and settings.office(office) is None:
        codes = ", ".join(o.code for o in settings.offices)
        raise click.BadParameter(
            f"{office!r} is not an office (offices: {codes})", param_hint="--office"
        )
    spec = settings.office(office) if office else None
    rules = spec.rules if spec else settings.rules
    with _unit_of_work(settings) as (gateway, session):
        start = (
            datetime.combine(day, datetime.min.time(), tzinfo=settings.booking.timezone)
            if day
            else gateway.clock() - timedelta(days=30)
        )
        findings = fraud_report(
            session, start, office=spec.code if spec else None, niks_per_phone=rules.niks_per_phone
        )
    rows = [
        {"pattern": f.pattern, "subject": f.subject, "count": str(f.count), "detail": f.detail}
        for f in findings
    ]
    _write(rows, REPORT_COLUMNS, fmt, "nothing suspicious found")


@cli.command()
@click.option("--once", is_flag=True, help="Do one round and exit (for cron or tests).")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between rounds.",
)
@click.option("--now", help="Pretend it is this moment (ISO-8601; for training and drills).")
@_with_settings
def worker(settings: Settings, once: bool, interval: float, now: str | None) -> None:
    """Send the outbox and close finished days, every few seconds."""
    from sms_gateway.senders import sender_for

    gateway = Gateway(settings, clock=_parse_now(now, settings))
    sender = sender_for(settings.outbound.sender, settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"worker: sending through {sender.name} every {interval:g}s", err=True)
    last_tick: datetime | None = None
    try:
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
    finally:
        gateway.close()


@cli.command("twilio-curl")
@click.option(
    "--url",
    default="http://127.0.0.1:5000/sms/twilio",
    show_default=True,
    help="The webhook URL exactly as Twilio would call it.",
)
@click.option("--from", "sender", type=PHONE, required=True, help="The applicant's phone.")
@click.option("--to", "recipient", help="The office number (default: the first office's).")
@click.option("--sid", help="MessageSid (default: a random one).")
@click.argument("text", nargs=-1)
@_with_settings
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        status = cli.main(args=argv, prog_name="sms-gateway", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("SMS_GATEWAY_DEBUG"):
            raise
        click.echo(
            f"Error: unexpected failure: {type(exc).__name__}: {exc}\n"
            "(run again with SMS_GATEWAY_DEBUG=1 to see the traceback)",
            err=True,
        )
        return 1
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())

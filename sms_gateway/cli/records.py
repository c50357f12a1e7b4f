"""The bookings and what is kept of them: ``bookings``, ``sweep``, ``purge``, ``report``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import click

from sms_gateway.cli.options import (
    check_office,
    format_option,
    now_option,
    open_gateway,
    parse_day,
    parse_now,
    unit_of_work,
    with_settings,
)
from sms_gateway.cli.output import write_csv, write_rows
from sms_gateway.config import Settings
from sms_gateway.dates import format_date
from sms_gateway.models import Booking, BookingStatus
from sms_gateway.phones import national_format

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

REPORT_COLUMNS = ("pattern", "subject", "count", "detail")


@click.command()
@click.option("--date", "day", required=True, help="The day, YYYY-MM-DD.")
@click.option("--office", help="Only this office code.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in BookingStatus]),
    help="Only bookings with this status.",
)
@format_option
@with_settings
def bookings(
    settings: Settings, day: str, office: str | None, status: str | None, fmt: str
) -> None:
    """List every booking of a day (the counter's printed list)."""
    wanted = parse_day(day, "--date")
    check_office(settings, office)
    with unit_of_work(settings) as (gateway, session):
        gateway.bookings.sweep(session, gateway.clock())
        rows = gateway.bookings.bookings_on(
            session, wanted, office=office, status=BookingStatus(status) if status else None
        )
        records = [_record(b, settings) for b in rows]
    if fmt == "csv":
        write_csv(records, CSV_COLUMNS)
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


@click.command()
@click.option(
    "--date", "day", help="Close days up to this one (YYYY-MM-DD); default: all finished days."
)
@with_settings
def sweep(settings: Settings, day: str | None) -> None:
    """Close the books of finished days: no-shows and unserved check-ins."""
    through = parse_day(day, "--date")
    with unit_of_work(settings) as (gateway, session):
        changed = gateway.bookings.sweep(session, gateway.clock(), through)
    click.echo(f"{changed} booking(s) closed")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only count what is due; change nothing.")
@now_option("Purge what is due at this moment (ISO-8601); default: now.")
@with_settings
def purge(settings: Settings, dry_run: bool, now: str | None) -> None:
    """Anonymise everything past its [privacy] retention period, at once, and print counts.

    The worker does the same a bounded batch at a time every minute; this runs
    until nothing is due (after lowering a retention period, say).
    """
    with open_gateway(settings, parse_now(now, settings)) as gateway:
        result = gateway.jobs.retention.purge(gateway.sessions, gateway.clock(), dry_run=dry_run)
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


@click.command()
@click.option("--since", help="From this day on (YYYY-MM-DD, office time); default: 30 days.")
@click.option("--office", help="Only this office code.")
@format_option
@with_settings
def report(settings: Settings, since: str | None, office: str | None, fmt: str) -> None:
    """Find the patterns of fictitious and resold bookings before the day."""
    from sms_gateway.services.report import fraud_report

    day = parse_day(since, "--since")
    check_office(settings, office)
    spec = settings.office(office) if office else None
    rules = spec.rules if spec else settings.rules
    with unit_of_work(settings) as (gateway, session):
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
    write_rows(rows, REPORT_COLUMNS, fmt, "nothing suspicious found")

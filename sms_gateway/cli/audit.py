"""Checking what was done: ``audit`` (log, verify, redact, head) and ``lottery verify``."""

from __future__ import annotations

from datetime import datetime

import click

from sms_gateway.cli.options import (
    anchor_option,
    format_option,
    no_such_office,
    open_gateway,
    parse_day,
    unit_of_work,
    with_settings,
)
from sms_gateway.cli.output import verdict, write_rows
from sms_gateway.config import Settings

AUDIT_COLUMNS = ("at", "phone", "name", "office", "command", "outcome")


@click.group(invoke_without_command=True)
@click.option("--since", help="From this day on (YYYY-MM-DD, office time).")
@format_option
@click.pass_context
def audit(ctx: click.Context, since: str | None, fmt: str) -> None:
    """Show the audit log of staff commands (PINs masked); verify or anchor the chain."""
    if ctx.invoked_subcommand is None:
        _audit_log(since, fmt)


@with_settings
def _audit_log(settings: Settings, since: str | None, fmt: str) -> None:
    from sms_gateway.services import staff as staff_service

    day = parse_day(since, "--since")
    tz = settings.booking.timezone
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz) if day else None
    with unit_of_work(settings) as (_, session):
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
    write_rows(rows, AUDIT_COLUMNS, fmt, "no staff commands recorded")


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
@anchor_option("A head published earlier, SEQ:HASH (as `audit head` printed it); repeatable.")
@click.option("--max-problems", default=50, show_default=True, type=click.IntRange(1, 100000))
@with_settings
def audit_verify(settings: Settings, anchors: tuple[str, ...], max_problems: int) -> None:
    """Check every link of the chain and reconcile it with the live tables.

    Exits 1 when a link is broken, an anchor does not match, or a booking or
    staff command differs from what the chain recorded for it.
    """
    wanted = [_parse_anchor(a) for a in anchors]
    with open_gateway(settings) as gateway, gateway.sessions() as session:
        report = gateway.chain.verify(session, wanted, max_problems)
    matched = ", ".join(f"{n} {kind}" for kind, n in sorted(report.matched.items()))
    click.echo(f"{report.records} record(s); head #{report.head.seq} {report.head.hash}")
    click.echo(f"rows matching the chain: {matched or 'none'}")
    verdict(report.ok, report.problems, "audit chain OK")


@audit.command("redact")
@anchor_option("A head the kepala published, SEQ:HASH; repeatable. The chain must match it.")
@click.option(
    "--without-anchors",
    is_flag=True,
    help="Rewrite although no anchor is given (the statement records the waiver).",
)
@with_settings
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
        with unit_of_work(settings) as (gateway, session):
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
@with_settings
def audit_head(settings: Settings, send: bool, office: str | None) -> None:
    """Print the chain's newest record (the daily anchor) to publish or send."""
    from sms_gateway import replies
    from sms_gateway.services import staff as staff_service

    with unit_of_work(settings) as (gateway, session):
        head = gateway.chain.head(session)
        now = gateway.clock()
        local = now.astimezone(settings.booking.timezone)
        click.echo(f"{head.seq}:{head.hash}")
        click.echo(f"as of {local.isoformat(timespec='seconds')}")
        if not send:
            return
        if office is not None and settings.office(office.upper()) is None:
            raise no_such_office(office)
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


@click.group()
def lottery() -> None:
    """Lottery allocation: check a draw (offices with allocation = "lottery")."""


@lottery.command("verify")
@click.option("--office", required=True, help="Office code, e.g. PMK.")
@click.option("--date", "day", required=True, help="The day that was drawn, YYYY-MM-DD.")
@with_settings
def lottery_verify(settings: Settings, office: str, day: str) -> None:
    """Re-run a draw from its revealed secret and entries; exit 1 if anything differs."""
    spec = settings.office(office)
    if spec is None:
        raise no_such_office(office)
    wanted = parse_day(day, "--date")
    with open_gateway(settings) as gateway, gateway.sessions() as session:
        draw = gateway.lottery.find_round(session, spec, wanted)
        if draw is None:
            raise click.ClickException(f"no lottery round for {spec.code} on {wanted}")
        report = gateway.lottery.verify(session, draw)
        counts = gateway.lottery.summary(session, draw)
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
    verdict(
        report.ok, report.problems, "draw reproduced: commitment, seed, order and winners all match"
    )

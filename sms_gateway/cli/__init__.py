"""The ``sms-gateway`` command, its commands by group.

Running the gateway (``running``):
    ``serve``, ``init-db``, ``worker``, ``tick``
Single messages in and out (``messaging``):
    ``sms``, ``gammu-receive``, ``send``, ``outbox``, ``twilio-curl``
Bookings and what is kept of them (``records``):
    ``bookings``, ``sweep``, ``purge``, ``report``
Staff phones (``staff``):
    ``staff add``, ``staff list``, ``staff remove``, ``staff reset-pin``
Checking what was done (``audit``):
    ``audit`` (the log), ``audit verify``, ``audit redact``, ``audit head``,
    ``lottery verify``

What the commands share (``--config``, the settings, the gateway, the option
parsers) is in ``options``, how they print in ``output``.

Every failure the operator can cause (a bad config, an unreachable database,
a malformed argument) ends in one clear line and a non-zero exit, never a
traceback. Set ``SMS_GATEWAY_DEBUG=1`` to see the traceback of an unexpected
failure.
"""

from __future__ import annotations

import logging
import os

import click

from sms_gateway.cli import audit, messaging, records, running, staff


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


for _command in (
    running.serve,
    running.init_db,
    running.worker,
    running.tick,
    messaging.sms,
    messaging.gammu_receive,
    messaging.send,
    messaging.outbox,
    messaging.twilio_curl,
    records.bookings,
    records.sweep,
    records.purge,
    records.report,
    staff.staff,
    audit.audit,
    audit.lottery,
):
    cli.add_command(_command)


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

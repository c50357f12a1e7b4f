"""What every ``sms-gateway`` command shares: its options, its settings and its gateway.

The settings are loaded once per run from ``--config``; ``with_settings`` hands
them to a command as its first argument and turns every failure an operator
can cause (a bad config, an unreachable database) into one clear line. The
option types, the reusable option declarations and the parsers of ``--now``,
``--date``/``--since`` and ``--office`` live here so each is written once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar, overload

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sms_gateway.config import ConfigError, Settings, load_settings
from sms_gateway.gateway import Gateway, system_clock
from sms_gateway.logs import configure_logging
from sms_gateway.phones import PhoneError, normalize_phone

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


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

# The options several commands declare alike.
format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True
)
text_argument = click.argument("text", nargs=-1)


def now_option(
    help: str = "Pretend it is this moment (ISO-8601; for training and drills).",
) -> Callable[[F], F]:
    """The ``--now`` option; ``parse_now`` turns its value into the command's clock."""
    return click.option("--now", help=help)


def anchor_option(help: str) -> Callable[[F], F]:
    """The repeatable ``--anchor SEQ:HASH`` option of the audit chain commands."""
    return click.option("--anchor", "anchors", multiple=True, help=help)


def safe_url(url: str) -> str:
    """The database URL with its password hidden, for messages and banners."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def operator_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn the failures an operator can cause into one clear line."""
    try:
        yield
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    except SQLAlchemyError as exc:
        where = safe_url(settings.database.url) if settings else "the database"
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"database {where}: {reason}") from None


def _settings(ctx: click.Context) -> Settings:
    # Loaded once per run (the root group keeps the config path and the log level).
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        with operator_errors():
            obj["settings"] = load_settings(obj.get("config_path"))
        configure_logging(obj["settings"].logging, obj.get("log_level"))
    settings: Settings = obj["settings"]
    return settings


def with_settings(func: Callable[Concatenate[Settings, P], R]) -> Callable[P, R]:
    """Call ``func`` with the loaded settings first, turning operator errors into one line."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = click.get_current_context()
        settings = _settings(ctx)
        with operator_errors(settings):
            return func(settings, *args, **kwargs)

    return wrapper


@contextmanager
def open_gateway(
    settings: Settings, clock: Callable[[], datetime] = system_clock
) -> Iterator[Gateway]:
    """Open the gateway (migrating the schema) and always close it again."""
    gateway = Gateway(settings, clock=clock)
    try:
        yield gateway
    finally:
        gateway.close()


@contextmanager
def unit_of_work(settings: Settings) -> Iterator[tuple[Gateway, Session]]:
    """Open the gateway and one transaction; staff errors become one clear line."""
    from sms_gateway.services.staff import StaffError

    try:
        with open_gateway(settings) as gateway, gateway.sessions.begin() as session:
            yield gateway, session
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None


def parse_now(value: str | None, settings: Settings) -> Callable[[], datetime]:
    """The clock for ``--now``: the system clock, or one stopped at the given moment."""
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


@overload
def parse_day(value: str, param: str) -> date: ...
@overload
def parse_day(value: None, param: str) -> None: ...
@overload
def parse_day(value: str | None, param: str) -> date | None: ...
def parse_day(value: str | None, param: str) -> date | None:
    """The day a ``--date``-like option ``param`` names (YYYY-MM-DD); None when not given."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date like 2026-12-08", param_hint=param
        ) from None


def check_office(settings: Settings, office: str | None) -> None:
    """Refuse an ``--office`` that names no office of the config, listing those that exist."""
    if office and settings.office(office) is None:
        codes = ", ".join(o.code for o in settings.offices)
        raise click.BadParameter(
            f"{office!r} is not an office (offices: {codes})", param_hint="--office"
        )


def no_such_office(office: str) -> click.BadParameter:
    """The error of a command that needs ``--office`` to name an office of the config."""
    return click.BadParameter(f"no office {office!r} in the config", param_hint="--office")

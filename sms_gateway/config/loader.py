"""Load the gateway's TOML configuration into typed, validated settings.

Every problem is reported as a :class:`ConfigError` that names the file, the key
and what is wrong, so an office's IT person never has to read a traceback.
Environment variables override the file where the README says so.
"""

from __future__ import annotations

import difflib
import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from sms_gateway.config.offices import (
    RULE_TABLES,
    OfficeDefaults,
    read_lottery,
    read_offices,
    read_rules,
)
from sms_gateway.config.settings import (
    ENV_CONFIG,
    ENV_NIK_SECRET,
    MIN_NIK_SECRET,
    NOTICE_FIELDS,
    BookingSettings,
    CalendarSettings,
    DatabaseSettings,
    GammuSettings,
    KannelSettings,
    LoggingSettings,
    OfficeSpec,
    OutboundSettings,
    PrivacySettings,
    ServerSettings,
    Settings,
    TwilioSettings,
)
from sms_gateway.config.tables import ConfigError, Table
from sms_gateway.gsm import SEGMENT_SEPTETS, septets

T = TypeVar("T")

BUILT_IN = "built-in defaults"
SECTIONS = (
    "database",
    "twilio",
    "kannel",
    "outbound",
    "logging",
    "reminders",
    "penalty",
    "limits",
    "gammu",
    "server",
    "security",
    "booking",
    "calendar",
    "lottery",
    "privacy",
    "offices",
)
_NEW_SECRET = 'python3 -c "import secrets; print(secrets.token_hex(32))"'


def load_settings(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Load settings from ``path`` (or ``$SMS_GATEWAY_CONFIG``, or the built-in defaults)."""
    env = os.environ if env is None else env
    if path is None and env.get(ENV_CONFIG):
        path = env[ENV_CONFIG]
    if path is None:
        text = resources.files("sms_gateway").joinpath("default_config.toml").read_text("utf-8")
        return _build(_parse_toml(text, BUILT_IN), source=None, env=env)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read config file ({exc})") from None
    return _build(_parse_toml(text, str(file)), source=file, env=env)


def _parse_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None


def _build(data: dict[str, Any], *, source: Path | None, env: Mapping[str, str]) -> Settings:
    """Read the sections in a fixed order: with several problems, the first is reported."""
    where = str(source) if source else BUILT_IN
    for key in data:
        if key not in SECTIONS:
            hint = difflib.get_close_matches(key, SECTIONS, n=1)
            extra = f" (did you mean [{hint[0]}]?)" if hint else ""
            raise ConfigError(f"{where}: unknown section [{key}]{extra}")

    def table(name: str) -> Table:
        return Table(data.get(name, {}), f"[{name}]", where)

    def section(name: str, cls: type[T]) -> T:
        t = table(name)
        value = t.read(cls, env=env)
        t.done()
        return value

    database = _database(section("database", DatabaseSettings), where)
    twilio = section("twilio", TwilioSettings)
    outbound = section("outbound", OutboundSettings)
    logging_settings = section("logging", LoggingSettings)
    kannel = section("kannel", KannelSettings)
    if kannel.secret is not None and len(kannel.secret) < MIN_NIK_SECRET:
        raise ConfigError(
            f"{where}: [kannel] secret must be at least {MIN_NIK_SECRET} "
            "characters (it is the only thing that authenticates Kannel)"
        )
    gammu = section("gammu", GammuSettings)
    server = section("server", ServerSettings)
    if twilio.status_callback is None and server.public_url:
        # Twilio reports delivery to the same public host it sends webhooks to.
        twilio = replace(twilio, status_callback=f"{server.public_url}/sms/twilio/status")
    sec = table("security")
    nik_secret = sec.value(Settings, "nik_secret", env=env)
    sec.done()
    _check_nik_secret(nik_secret, source, where)

    bk = table("booking")
    booking = bk.read(BookingSettings)
    rule_tables = {name: bk if name == "booking" else table(name) for name in RULE_TABLES}
    rules = read_rules(rule_tables, base=None)
    for t in rule_tables.values():
        t.done()
    if booking.max_days_ahead < booking.min_days_ahead:
        raise bk.fail(
            "max_days_ahead",
            f"({booking.max_days_ahead}) is less than min_days_ahead ({booking.min_days_ahead})",
        )
    calendar = section("calendar", CalendarSettings)

    lt = table("lottery")
    allocation = lt.value(OfficeSpec, "allocation")
    lottery = read_lottery(lt, base=None, max_ahead=0)  # checked per office
    lt.done()
    defaults = OfficeDefaults(booking.timezone, rules, allocation, lottery, booking.max_days_ahead)
    offices = read_offices(data.get("offices"), where, defaults)

    pv = table("privacy")
    privacy = _privacy(pv, offices)
    pv.done()
    return Settings(
        offices,
        database,
        twilio,
        kannel,
        outbound,
        logging_settings,
        gammu,
        server,
        booking,
        calendar,
        rules,
        privacy,
        nik_secret=nik_secret,
        source=source,
    )


def _database(database: DatabaseSettings, where: str) -> DatabaseSettings:
    """Refuse databases other than SQLite and PostgreSQL; PostgreSQL goes through psycopg 3."""
    url = database.url
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(
            f"{where}: [database] url must start with sqlite:// or postgresql+psycopg:// "
            f"(got {url.split('://')[0]!r})"
        )
    if url.startswith("postgresql://"):
        return DatabaseSettings(url="postgresql+psycopg://" + url.removeprefix("postgresql://"))
    return database


def _check_nik_secret(secret: str | None, source: Path | None, where: str) -> None:
    """Refuse a short secret, and a config file without one."""
    if secret is not None and len(secret) < MIN_NIK_SECRET:
        raise ConfigError(
            f"{where}: [security] nik_secret must be at least {MIN_NIK_SECRET} characters; "
            f"make one with: {_NEW_SECRET}"
        )
    if secret is None and source is not None:
        raise ConfigError(
            f"{where}: [security] nik_secret is not set (or set env {ENV_NIK_SECRET}). "
            f"It keys the HMAC that stands in for every NIK; make one with: {_NEW_SECRET} "
            "and never change it"
        )


def _privacy(t: Table, offices: tuple[OfficeSpec, ...]) -> PrivacySettings:
    """Read the retention periods and PRIVASI's notice, which must fit one SMS."""
    keep_messages = t.value(PrivacySettings, "keep_messages_days")
    keep_bookings = t.value(PrivacySettings, "keep_bookings_days")
    # A phone's no-shows count against it for window_days: an anonymised booking
    # no longer does, so bookings must be kept at least that long.
    window = max(o.rules.penalty_window_days for o in offices)
    if keep_bookings < window:
        raise t.fail(
            "keep_bookings_days",
            f"({keep_bookings}) must be at least [penalty] window_days ({window}): a "
            "no-show must keep counting against the phone for that long",
        )
    notice = t.value(PrivacySettings, "notice")
    privacy = PrivacySettings(keep_messages, keep_bookings, notice)
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(notice) if name is not None}
    except ValueError as exc:  # a lone "{" or "}"
        raise t.fail("notice", f"is not a valid template ({exc}); write {{{{ for a brace") from None
    unknown = sorted(fields - set(NOTICE_FIELDS))
    if unknown:
        allowed = ", ".join(f"{{{f}}}" for f in NOTICE_FIELDS)
        raise t.fail("notice", f"has {{{unknown[0]}}}; it may use only {allowed}")
    # The reply names the office the SMS went to: check the longest name.
    longest = privacy.notice_for(max((o.name for o in offices), key=len))
    length = septets(longest)
    if length is None:
        raise t.fail(
            "notice",
            "has characters an SMS cannot carry cheaply (use plain letters, digits and "
            "punctuation)",
        )
    if length > SEGMENT_SEPTETS:
        raise t.fail(
            "notice",
            f"is {length} characters with the longest office name filled in; one SMS "
            f"holds {SEGMENT_SEPTETS}",
        )
    return privacy

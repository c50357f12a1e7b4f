"""Load the gateway's TOML configuration into typed, validated settings.

Every problem is reported as a :class:`ConfigError` that names the file, the key
and what is wrong, so an office's IT person never has to read a traceback.
Environment variables override the file where the README says so.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec used to check names)

from sms_gateway.gsm import SEGMENT_SEPTETS, septets
from sms_gateway.phones import PhoneError, normalize_phone

ENV_CONFIG = "SMS_GATEWAY_CONFIG"
ENV_DATABASE_URL = "SMS_GATEWAY_DATABASE_URL"
ENV_NIK_SECRET = "SMS_GATEWAY_NIK_SECRET"
ENV_TWILIO_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
ENV_TWILIO_ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
ENV_KANNEL_SECRET = "KANNEL_SECRET"
ENV_KANNEL_PASSWORD = "KANNEL_PASSWORD"

DEFAULT_DATABASE_URL = "sqlite:///sms-gateway.db"

# Limits that keep every reply inside one SMS segment (see replies.py).
MAX_OFFICE_NAME = 36
MAX_SESSION_NAME = 8
MAX_QUOTA = 9999
MAX_SESSIONS = 4
MIN_NIK_SECRET = 16

WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}  # fmt: skip

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,4}$")
_SESSION_RE = re.compile(rf"^[A-Z][A-Z0-9]{{0,{MAX_SESSION_NAME - 1}}}$")
_TIME_RE = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class SessionSpec:
    """One bookable session of an office day, e.g. PAGI 08:00-12:00 for 40 people."""

    name: str
    start: time
    end: time
    quota: int

    def quota_with(self, override: int | None) -> int:
        """Return the quota of one day: the staff override (KUOTA) if set, else the configured."""
        return self.quota if override is None else override

    @property
    def window(self) -> str:
        """Return the arrival window as ``HH:MM-HH:MM``."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Rules:
    """The fairness rules; global defaults, each overridable per office."""

    require_confirmation: bool = False  # [booking]
    confirm_deadline: time = time(21, 0)  # [booking], the day before
    max_reschedules: int = 2  # [booking]
    reminder_at: time = time(16, 0)  # [reminders] send_at, the day before
    max_no_shows: int = 2  # [penalty]
    penalty_window_days: int = 90  # [penalty] window_days
    ban_days: int = 30  # [penalty]
    messages_per_hour: int = 20  # [limits]
    niks_per_phone: int = 3  # [limits], distinct NIKs booked from one phone per 30 days


ALLOCATIONS = ("first_come", "lottery")


@dataclass(frozen=True)
class LotteryRules:
    """When a lottery office's draw for a day takes entries and when it is drawn."""

    opens_days_before: int = 30  # entries from 00:00 this many days before the day
    closes_days_before: int = 3  # ... until closes_at this many days before; then the draw
    closes_at: time = time(20, 0)


@dataclass(frozen=True)
class OfficeSpec:
    """An office that takes bookings, with its own calendar and sessions."""

    code: str
    name: str
    sms_number: str | None
    open_days: frozenset[int]
    closed_dates: Mapping[date, str]
    sessions: tuple[SessionSpec, ...]
    timezone: ZoneInfo
    rules: Rules = Rules()
    # "first_come": DAFTAR takes a seat at once. "lottery": inside the lottery window
    # DAFTAR enters a draw instead (services/lottery.py); after the draw, first come.
    allocation: str = "first_come"
    lottery: LotteryRules = LotteryRules()

    def session(self, name: str) -> SessionSpec | None:
        """Return the session called ``name`` (any case), or None."""
        wanted = name.upper()
        return next((s for s in self.sessions if s.name == wanted), None)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str | None = None
    auth_token: str | None = None
    number: str | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None  # where Twilio posts delivery status


SENDERS = ("console", "twilio", "kannel", "gammu")
LOG_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


@dataclass(frozen=True)
class LoggingSettings:
    format: str = "text"  # "text" | "json"
    level: int = 20  # INFO


@dataclass(frozen=True)
class OutboundSettings:
    sender: str = "console"  # which channel the worker sends the outbox through
    max_attempts: int = 8  # 30 s, 1, 2, 4, 8, 16, 32, 60 min: survives an hour's outage
    batch_size: int = 50


@dataclass(frozen=True)
class KannelSettings:
    secret: str | None = None  # the key= Kannel sends on every call to /sms/kannel
    sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    username: str | None = None
    password: str | None = None
    sender: str | None = None  # the "from" of outbound SMS
    dlr_url: str = "http://127.0.0.1:5000/sms/kannel/dlr"
    smsc: str | None = None


@dataclass(frozen=True)
class GammuSettings:
    smsdrc: str = "/etc/gammu-smsdrc"
    inject: str = "gammu-smsd-inject"
    # SMSD waits for RunOnReceive (at most 2 minutes); keep retrying a busy or
    # restarting database for this long, then fail so RunOnFailure can act.
    receive_timeout: int = 60


@dataclass(frozen=True)
class ServerSettings:
    public_url: str | None = None
    proxy_hops: int = 0


@dataclass(frozen=True)
class BookingSettings:
    min_days_ahead: int = 1
    max_days_ahead: int = 30
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))


@dataclass(frozen=True)
class CalendarSettings:
    national_holidays: bool = True
    cuti_bersama: bool = True


# PRIVASI's reply. The placeholders are filled in when it is sent: the name of the
# office the SMS went to, and the two retention periods below.
NOTICE_FIELDS = ("office", "keep_messages_days", "keep_bookings_days")
DEFAULT_NOTICE = (
    "{office} memakai no HP & NIK tersamar hanya utk antrean. Isi SMS disimpan "
    "{keep_messages_days} hari, no HP {keep_bookings_days} hari. Lihat: DATAKU. Hapus: HAPUS"
)
# The NIKs-per-phone rule and the fraud report look 30 days back.
MIN_KEEP_BOOKINGS_DAYS = 30
# Provider retries and delivery reports refer to a message for days after it.
MIN_KEEP_MESSAGES_DAYS = 7


@dataclass(frozen=True)
class PrivacySettings:
    """How long personal data is kept (UU PDP No. 27/2022), and PRIVASI's reply.

    After ``keep_messages_days`` a message keeps its row (counts and reports
    stay right) but loses its body and its phone; ``keep_bookings_days``
    after its date, a finished booking, waitlist place or lottery entry, and
    a booking attempt, keep only an anonymised phone (services/retention.py).
    """

    keep_messages_days: int = 90
    keep_bookings_days: int = 365
    notice: str = DEFAULT_NOTICE

    def notice_for(self, office: str) -> str:
        """Return the notice with the office's name and the retention periods filled in."""
        return self.notice.format(
            office=office,
            keep_messages_days=self.keep_messages_days,
            keep_bookings_days=self.keep_bookings_days,
        )


@dataclass(frozen=True)
class Settings:
    """Everything the gateway needs to run, validated."""

    offices: tuple[OfficeSpec, ...]
    database: DatabaseSettings = DatabaseSettings()
    twilio: TwilioSettings = TwilioSettings()
    kannel: KannelSettings = KannelSettings()
    outbound: OutboundSettings = OutboundSettings()
    logging: LoggingSettings = LoggingSettings()
    gammu: GammuSettings = GammuSettings()
    server: ServerSettings = ServerSettings()
    booking: BookingSettings = BookingSettings()
    calendar: CalendarSettings = CalendarSettings()
    rules: Rules = Rules()
    privacy: PrivacySettings = PrivacySettings()
    nik_secret: str | None = None
    source: Path | None = None  # the config file, or None for the built-in defaults

    @cached_property
    def session_names(self) -> frozenset[str]:
        """Return every session name of every office (DAFTAR tells them from dates)."""
        return frozenset(s.name for o in self.offices for s in o.sessions)

    @cached_property
    def uses_lottery(self) -> bool:
        """Return True when any office gives its days out by lottery."""
        return any(o.allocation == "lottery" for o in self.offices)

    def office(self, code: str) -> OfficeSpec | None:
        """Return the office with this code (any case), or None."""
        wanted = code.upper()
        return next((o for o in self.offices if o.code == wanted), None)


def load_settings(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Load settings from ``path`` (or ``$SMS_GATEWAY_CONFIG``, or the built-in defaults)."""
    env = os.environ if env is None else env
    if path is None and env.get(ENV_CONFIG):
        path = env[ENV_CONFIG]
    if path is None:
        text = resources.files("sms_gateway").joinpath("default_config.toml").read_text("utf-8")
        data = _parse_toml(text, "built-in defaults")
        return _build(data, source=None, env=env)
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


class _Table:
    """Read typed values from one TOML table and complain precisely about bad ones."""

    def __init__(self, data: Any, name: str, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: {name} must be a table")
        self.data, self.name, self.where = data, name, where
        self.seen: set[str] = set()

    def _fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {self.name} {key} {problem}")

    def get(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def string(self, key: str, default: str | None = None, *, max_len: int = 500) -> str | None:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._fail(key, f"must be a string (got {value!r})")
        value = value.strip()
        if len(value) > max_len:
            raise self._fail(key, f"must be at most {max_len} characters (got {len(value)})")
        return value or default

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(key, f"must be a whole number from {low} to {high} (got {value!r})")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(key, f"must be true or false (got {value!r})")
        return value

    def done(self) -> None:
        """Refuse keys nobody reads: a typo must not silently fall back to a default."""
        for key in self.data:
            if key not in self.seen:
                hint = difflib.get_close_matches(key, self.seen, n=1)
                extra = f" (did you mean {hint[0]}?)" if hint else ""
                raise ConfigError(f"{self.where}: unknown key {self.name} {key}{extra}")


_SECTIONS = (
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


def _build(data: dict[str, Any], *, source: Path | None, env: Mapping[str, str]) -> Settings:
    where = str(source) if source else "built-in defaults"
    for key in data:
        if key not in _SECTIONS:
            hint = difflib.get_close_matches(key, _SECTIONS, n=1)
            extra = f" (did you mean [{hint[0]}]?)" if hint else ""
            raise ConfigError(f"{where}: unknown section [{key}]{extra}")

    db = _Table(data.get("database", {}), "[database]", where)
    # Read the file's value first so the key counts as known, then let env override it.
    url = db.string("url", DEFAULT_DATABASE_URL)
    url = env.get(ENV_DATABASE_URL) or url
    db.done()
    assert url is not None
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(
            f"{where}: [database] url must start with sqlite:// or postgresql+psycopg:// "
            f"(got {url.split('://')[0]!r})"
        )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")

    tw = _Table(data.get("twilio", {}), "[twilio]", where)
    account_sid, auth_token = tw.string("account_sid"), tw.string("auth_token")
    number = tw.string("number")
    if number:
        try:
            number = normalize_phone(number, allow_short_code=True)
        except PhoneError:
            raise tw._fail("number", f"is not a phone number ({number!r})") from None
    callback = tw.string("status_callback")
    if callback and not re.match(r"^https?://[^/\s]+(/\S*)?$", callback):
        raise tw._fail("status_callback", f"must be an http(s) URL (got {callback!r})")
    twilio = TwilioSettings(
        account_sid=env.get(ENV_TWILIO_ACCOUNT_SID) or account_sid,
        auth_token=env.get(ENV_TWILIO_AUTH_TOKEN) or auth_token,
        number=number,
        messaging_service_sid=tw.string("messaging_service_sid"),
        status_callback=callback,
    )
    tw.done()

    ob = _Table(data.get("outbound", {}), "[outbound]", where)
    sender_name = (ob.string("sender", "console") or "console").lower()
    if sender_name not in SENDERS:
        raise ob._fail("sender", f"must be one of {', '.join(SENDERS)} (got {sender_name!r})")
    outbound = OutboundSettings(
        sender=sender_name,
        max_attempts=ob.integer("max_attempts", 8, low=1, high=50),
        batch_size=ob.integer("batch_size", 50, low=1, high=1000),
    )
    ob.done()

    lg = _Table(data.get("logging", {}), "[logging]", where)
    log_format = (lg.string("format", "text") or "text").lower()
    if log_format not in ("text", "json"):
        raise lg._fail("format", f'must be "text" or "json" (got {log_format!r})')
    level_name = (lg.string("level", "INFO") or "INFO").upper()
    if level_name not in LOG_LEVELS:
        raise lg._fail("level", f"must be one of {', '.join(LOG_LEVELS)} (got {level_name!r})")
    logging_settings = LoggingSettings(format=log_format, level=LOG_LEVELS[level_name])
    lg.done()

    kn = _Table(data.get("kannel", {}), "[kannel]", where)
    secret, password = kn.string("secret"), kn.string("password")
    kannel = KannelSettings(
        secret=env.get(ENV_KANNEL_SECRET) or secret,
        sendsms_url=_http_url(kn, "sendsms_url", KannelSettings.sendsms_url),
        username=kn.string("username"),
        password=env.get(ENV_KANNEL_PASSWORD) or password,
        sender=kn.string("from"),
        dlr_url=_http_url(kn, "dlr_url", KannelSettings.dlr_url),
        smsc=kn.string("smsc"),
    )
    kn.done()
    if kannel.secret is not None and len(kannel.secret) < MIN_NIK_SECRET:
        raise ConfigError(
            f"{where}: [kannel] secret must be at least {MIN_NIK_SECRET} "
            "characters (it is the only thing that authenticates Kannel)"
        )

    gm = _Table(data.get("gammu", {}), "[gammu]", where)
    gammu = GammuSettings(
        smsdrc=gm.string("smsdrc", GammuSettings.smsdrc) or GammuSettings.smsdrc,
        inject=gm.string("inject", GammuSettings.inject) or GammuSettings.inject,
        receive_timeout=gm.integer("receive_timeout", 60, low=0, high=110),
    )
    gm.done()

    srv = _Table(data.get("server", {}), "[server]", where)
    public_url = srv.string("public_url")
    if public_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", public_url):
        raise ConfigError(f"{where}: [server] public_url must look like https://host[/prefix]")
    server = ServerSettings(
        public_url=public_url.rstrip("/") if public_url else None,
        proxy_hops=srv.integer("proxy_hops", 0, low=0, high=5),
    )
    srv.done()
    if twilio.status_callback is None and server.public_url:
        # Twilio reports delivery to the same public host it sends webhooks to.
        twilio = replace(twilio, status_callback=f"{server.public_url}/sms/twilio/status")

    sec = _Table(data.get("security", {}), "[security]", where)
    nik_secret = sec.string("nik_secret")
    nik_secret = env.get(ENV_NIK_SECRET) or nik_secret
    sec.done()
    if nik_secret is not None and len(nik_secret) < MIN_NIK_SECRET:
        raise ConfigError(
            f"{where}: [security] nik_secret must be at least {MIN_NIK_SECRET} characters; "
            'make one with: python3 -c "import secrets; print(secrets.token_hex(32))"'
        )
    if nik_secret is None and source is not None:
        raise ConfigError(
            f"{where}: [security] nik_secret is not set (or set env {ENV_NIK_SECRET}). "
            "It keys the HMAC that stands in for every NIK; make one with: "
            'python3 -c "import secrets; print(secrets.token_hex(32))" and never change it'
        )

    bk = _Table(data.get("booking", {}), "[booking]", where)
    min_ahead = bk.integer("min_days_ahead", 1, low=0, high=365)
    max_ahead = bk.integer("max_days_ahead", 30, low=0, high=366)
    tz = _zone(bk.string("timezone", "Asia/Jakarta"), "[booking] timezone", where)
    rule_tables = [
        _Table(data.get(name, {}), f"[{name}]", where)
        for name in ("reminders", "penalty", "limits")
    ]
    rules = _rules(bk, *rule_tables, base=Rules())
    bk.done()
    for table in rule_tables:
        table.done()
    if max_ahead < min_ahead:
        raise ConfigError(
            f"{where}: [booking] max_days_ahead ({max_ahead}) is less than "
            f"min_days_ahead ({min_ahead})"
        )
    booking = BookingSettings(min_days_ahead=min_ahead, max_days_ahead=max_ahead, timezone=tz)

    cal = _Table(data.get("calendar", {}), "[calendar]", where)
    calendar = CalendarSettings(
        national_holidays=cal.boolean("national_holidays", True),
        cuti_bersama=cal.boolean("cuti_bersama", True),
    )
    cal.done()

    lt = _Table(data.get("lottery", {}), "[lottery]", where)
    allocation = _allocation(lt, "first_come")
    lottery = _lottery(lt, LotteryRules(), 0)  # checked against max_days_ahead per office
    lt.done()

    raw_offices = data.get("offices")
    if not isinstance(raw_offices, list) or not raw_offices:
        raise ConfigError(f"{where}: at least one [[offices]] table is needed")
    offices = tuple(
        _office(raw, i, where, tz, rules, (allocation, lottery, max_ahead))
        for i, raw in enumerate(raw_offices, start=1)
    )
    _check_unique(offices, where)

    pv = _Table(data.get("privacy", {}), "[privacy]", where)
    privacy = _privacy(pv, offices)
    pv.done()

    return Settings(
        offices=offices,
        database=DatabaseSettings(url=url),
        twilio=twilio,
        kannel=kannel,
        gammu=gammu,
        outbound=outbound,
        logging=logging_settings,
        server=server,
        booking=booking,
        calendar=calendar,
        rules=rules,
        privacy=privacy,
        nik_secret=nik_secret,
        source=source,
    )


def _privacy(t: _Table, offices: tuple[OfficeSpec, ...]) -> PrivacySettings:
    """Read the retention periods and PRIVASI's notice, which must fit one SMS."""
    keep_messages = t.integer("keep_messages_days", 90, low=MIN_KEEP_MESSAGES_DAYS, high=3650)
    keep_bookings = t.integer("keep_bookings_days", 365, low=MIN_KEEP_BOOKINGS_DAYS, high=3650)
    # A phone's no-shows count against it for window_days: an anonymised booking
    # no longer does, so bookings must be kept at least that long.
    window = max(o.rules.penalty_window_days for o in offices)
    if keep_bookings < window:
        raise t._fail(
            "keep_bookings_days",
            f"({keep_bookings}) must be at least [penalty] window_days ({window}): a "
            "no-show must keep counting against the phone for that long",
        )
    notice = t.string("notice", DEFAULT_NOTICE) or DEFAULT_NOTICE
    privacy = PrivacySettings(keep_messages, keep_bookings, notice)
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(notice) if name is not None}
    except ValueError as exc:  # a lone "{" or "}"
        raise t._fail(
            "notice", f"is not a valid template ({exc}); write {{{{ for a brace"
        ) from None
    unknown = sorted(fields - set(NOTICE_FIELDS))
    if unknown:
        allowed = ", ".join(f"{{{f}}}" for f in NOTICE_FIELDS)
        raise t._fail("notice", f"has {{{unknown[0]}}}; it may use only {allowed}")
    # The reply names the office the SMS went to: check the longest name.
    longest = privacy.notice_for(max((o.name for o in offices), key=len))
    length = septets(longest)
    if length is None:
        raise t._fail(
            "notice",
            "has characters an SMS cannot carry cheaply (use plain letters, digits and "
            "punctuation)",
        )
    if length > SEGMENT_SEPTETS:
        raise t._fail(
            "notice",
            f"is {length} characters with the longest office name filled in; one SMS "
            f"holds {SEGMENT_SEPTETS}",
        )
    return privacy


def _http_url(t: _Table, key: str, default: str) -> str:
    value = t.string(key) or default
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
        raise t._fail(key, f"must be an http(s) URL (got {value!r})")
    return value


def _zone(name: str | None, key: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Asia/Jakarta")
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: {key} {name!r} is not a known time zone "
            "(use e.g. Asia/Jakarta, Asia/Makassar, Asia/Jayapura)"
        ) from None


def _office(
    raw: Any,
    index: int,
    where: str,
    default_tz: ZoneInfo,
    rules: Rules,
    draw: tuple[str, LotteryRules, int],
) -> OfficeSpec:
    t = _Table(raw, f"[[offices]] #{index}", where)
    code = (t.string("code") or "").upper()
    if not _CODE_RE.match(code):
        raise t._fail(
            "code", f"must be 2-5 letters or digits starting with a letter (got {code!r})"
        )
    t.name = f"[[offices]] {code}"
    name = t.string("name", max_len=MAX_OFFICE_NAME)
    if not name:
        raise t._fail("name", "is required")
    _require_gsm(t, "name", name)

    sms_number = t.string("sms_number")
    if sms_number:
        try:
            sms_number = normalize_phone(sms_number, allow_short_code=True)
        except PhoneError as exc:
            raise t._fail("sms_number", f"is not a phone number or short code ({exc})") from None

    open_days_raw = t.get("open_days")
    if open_days_raw is None:
        open_days = frozenset(range(5))
    else:
        if not isinstance(open_days_raw, list) or not open_days_raw:
            raise t._fail("open_days", 'must be a list like ["mon", "tue", "wed", "thu", "fri"]')
        days = []
        for day in open_days_raw:
            if not isinstance(day, str) or day.strip().lower() not in WEEKDAYS:
                raise t._fail("open_days", f"has {day!r}; use mon, tue, wed, thu, fri, sat, sun")
            days.append(WEEKDAYS[day.strip().lower()])
        open_days = frozenset(days)

    closed: dict[date, str] = {}
    closed_raw = t.get("closed_dates")
    if closed_raw is None:
        closed_raw = []
    if not isinstance(closed_raw, list):
        raise t._fail(
            "closed_dates",
            'must be a list like ["2026-12-31"] or [{ date = 2026-12-31, reason = "..." }]',
        )
    for item in closed_raw:
        day, reason = _closed_date(item, t)
        closed[day] = reason

    sessions_raw = t.get("sessions")
    if not isinstance(sessions_raw, list) or not sessions_raw:
        raise t._fail(
            "sessions",
            'must list at least one { name = "PAGI", start = "08:00", end = "12:00", quota = 40 }',
        )
    if len(sessions_raw) > MAX_SESSIONS:
        raise t._fail(
            "sessions",
            f"has {len(sessions_raw)} sessions; at most {MAX_SESSIONS} fit in the replies",
        )
    sessions = tuple(_session(s, t) for s in sessions_raw)
    names = [s.name for s in sessions]
    if len(set(names)) != len(names):
        raise t._fail("sessions", f"has a repeated session name ({', '.join(names)})")
    ordered = sorted(sessions, key=lambda s: s.start)
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            raise t._fail("sessions", f"{a.name} and {b.name} overlap")

    tz_name = t.string("timezone")
    tz = _zone(tz_name, f"{t.name} timezone", where) if tz_name else default_tz
    # Per-office overrides of the fairness rules, as inline tables with the same keys
    # as the global sections: booking = { require_confirmation = true }, and so on.
    overrides = [
        _Table(t.get(name) or {}, f"{t.name} {name}", where)
        for name in ("booking", "reminders", "penalty", "limits")
    ]
    office_rules = _rules(*overrides, base=rules)
    for table in overrides:
        table.done()
    default_allocation, default_lottery, max_ahead = draw
    allocation = _allocation(t, default_allocation)
    lt = _Table(t.get("lottery") or {}, f"{t.name} lottery", where)
    lottery = _lottery(lt, default_lottery, max_ahead if allocation == "lottery" else 0)
    lt.done()
    t.done()
    return OfficeSpec(
        code=code,
        name=name,
        sms_number=sms_number,
        open_days=open_days,
        closed_dates=closed,
        sessions=tuple(ordered),
        timezone=tz,
        rules=office_rules,
        allocation=allocation,
        lottery=lottery,
    )


def _allocation(t: _Table, default: str) -> str:
    value = t.string("allocation", default)
    if value not in ALLOCATIONS:
        raise t._fail("allocation", f'must be "first_come" or "lottery" (got {value!r})')
    return value


def _lottery(t: _Table, base: LotteryRules, max_ahead: int) -> LotteryRules:
    """Read a lottery window; the draw must close at least a day before the day itself."""
    opens = t.integer("opens_days_before", base.opens_days_before, low=2, high=366)
    closes = t.integer("closes_days_before", base.closes_days_before, low=1, high=365)
    closes_at = _time(t, "closes_at") if t.get("closes_at") is not None else base.closes_at
    if closes >= opens:
        raise t._fail(
            "closes_days_before",
            f"({closes}) must be less than opens_days_before ({opens}): the window would be empty",
        )
    if max_ahead and opens > max_ahead:
        raise t._fail(
            "opens_days_before",
            f"({opens}) is more than [booking] max_days_ahead ({max_ahead}): nobody could "
            "enter on the first days of the window",
        )
    return LotteryRules(opens_days_before=opens, closes_days_before=closes, closes_at=closes_at)


def _rules(
    booking: _Table, reminders: _Table, penalty: _Table, limits: _Table, *, base: Rules
) -> Rules:
    """Read the fairness rules from their four tables, defaulting to ``base``."""
    reminders_done = reminders.data.get("send_at")
    rules = Rules(
        require_confirmation=booking.boolean("require_confirmation", base.require_confirmation),
        confirm_deadline=_time(booking, "confirm_deadline")
        if booking.data.get("confirm_deadline") is not None
        else base.confirm_deadline,
        max_reschedules=booking.integer("max_reschedules", base.max_reschedules, low=0, high=10),
        reminder_at=_time(reminders, "send_at") if reminders_done is not None else base.reminder_at,
        max_no_shows=penalty.integer("max_no_shows", base.max_no_shows, low=1, high=100),
        penalty_window_days=penalty.integer(
            "window_days", base.penalty_window_days, low=1, high=3650
        ),
        ban_days=penalty.integer("ban_days", base.ban_days, low=1, high=3650),
        messages_per_hour=limits.integer(
            "messages_per_hour", base.messages_per_hour, low=1, high=10_000
        ),
        niks_per_phone=limits.integer("niks_per_phone", base.niks_per_phone, low=1, high=100),
    )
    booking.seen.update(("confirm_deadline",))
    reminders.seen.add("send_at")
    if rules.require_confirmation and rules.confirm_deadline <= rules.reminder_at:
        raise booking._fail(
            "confirm_deadline",
            f"({rules.confirm_deadline:%H:%M}) must be "
            f"after the reminder time ({rules.reminder_at:%H:%M})",
        )
    return rules


def _closed_date(item: Any, t: _Table) -> tuple[date, str]:
    reason = ""
    if isinstance(item, dict):
        reason = str(item.get("reason") or "").strip()
        unknown = set(item) - {"date", "reason"}
        if unknown:
            raise t._fail(
                "closed_dates",
                f"entry has unknown key {sorted(unknown)[0]!r} (use date and reason)",
            )
        item = item.get("date")
    if isinstance(item, date) and not hasattr(item, "hour"):
        day = item
    elif isinstance(item, str):
        try:
            day = date.fromisoformat(item.strip())
        except ValueError:
            raise t._fail("closed_dates", f"has {item!r}; write dates as YYYY-MM-DD") from None
    else:
        raise t._fail("closed_dates", f"has {item!r}; write dates as YYYY-MM-DD")
    if reason:
        _require_gsm(t, "closed_dates reason", reason)
    return day, reason[:40]


def _session(raw: Any, office: _Table) -> SessionSpec:
    s = _Table(raw, f"{office.name} sessions entry", office.where)
    name = (s.string("name") or "").upper()
    if not _SESSION_RE.match(name):
        raise s._fail(
            "name",
            f"must be 1-{MAX_SESSION_NAME} letters or digits starting with a letter (got {name!r})",
        )
    s.name = f"{office.name} session {name}"
    start, end = _time(s, "start"), _time(s, "end")
    if end <= start:
        raise s._fail("end", f"must be after start ({start:%H:%M})")
    quota = s.integer("quota", 0, low=0, high=MAX_QUOTA)
    if "quota" not in s.data:
        raise s._fail("quota", "is required")
    s.done()
    return SessionSpec(name=name, start=start, end=end, quota=quota)


def _time(t: _Table, key: str) -> time:
    value = t.get(key)
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str) and (m := _TIME_RE.match(value.strip())):
        return time(int(m.group(1)), int(m.group(2)))
    raise t._fail(key, f'must be a time like "08:00" (got {value!r})')


def _require_gsm(t: _Table, key: str, value: str) -> None:
    try:
        value.encode("gsm03.38")
    except UnicodeEncodeError:
        raise t._fail(
            key,
            f"{value!r} has characters an SMS cannot carry cheaply "
            "(use plain letters, digits and punctuation)",
        ) from None


def _check_unique(offices: tuple[OfficeSpec, ...], where: str) -> None:
    codes = [o.code for o in offices]
    for code in codes:
        if codes.count(code) > 1:
            raise ConfigError(f"{where}: office code {code} is used twice")
    numbers = [o.sms_number for o in offices if o.sms_number]
    for number in numbers:
        if numbers.count(number) > 1:
            raise ConfigError(f"{where}: sms_number {number} is used by two offices")

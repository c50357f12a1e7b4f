"""The gateway's typed settings: every key of the TOML file, its default and its bounds.

Each key is declared once, here: the loader (tables.py) reads a table into
its dataclass by these declarations (``Annotated[...]`` carries the bounds,
the key's name when it differs and an overriding environment variable).
Fields stand in the order they are read, so a table with two bad keys is
reported at the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo

from sms_gateway.config.tables import (
    Check,
    Env,
    Folded,
    Key,
    MaxLen,
    Named,
    Range,
    base_url,
    http_url,
    phone_number,
)

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

# "first_come": DAFTAR takes a seat at once. "lottery": inside the lottery window
# DAFTAR enters a draw instead (services/lottery.py); after the draw, first come.
Allocation = Literal["first_come", "lottery"]
ALLOCATIONS: tuple[Allocation, ...] = get_args(Allocation)
# The channel the worker sends the outbox through (channels/registry.py).
SenderName = Literal["console", "twilio", "kannel", "gammu"]
SENDERS: tuple[SenderName, ...] = get_args(SenderName)
LogFormat = Literal["text", "json"]
LOG_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


@dataclass(frozen=True)
class SessionSpec:
    """One bookable session of an office day, e.g. PAGI 08:00-12:00 for 40 people."""

    name: str
    start: time
    end: time
    quota: Annotated[int, Range(0, MAX_QUOTA)]

    def quota_with(self, override: int | None) -> int:
        """Return the quota of one day: the staff override (KUOTA) if set, else the configured."""
        return self.quota if override is None else override

    @property
    def window(self) -> str:
        """Return the arrival window as ``HH:MM-HH:MM``."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Rules:
    """The fairness rules; global defaults, each overridable per office.

    Each is read from the table its ``Key`` names: globally [booking], [reminders],
    [penalty] and [limits]; per office the inline tables of the same names.
    """

    require_confirmation: Annotated[bool, Key(table="booking")] = False
    # Unconfirmed bookings are released at this time (office time) the day before.
    confirm_deadline: Annotated[time, Key(table="booking")] = time(21, 0)
    max_reschedules: Annotated[int, Key(table="booking"), Range(0, 10)] = 2
    # When the day-before reminder goes out (office time).
    reminder_at: Annotated[time, Key("send_at", table="reminders")] = time(16, 0)
    max_no_shows: Annotated[int, Key(table="penalty"), Range(1, 100)] = 2
    penalty_window_days: Annotated[int, Key("window_days", table="penalty"), Range(1, 3650)] = 90
    ban_days: Annotated[int, Key(table="penalty"), Range(1, 3650)] = 30
    messages_per_hour: Annotated[int, Key(table="limits"), Range(1, 10_000)] = 20
    # Distinct NIKs booked from one phone per 30 days:
    niks_per_phone: Annotated[int, Key(table="limits"), Range(1, 100)] = 3


@dataclass(frozen=True)
class LotteryRules:
    """When a lottery office's draw for a day takes entries and when it is drawn."""

    # Entries from 00:00 this many days before the day...
    opens_days_before: Annotated[int, Range(2, 366)] = 30
    # ... until closes_at this many days before; then the draw.
    closes_days_before: Annotated[int, Range(1, 365)] = 3
    closes_at: time = time(20, 0)


@dataclass(frozen=True)
class OfficeSpec:
    """An office that takes bookings, with its own calendar and sessions."""

    code: str
    name: Annotated[str, MaxLen(MAX_OFFICE_NAME)]
    sms_number: str | None
    open_days: frozenset[int]
    closed_dates: Mapping[date, str]
    sessions: tuple[SessionSpec, ...]
    timezone: ZoneInfo
    rules: Rules = Rules()
    allocation: Allocation = "first_come"
    lottery: LotteryRules = LotteryRules()

    def session(self, name: str) -> SessionSpec | None:
        """Return the session called ``name`` (any case), or None."""
        wanted = name.upper()
        return next((s for s in self.sessions if s.name == wanted), None)


@dataclass(frozen=True)
class DatabaseSettings:
    """[database]: where the gateway keeps its data."""

    url: Annotated[str, Env(ENV_DATABASE_URL)] = DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class TwilioSettings:
    """[twilio]: the account that receives and sends SMS through Twilio."""

    account_sid: Annotated[str | None, Env(ENV_TWILIO_ACCOUNT_SID)] = None
    auth_token: Annotated[str | None, Env(ENV_TWILIO_AUTH_TOKEN)] = None
    number: Annotated[str | None, Check(phone_number)] = None
    # Where Twilio posts delivery status (by default derived from [server] public_url).
    status_callback: Annotated[str | None, Check(http_url)] = None
    messaging_service_sid: str | None = None


@dataclass(frozen=True)
class LoggingSettings:
    """[logging]: how log records are written."""

    format: Annotated[LogFormat, Folded(str.lower)] = "text"
    level: Annotated[int, Named(LOG_LEVELS), Folded(str.upper)] = 20  # INFO


@dataclass(frozen=True)
class OutboundSettings:
    """[outbound]: how the worker sends the outbox."""

    # Which channel the worker sends the outbox through:
    sender: Annotated[SenderName, Folded(str.lower)] = "console"
    # 30 s, 1, 2, 4, 8, 16, 32, 60 min: survives an hour's outage.
    max_attempts: Annotated[int, Range(1, 50)] = 8
    batch_size: Annotated[int, Range(1, 1000)] = 50


@dataclass(frozen=True)
class KannelSettings:
    """[kannel]: the Kannel box that carries SMS to and from an operator or modem."""

    # The key= Kannel sends on every call to /sms/kannel:
    secret: Annotated[str | None, Env(ENV_KANNEL_SECRET)] = None
    password: Annotated[str | None, Env(ENV_KANNEL_PASSWORD)] = None
    sendsms_url: Annotated[str, Check(http_url)] = "http://127.0.0.1:13013/cgi-bin/sendsms"
    username: str | None = None
    # The "from" of outbound SMS:
    sender: Annotated[str | None, Key("from")] = None
    dlr_url: Annotated[str, Check(http_url)] = "http://127.0.0.1:5000/sms/kannel/dlr"
    smsc: str | None = None


@dataclass(frozen=True)
class GammuSettings:
    """[gammu]: Gammu SMSD with a GSM modem in the office."""

    smsdrc: str = "/etc/gammu-smsdrc"
    inject: str = "gammu-smsd-inject"
    # SMSD waits for RunOnReceive (at most 2 minutes); keep retrying a busy or
    # restarting database for this long, then fail so RunOnFailure can act.
    receive_timeout: Annotated[int, Range(0, 110)] = 60


@dataclass(frozen=True)
class ServerSettings:
    """[server]: how the gateway is reached from outside."""

    public_url: Annotated[str | None, Check(base_url)] = None
    proxy_hops: Annotated[int, Range(0, 5)] = 0


@dataclass(frozen=True)
class BookingSettings:
    """[booking]: which days can be booked, and the offices' default time zone."""

    min_days_ahead: Annotated[int, Range(0, 365)] = 1
    max_days_ahead: Annotated[int, Range(0, 366)] = 30
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))


@dataclass(frozen=True)
class CalendarSettings:
    """[calendar]: the days every office is closed."""

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

    keep_messages_days: Annotated[int, Range(MIN_KEEP_MESSAGES_DAYS, 3650)] = 90
    keep_bookings_days: Annotated[int, Range(MIN_KEEP_BOOKINGS_DAYS, 3650)] = 365
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
    # Read from [security]:
    nik_secret: Annotated[str | None, Env(ENV_NIK_SECRET)] = None
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

"""Read the [[offices]] tables: calendar, sessions, and each office's rules and lottery.

The fairness rules and the lottery window have global defaults ([booking],
[reminders], [penalty], [limits] and [lottery]) that an office may override
with inline tables of the same names; both are read here.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec used to check names)

from sms_gateway.config.settings import (
    MAX_SESSION_NAME,
    MAX_SESSIONS,
    Allocation,
    LotteryRules,
    OfficeSpec,
    Rules,
    SessionSpec,
)
from sms_gateway.config.tables import ConfigError, Table, read_dataclass, tables_of
from sms_gateway.phones import PhoneError, normalize_phone

WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}  # fmt: skip
# An office without open_days serves Monday to Friday.
DEFAULT_OPEN_DAYS = frozenset(range(5))

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,4}$")
_SESSION_RE = re.compile(rf"^[A-Z][A-Z0-9]{{0,{MAX_SESSION_NAME - 1}}}$")
# The tables the fairness rules are read from, globally and per office.
RULE_TABLES = tables_of(Rules)


@dataclass(frozen=True)
class OfficeDefaults:
    """What an office inherits from the global sections unless it says otherwise."""

    timezone: ZoneInfo
    rules: Rules
    allocation: Allocation
    lottery: LotteryRules
    max_days_ahead: int


def read_rules(tables: dict[str, Table], *, base: Rules | None) -> Rules:
    """Read the fairness rules from their four tables, defaulting to ``base`` (or the defaults)."""
    rules = read_dataclass(Rules, tables, base=base)
    if rules.require_confirmation and rules.confirm_deadline <= rules.reminder_at:
        raise tables["booking"].fail(
            "confirm_deadline",
            f"({rules.confirm_deadline:%H:%M}) must be "
            f"after the reminder time ({rules.reminder_at:%H:%M})",
        )
    return rules


def read_lottery(t: Table, *, base: LotteryRules | None, max_ahead: int) -> LotteryRules:
    """Read a lottery window; the draw must close at least a day before the day itself.

    Absent keys keep ``base``'s values (or the defaults). ``max_ahead`` is
    [booking] max_days_ahead, or 0 where it does not apply.
    """
    lottery = t.read(LotteryRules, base=base)
    opens, closes = lottery.opens_days_before, lottery.closes_days_before
    if closes >= opens:
        raise t.fail(
            "closes_days_before",
            f"({closes}) must be less than opens_days_before ({opens}): the window would be empty",
        )
    if max_ahead and opens > max_ahead:
        raise t.fail(
            "opens_days_before",
            f"({opens}) is more than [booking] max_days_ahead ({max_ahead}): nobody could "
            "enter on the first days of the window",
        )
    return lottery


def read_offices(raw_offices: Any, where: str, defaults: OfficeDefaults) -> tuple[OfficeSpec, ...]:
    """Read every [[offices]] table; codes and SMS numbers must be unique."""
    if not isinstance(raw_offices, list) or not raw_offices:
        raise ConfigError(f"{where}: at least one [[offices]] table is needed")
    offices = tuple(
        _office(Table(raw, f"[[offices]] #{i}", where), defaults)
        for i, raw in enumerate(raw_offices, start=1)
    )
    _check_unique(offices, where)
    return offices


def _office(t: Table, defaults: OfficeDefaults) -> OfficeSpec:
    code = (t.value(OfficeSpec, "code") or "").upper()
    if not _CODE_RE.match(code):
        raise t.fail("code", f"must be 2-5 letters or digits starting with a letter (got {code!r})")
    t.name = f"[[offices]] {code}"
    name = t.value(OfficeSpec, "name")
    if not name:
        raise t.fail("name", "is required")
    _require_gsm(t, "name", name)

    sms_number = t.value(OfficeSpec, "sms_number")
    if sms_number:
        try:
            sms_number = normalize_phone(sms_number, allow_short_code=True)
        except PhoneError as exc:
            raise t.fail("sms_number", f"is not a phone number or short code ({exc})") from None

    open_days = _open_days(t)
    closed = _closed_dates(t)
    sessions = _sessions(t)
    timezone = t.value(OfficeSpec, "timezone", default=defaults.timezone)
    # Per-office overrides of the fairness rules, as inline tables with the same keys
    # as the global sections: booking = { require_confirmation = true }, and so on.
    overrides = {
        name: Table(t.get(name) or {}, f"{t.name} {name}", t.where) for name in RULE_TABLES
    }
    rules = read_rules(overrides, base=defaults.rules)
    for table in overrides.values():
        table.done()
    allocation = t.value(OfficeSpec, "allocation", default=defaults.allocation)
    lt = Table(t.get("lottery") or {}, f"{t.name} lottery", t.where)
    max_ahead = defaults.max_days_ahead if allocation == "lottery" else 0
    lottery = read_lottery(lt, base=defaults.lottery, max_ahead=max_ahead)
    lt.done()
    t.done()
    return OfficeSpec(
        code=code,
        name=name,
        sms_number=sms_number,
        open_days=open_days,
        closed_dates=closed,
        sessions=sessions,
        timezone=timezone,
        rules=rules,
        allocation=allocation,
        lottery=lottery,
    )


def _open_days(t: Table) -> frozenset[int]:
    raw = t.get("open_days")
    if raw is None:
        return DEFAULT_OPEN_DAYS
    if not isinstance(raw, list) or not raw:
        raise t.fail("open_days", 'must be a list like ["mon", "tue", "wed", "thu", "fri"]')
    days = []
    for day in raw:
        if not isinstance(day, str) or day.strip().lower() not in WEEKDAYS:
            raise t.fail("open_days", f"has {day!r}; use mon, tue, wed, thu, fri, sat, sun")
        days.append(WEEKDAYS[day.strip().lower()])
    return frozenset(days)


def _closed_dates(t: Table) -> dict[date, str]:
    raw = t.get("closed_dates")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise t.fail(
            "closed_dates",
            'must be a list like ["2026-12-31"] or [{ date = 2026-12-31, reason = "..." }]',
        )
    return dict(_closed_date(item, t) for item in raw)


def _closed_date(item: Any, t: Table) -> tuple[date, str]:
    reason = ""
    if isinstance(item, dict):
        reason = str(item.get("reason") or "").strip()
        unknown = set(item) - {"date", "reason"}
        if unknown:
            raise t.fail(
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
            raise t.fail("closed_dates", f"has {item!r}; write dates as YYYY-MM-DD") from None
    else:
        raise t.fail("closed_dates", f"has {item!r}; write dates as YYYY-MM-DD")
    if reason:
        _require_gsm(t, "closed_dates reason", reason)
    return day, reason[:40]


def _sessions(t: Table) -> tuple[SessionSpec, ...]:
    """Read the office's sessions, ordered by start time; they must not overlap."""
    raw = t.get("sessions")
    if not isinstance(raw, list) or not raw:
        raise t.fail(
            "sessions",
            'must list at least one { name = "PAGI", start = "08:00", end = "12:00", quota = 40 }',
        )
    if len(raw) > MAX_SESSIONS:
        raise t.fail(
            "sessions",
            f"has {len(raw)} sessions; at most {MAX_SESSIONS} fit in the replies",
        )
    sessions = tuple(_session(s, t) for s in raw)
    names = [s.name for s in sessions]
    if len(set(names)) != len(names):
        raise t.fail("sessions", f"has a repeated session name ({', '.join(names)})")
    ordered = sorted(sessions, key=lambda s: s.start)
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            raise t.fail("sessions", f"{a.name} and {b.name} overlap")
    return tuple(ordered)


def _session(raw: Any, office: Table) -> SessionSpec:
    s = Table(raw, f"{office.name} sessions entry", office.where)
    name = (s.string("name") or "").upper()
    if not _SESSION_RE.match(name):
        raise s.fail(
            "name",
            f"must be 1-{MAX_SESSION_NAME} letters or digits starting with a letter (got {name!r})",
        )
    s.name = f"{office.name} session {name}"
    start, end = s.time("start"), s.time("end")
    if end <= start:
        raise s.fail("end", f"must be after start ({start:%H:%M})")
    quota = s.value(SessionSpec, "quota")
    if quota is None:
        raise s.fail("quota", "is required")
    s.done()
    return SessionSpec(name=name, start=start, end=end, quota=quota)


def _require_gsm(t: Table, key: str, value: str) -> None:
    try:
        value.encode("gsm03.38")
    except UnicodeEncodeError:
        raise t.fail(
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

"""The simulated world: the example config's offices, the calendar, a fresh database.

The config is ``config.example.toml`` with three changes written to a temp
file: the database URL, a NIK secret, and ``require_confirmation = true`` (the
confirm-or-release rule under test; ``confirm=False`` keeps the example's
``false``). Everything else (offices, sessions, quotas, closed dates, holidays,
penalties, limits) is the example's.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text

from sms_gateway.config import OfficeSpec, Settings, load_settings
from sms_gateway.schedule import OfficeCalendar

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config.example.toml"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NIK_SECRET = "simulate-month-nik-secret-0123456789"


@dataclass(frozen=True)
class World:
    """Offices, calendar and the days of one run."""

    settings: Settings
    calendar: OfficeCalendar
    start: date  # first measured day
    end: date  # last measured day (the 30th working day)
    first_arrival: date  # arrivals start this many days before ``start``
    days: tuple[date, ...]  # every calendar day simulated, first_arrival..end

    @property
    def offices(self) -> tuple[OfficeSpec, ...]:
        """Return the offices of the config."""
        return self.settings.offices

    def is_open(self, office: OfficeSpec, day: date) -> bool:
        """Return True when ``office`` serves applicants on ``day``."""
        return self.calendar.is_open(office, day)

    def capacity(self, office: OfficeSpec, day: date) -> int:
        """Return the seats ``office`` offers on ``day`` (0 when closed)."""
        return sum(s.quota for s in office.sessions) if self.is_open(office, day) else 0

    def measured(self) -> list[date]:
        """Return the calendar days whose seats are counted."""
        return [d for d in self.days if d >= self.start]


def write_config(directory: Path, url: str, *, confirm: bool = True) -> Path:
    """Write the simulator's config (the example's, see module doc) and return its path."""
    body = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    replacements = {
        'url = "sqlite:///sms-gateway.db"': f'url = "{url}"',
        'nik_secret = ""': f'nik_secret = "{NIK_SECRET}"',
        "require_confirmation = false": f"require_confirmation = {str(confirm).lower()}",
    }
    for old, new in replacements.items():
        if old not in body:
            raise RuntimeError(f"{EXAMPLE_CONFIG}: expected {old!r}; update bench/sim/world.py")
        body = body.replace(old, new, 1)
    path = directory / "simulate.toml"
    path.write_text(body, encoding="utf-8")
    return path


def build_world(config: Path, start: date, working_days: int = 30, warmup_days: int = 14) -> World:
    """Load the config and lay out the days: warm-up arrivals, then the measured days."""
    settings = load_settings(config, env={})
    calendar = OfficeCalendar(settings)
    first = settings.offices[0]
    day, open_days = start, 0
    while True:
        if calendar.is_open(first, day):
            open_days += 1
            if open_days == working_days:
                break
        day += timedelta(days=1)
    first_arrival = start - timedelta(days=warmup_days)
    days = tuple(first_arrival + timedelta(days=i) for i in range((day - first_arrival).days + 1))
    return World(settings, calendar, start, day, first_arrival, days)


@contextmanager
def fresh_database(postgres: bool, pg_url: str = PG_URL) -> Iterator[tuple[str, Path]]:
    """Yield (database URL, temp directory): a new SQLite file, or a new PostgreSQL schema.

    The schema is dropped and the directory removed afterwards, whatever happens.
    """
    with tempfile.TemporaryDirectory(prefix="simulate-month-") as tmp:
        directory = Path(tmp)
        if not postgres:
            yield f"sqlite:///{directory / 'gateway.db'}", directory
            return
        schema = "sim_" + secrets.token_hex(6)
        server = create_engine(pg_url)
        try:
            with server.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                yield f"{pg_url}?options={quote(f'-csearch_path={schema}')}", directory
            finally:
                with server.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        finally:
            server.dispose()

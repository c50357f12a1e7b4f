"""Shared fixtures: real SQLite files and a real PostgreSQL schema per test, a fixed clock.

PostgreSQL tests use ``SMS_GATEWAY_TEST_POSTGRES_URL`` (default: the local
server's ``test`` database). When it cannot be reached they are skipped with
the reason, unless ``SMS_GATEWAY_REQUIRE_POSTGRES=1`` (as in CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
import shutil
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from sms_gateway import migrate
from sms_gateway.config import Settings, load_settings
from sms_gateway.db import create_db_engine, create_session_factory
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage, Reply

PG_URL = os.environ.get(
    "SMS_GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("SMS_GATEWAY_REQUIRE_POSTGRES") == "1"

NIK_SECRET = "test-nik-secret-0123456789abcdef"
AUTH_TOKEN = "test-auth-token-0123456789"

# Friday 27 November 2026, 10:00 WIB. With the default window (1..30 days ahead)
# bookable dates run from Sat 28-11-2026 to Sun 27-12-2026.
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)

VALID_NIK = "3528011505900001"


def nik(serial: int) -> str:
    """Return a structurally valid NIK, distinct per serial (1..9999)."""
    return f"352801150590{serial:04d}"


def phone(n: int) -> str:
    """Return a distinct valid Indonesian mobile number in E.164."""
    return f"+62812{n:08d}"


OFFICES_TOML = """
[[offices]]
code = "PMK"
name = "Kantor Imigrasi Pamekasan"
sms_number = "+6282140000001"
open_days = ["mon", "tue", "wed", "thu", "fri"]
closed_dates = [{ date = 2026-12-10, reason = "rapat dinas" }]
sessions = [
  { name = "PAGI", start = "08:00", end = "12:00", quota = 3 },
  { name = "SIANG", start = "13:00", end = "15:00", quota = 2 },
]

[[offices]]
code = "MLG"
name = "Kantor Imigrasi Malang"
sms_number = "+6281330000002"
open_days = ["mon", "tue", "wed", "thu", "fri"]
sessions = [
  { name = "PAGI", start = "08:00", end = "12:00", quota = 3 },
  { name = "SIANG", start = "13:00", end = "15:00", quota = 2 },
]
"""


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


def write_config(
    directory: Path,
    url: str,
    extra: str = "",
    offices: str = OFFICES_TOML,
    twilio: str = f'auth_token = "{AUTH_TOKEN}"',
) -> Path:
    """Write a config file for ``url`` and return its path."""
    body = (
        textwrap.dedent(f"""
        [database]
        url = "{url}"

        [security]
        nik_secret = "{NIK_SECRET}"

        [twilio]
        {twilio}
    """)
        + textwrap.dedent(extra)
        + textwrap.dedent(offices)
    )
    path = directory / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


# -- databases ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Engine]:
    """An engine on the PostgreSQL test database, or a skip (a failure in CI)."""
    # pre_ping: the flash-crowd fault test restarts the server mid-suite.
    engine = create_engine(PG_URL, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any connection failure means "no server here"
        engine.dispose()
        reason = f"PostgreSQL unreachable at {PG_URL}: {type(exc).__name__}: {exc}"
        if REQUIRE_PG:
            pytest.fail(reason + " (SMS_GATEWAY_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


def _pg_schema_url(pg_server: Engine, migrated: bool = True) -> tuple[str, Callable[[], None]]:
    schema = "t_" + secrets.token_hex(6)
    with pg_server.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    if migrated:
        engine = create_db_engine(url)
        migrate.upgrade(engine)
        engine.dispose()

    def drop() -> None:
        with pg_server.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))

    return url, drop


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url, drop = _pg_schema_url(request.getfixturevalue("pg_server"))
    yield url
    drop()


@pytest.fixture
def empty_pg_url(pg_server: Engine) -> Iterator[str]:
    """A PostgreSQL schema with no tables at all."""
    url, drop = _pg_schema_url(pg_server, migrated=False)
    yield url
    drop()


# -- the gateway -------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config_path(tmp_path: Path, db_url: str) -> Path:
    return write_config(tmp_path, db_url)


@pytest.fixture
def settings(config_path: Path) -> Settings:
    return load_settings(config_path, env={})


@pytest.fixture
def gateway(settings: Settings, clock: Clock) -> Iterator[Gateway]:
    gw = Gateway(settings, clock=clock)
    yield gw
    gw.close()


@pytest.fixture
def send(gateway: Gateway) -> Callable[..., str]:
    """Send one SMS through the real inbound path and return the reply text."""

    def _send(
        body: str,
        sender: str = phone(1),
        to: str | None = None,
        sid: str | None = None,
        transport: str = "test",
    ) -> str:
        reply: Reply = gateway.handle(
            InboundMessage(
                transport=transport, sender=sender, recipient=to, text=body, external_id=sid
            )
        )
        return reply.text

    return _send


def count(gateway: Gateway, sql: str, **params: object) -> int:
    """Run a counting query on the gateway's database."""
    with gateway.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


@contextmanager
def database_down(gateway: Gateway) -> Iterator[None]:
    """Point every pool the gateway answers messages with at a server that refuses."""
    dead = create_db_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    inbox, outbound, lane = gateway.inbox, gateway.outbound, gateway.inbox.lane
    real = inbox.sessions, outbound.sessions, lane.engine if lane else None
    inbox.sessions = outbound.sessions = create_session_factory(dead)
    if lane is not None:  # PostgreSQL's crowd lane has a pool of its own
        lane.engine = dead
    try:
        yield
    finally:
        inbox.sessions, outbound.sessions = real[0], real[1]
        if lane is not None and real[2] is not None:
            lane.engine = real[2]
        dead.dispose()

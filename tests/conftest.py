"""Shared fixtures: real SQLite files and a real PostgreSQL schema per test, a fixed clock.

A test gets a copy of a migrated SQLite file, or a PostgreSQL schema of its own:
one schema, migrated once per session, emptied and renamed between tests (see
"databases" below).

PostgreSQL tests use ``SMS_GATEWAY_TEST_POSTGRES_URL`` (default: the local
server's ``test`` database). When it cannot be reached they are skipped with
the reason, unless ``SMS_GATEWAY_REQUIRE_POSTGRES=1`` (as in CI), where they fail.
"""

from __future__ import annotations

import itertools
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
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

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
#
# PostgreSQL. Creating a schema and migrating it with Alembic takes ~0.2 s, more than
# most tests. So a pytest session migrates one schema (``_PgSchemas``) and hands it
# from test to test, putting it back after each test into the state Alembic left it
# in: the tables written to are truncated (TRUNCATE fires no row triggers, so the
# append-only audit tables allow it), the rows migrations seed (alembic_version, the
# audit chain's head) are inserted again and every sequence gets its state back (ids
# and queue numbers start at 1). That takes ~20-35 ms. A catalog fingerprint catches
# a test that changed more than rows (a disabled trigger, a half-done downgrade):
# that schema is dropped and the next test gets a freshly migrated one.
#
# Measured on the alternatives: CREATE DATABASE ... TEMPLATE plus DROP DATABASE is
# itself as quick (~33 ms), but every connection to a brand-new database starts cold:
# starting a gateway and booking twice took 238 ms against 136 ms on a reset schema,
# and each test wrote ~10 times as much WAL (4.8 MB against 0.5 MB). Truncating every
# table, not only those written to, costs about the same for a typical test.
#
# Each test still gets a schema name, so a URL, of its own: the reset renames the
# schema. A connection an earlier test left open then finds no tables, as when every
# test had a new schema, instead of writing into the next test's database. Names carry
# a random tag per pytest session, so suites run at once on one server never share a
# schema; the session drops all of its schemas at the end.


def _url(schema: str) -> str:
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"


# What a test could change in a schema besides its rows -- its objects; the tables'
# columns, indexes, constraints, triggers (enabled or not), policies and rules; the
# functions' code; the sequences' parameters -- as one hash, with the schema's name
# taken out (it changes after every test). Every catalog is read through an index
# (pg_depend finds the schema's objects): a PostgreSQL without autovacuum has bloated
# catalogs, where scanning pg_class alone takes milliseconds.
_FINGERPRINT = text("""
WITH objects AS MATERIALIZED (
  SELECT d.classid, d.objid FROM pg_depend d
   WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjsubid = 0
     AND d.refobjid = (SELECT oid FROM pg_namespace WHERE nspname = CAST(:schema AS text))
), rels AS MATERIALIZED (
  SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relrowsecurity,
         c.relforcerowsecurity, c.reloptions, c.relacl
    FROM objects o JOIN LATERAL (SELECT * FROM pg_class c WHERE c.oid = o.objid OFFSET 0) c ON true
   WHERE o.classid = 'pg_class'::regclass
), facts(fact) AS (
  SELECT concat_ws(' ', 'object', pg_describe_object(classid, objid, 0)) FROM objects
  UNION ALL
  SELECT concat_ws(' ', 'relation', r.relname, r.relkind, r.relpersistence, r.relrowsecurity,
                   r.relforcerowsecurity, r.reloptions::text, r.relacl::text,
                   CASE WHEN r.relkind IN ('v', 'm') THEN pg_get_viewdef(r.oid) END)
    FROM rels r
  UNION ALL
  SELECT concat_ws(' ', 'column', r.relname, a.attnum, a.attname,
                   format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
                   a.attgenerated, a.attcollation,
                   (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
                     WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum))
    FROM rels r JOIN LATERAL (SELECT * FROM pg_attribute a WHERE a.attrelid = r.oid
                                 AND a.attnum > 0 AND NOT a.attisdropped OFFSET 0) a ON true
  UNION ALL
  SELECT concat_ws(' ', 'index', pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisclustered,
                   (SELECT concat_ws(' ', c.relpersistence, c.reloptions::text)
                      FROM pg_class c WHERE c.oid = i.indexrelid))
    FROM rels r JOIN LATERAL (SELECT * FROM pg_index i WHERE i.indrelid = r.oid OFFSET 0) i ON true
  UNION ALL
  SELECT concat_ws(' ', 'constraint', r.relname, k.conname, pg_get_constraintdef(k.oid),
                   k.convalidated)
    FROM rels r JOIN LATERAL (SELECT * FROM pg_constraint k WHERE k.conrelid = r.oid OFFSET 0) k
      ON true
  UNION ALL
  SELECT concat_ws(' ', 'trigger', r.relname, t.tgenabled,
                   CASE WHEN t.tgisinternal  -- foreign keys' triggers: named after OIDs
                        THEN concat_ws(' ', t.tgfoid::regproc, t.tgtype,
                                       (SELECT k.conname FROM pg_constraint k
                                         WHERE k.oid = t.tgconstraint))
                        ELSE pg_get_triggerdef(t.oid) END)
    FROM rels r JOIN LATERAL (SELECT * FROM pg_trigger t WHERE t.tgrelid = r.oid OFFSET 0) t ON true
  UNION ALL
  SELECT concat_ws(' ', 'sequence', r.relname, s.seqtypid::regtype, s.seqstart,
                   s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
    FROM rels r JOIN LATERAL (SELECT * FROM pg_sequence s WHERE s.seqrelid = r.oid OFFSET 0) s
      ON true
  UNION ALL
  SELECT concat_ws(' ', 'policy', r.relname, p.polname, p.polcmd, p.polpermissive,
                   pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
    FROM rels r JOIN LATERAL (SELECT * FROM pg_policy p WHERE p.polrelid = r.oid OFFSET 0) p ON true
  UNION ALL
  SELECT concat_ws(' ', 'rule', r.relname, w.rulename, w.ev_enabled, pg_get_ruledef(w.oid))
    FROM rels r JOIN LATERAL (SELECT * FROM pg_rewrite w WHERE w.ev_class = r.oid OFFSET 0) w
      ON true
   WHERE r.relkind NOT IN ('v', 'm')
  UNION ALL
  SELECT concat_ws(' ', 'function', pg_get_functiondef(o.objid))
    FROM objects o JOIN LATERAL (SELECT * FROM pg_proc p WHERE p.oid = o.objid OFFSET 0) p ON true
   WHERE o.classid = 'pg_proc'::regclass AND p.prokind IN ('f', 'p')
  UNION ALL
  SELECT concat_ws(' ', 'enum', o.objid::regtype, e.labels)
    FROM objects o JOIN LATERAL (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                   FROM pg_enum e WHERE e.enumtypid = o.objid) e(labels) ON true
   WHERE o.classid = 'pg_type'::regclass
)
SELECT md5(string_agg(fact, E'\\n' ORDER BY fact))
  FROM (SELECT replace(fact, CAST(:schema AS text), '{schema}') AS fact FROM facts) AS named
""")

# Backends holding (or waiting for) a lock on anything in the schema. They can only
# be this session's leftovers (no one else knows the name) -- e.g. a connection
# "idle in transaction" that a test's engine never closed -- and they would make
# the reset's TRUNCATE (or the DROP) wait for ever: they are terminated first.
# Terminating rather than only waiting with a lock_timeout: the test is over, so
# nothing legitimate can be using the schema, and waiting could not end better.
# The lock_timeout stays as a net for a backend that locks in between.
_TERMINATE_LOCK_HOLDERS = text("""
SELECT count(pg_terminate_backend(pid)) FROM (
  SELECT DISTINCT l.pid FROM pg_locks l
   WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.pid <> pg_backend_pid()
     AND (SELECT c.relnamespace FROM pg_class c WHERE c.oid = l.relation)
         = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = CAST(:schema AS text))
) AS holders
""")
_LOCK_TIMEOUT = "2s"
_ATTEMPTS = 3


def _qualified(schema: str, name: str) -> str:
    return f'{schema}."{name}"'


def _rows_sql(schema: str, tables: list[str]) -> str:
    """One row: each table's rows as JSON text (the same text for the same rows)."""
    return "SELECT " + ", ".join(
        f"(SELECT json_agg(r ORDER BY r::text)::text FROM {_qualified(schema, t)} r)"
        for t in tables
    )


def _sequences_sql(schema: str, sequences: list[str]) -> str:
    """Each sequence's name, last_value and is_called."""
    return " UNION ALL ".join(
        f"SELECT '{s}', last_value, is_called FROM {_qualified(schema, s)}" for s in sequences
    )


def _names(conn: Connection, schema: str, relkinds: str) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = CAST(:schema AS regnamespace)"
                " AND CAST(relkind AS text) = ANY(:kinds) ORDER BY relname"
            ),
            {"schema": schema, "kinds": list(relkinds)},
        ).scalars()
    )


@dataclass
class _MigratedSchema:
    """A schema as Alembic left it: what the reset puts back."""

    name: str
    fingerprint: str
    # Each table, and the tables a TRUNCATE of it must take along (those referencing
    # it by foreign key, transitively).
    reaches: dict[str, set[str]]
    seeds: dict[str, str]  # the rows of the tables migrations fill, as JSON
    seed_columns: dict[str, list[str]]
    sequences: dict[str, tuple[int, bool]]  # last_value, is_called

    @classmethod
    def inspect(cls, conn: Connection, name: str) -> _MigratedSchema:
        tables = _names(conn, name, "rp")
        referenced_by: dict[str, set[str]] = {table: set() for table in tables}
        for referencing, referenced in conn.execute(
            text(
                "SELECT src.relname, dst.relname FROM pg_constraint k"
                " JOIN pg_class src ON src.oid = k.conrelid"
                " JOIN pg_class dst ON dst.oid = k.confrelid"
                " WHERE k.contype = 'f' AND k.connamespace = CAST(:schema AS regnamespace)"
            ),
            {"schema": name},
        ):
            referenced_by.setdefault(referenced, set()).add(referencing)
        reaches: dict[str, set[str]] = {}
        for table in tables:
            reached: set[str] = set()
            todo = [table]
            while todo:
                current = todo.pop()
                if current not in reached:
                    reached.add(current)
                    todo.extend(referenced_by.get(current, ()))
            reaches[table] = reached
        rows = conn.execute(text(_rows_sql(name, tables))).one() if tables else ()
        seeds = {t: r for t, r in zip(tables, rows, strict=True) if r is not None}
        seed_columns = {
            table: list(
                conn.execute(
                    text(
                        "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass)"
                        " AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
                        " ORDER BY attnum"
                    ),
                    {"t": _qualified(name, table)},
                ).scalars()
            )
            for table in seeds
        }
        sequences = _names(conn, name, "S")
        states = conn.execute(text(_sequences_sql(name, sequences))).all() if sequences else []
        return cls(
            name=name,
            fingerprint=conn.execute(_FINGERPRINT, {"schema": name}).scalar_one(),
            reaches=reaches,
            seeds=seeds,
            seed_columns=seed_columns,
            sequences={seq: (last, called) for seq, last, called in states},
        )


class _PgSchemas:
    """This pytest session's PostgreSQL schemas: migrated ones reused, empty ones."""

    def __init__(self, server: Engine) -> None:
        self.server = server
        self.prefix = f"t_{secrets.token_hex(4)}_"
        self.serial = itertools.count(1)
        self.idle: list[_MigratedSchema] = []

    def new_name(self) -> str:
        return f"{self.prefix}{next(self.serial)}"

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction that waits for a lock at most _LOCK_TIMEOUT."""
        with self.server.begin() as conn:
            # jit off: with stale catalog statistics the planner thinks the catalog
            # queries big enough to compile them, which takes ~0.5 s.
            settings = "set_config('lock_timeout', :timeout, true), set_config('jit', 'off', true)"
            conn.execute(text(f"SELECT {settings}"), {"timeout": _LOCK_TIMEOUT})
            yield conn

    def create_empty(self) -> str:
        name = self.new_name()
        with self.server.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {name}"))
        return name

    def acquire(self) -> _MigratedSchema:
        """A migrated schema nothing else uses: a reset one, or a freshly migrated one."""
        if self.idle:
            return self.idle.pop()
        name = self.create_empty()
        engine = create_db_engine(_url(name))
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        with self._begin() as conn:
            return _MigratedSchema.inspect(conn, name)

    def release(self, schema: _MigratedSchema) -> None:
        """Reset the schema for the next test, or drop it if it cannot be.

        Dropped when a test changed more than its rows, or when a lock stayed out of
        reach _ATTEMPTS times: the next test then gets a freshly migrated schema.
        """
        for _ in range(_ATTEMPTS):
            self._terminate_lock_holders(schema.name)
            try:
                with self._begin() as conn:
                    if not self._reset(conn, schema):
                        break  # changed beyond its rows: make a new one
                    new_name = self.new_name()
                    conn.execute(text(f"ALTER SCHEMA {schema.name} RENAME TO {new_name}"))
                schema.name = new_name
                self.idle.append(schema)
                return
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                    raise
        self.drop(schema.name)

    def _reset(self, conn: Connection, schema: _MigratedSchema) -> bool:
        """Put the schema's rows and sequences back; False if more than that changed."""
        if conn.execute(_FINGERPRINT, {"schema": schema.name}).scalar_one() != schema.fingerprint:
            return False
        # From here to the commit (and the rename) nothing can write to the tables: a
        # leftover connection that writes on after its test either wrote before, and
        # its rows are seen and truncated, or waits and then finds the schema renamed.
        tables = list(schema.reaches)
        qualified = [_qualified(schema.name, t) for t in tables]
        conn.execute(text(f"LOCK TABLE {', '.join(qualified)} IN ACCESS EXCLUSIVE MODE"))
        # A table no one wrote to since it was created or truncated has no pages.
        sizes = conn.execute(
            text(
                "SELECT pg_relation_size(CAST(t AS regclass))"
                " FROM unnest(CAST(:tables AS text[])) WITH ORDINALITY AS u(t, n) ORDER BY n"
            ),
            {"tables": qualified},
        ).scalars()
        dirty = {t for t, size in zip(tables, sizes, strict=True) if size} - schema.seeds.keys()
        if schema.seeds:
            seeded = list(schema.seeds)
            rows = conn.execute(text(_rows_sql(schema.name, seeded))).one()
            dirty.update(t for t, r in zip(seeded, rows, strict=True) if r != schema.seeds[t])
        emptied = set().union(*(schema.reaches[t] for t in dirty))
        if emptied:
            truncated = ", ".join(_qualified(schema.name, t) for t in sorted(emptied))
            conn.execute(text(f"TRUNCATE {truncated}"))
        for table in sorted(emptied & schema.seeds.keys()):
            columns = ", ".join(f'"{c}"' for c in schema.seed_columns[table])
            target = _qualified(schema.name, table)
            conn.execute(
                text(
                    f"INSERT INTO {target} ({columns}) OVERRIDING SYSTEM VALUE"
                    f" SELECT {columns} FROM json_populate_recordset(NULL::{target}, :rows)"
                ),
                {"rows": schema.seeds[table]},
            )
        if schema.sequences:
            states = conn.execute(text(_sequences_sql(schema.name, list(schema.sequences))))
            for seq, last, called in states.all():
                if (last, called) != schema.sequences[seq]:
                    last, called = schema.sequences[seq]
                    conn.execute(
                        text("SELECT setval(CAST(:seq AS regclass), :last, :called)"),
                        {"seq": _qualified(schema.name, seq), "last": last, "called": called},
                    )
        return True

    def _terminate_lock_holders(self, name: str) -> None:
        with self._begin() as conn:
            conn.execute(_TERMINATE_LOCK_HOLDERS, {"schema": name})

    def drop(self, name: str) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            self._terminate_lock_holders(name)
            try:
                with self._begin() as conn:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
                return
            except OperationalError as exc:
                if attempt == _ATTEMPTS or getattr(exc.orig, "sqlstate", None) != "55P03":
                    raise

    def close(self) -> None:
        """Drop every schema of this session, wherever a test left it."""
        self.idle.clear()
        with self.server.connect() as conn:
            names = list(
                conn.execute(
                    text("SELECT nspname FROM pg_namespace WHERE left(nspname, :n) = :prefix"),
                    {"n": len(self.prefix), "prefix": self.prefix},
                ).scalars()
            )
        for name in names:
            self.drop(name)


# The schemas of each pg_server engine (one per session; a dict so that
# _pg_schema_url keeps its signature, which test modules import).
_SCHEMAS: dict[Engine, _PgSchemas] = {}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Engine]:
    """An engine on the PostgreSQL test database, or a skip (a failure in CI)."""
    # pre_ping: a connection the server dropped (an admin's restart, an idle timeout) is
    # replaced, not handed out dead. No test restarts this shared server: the flash-crowd
    # db-restart test restarts a private cluster of its own.
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
    _SCHEMAS[engine] = schemas = _PgSchemas(engine)
    yield engine
    del _SCHEMAS[engine]
    schemas.close()
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
    """The URL of a schema of this test's own, migrated or empty, and what gives it back."""
    schemas = _SCHEMAS[pg_server]
    if migrated:
        schema = schemas.acquire()
        return _url(schema.name), lambda: schemas.release(schema)
    name = schemas.create_empty()
    return _url(name), lambda: schemas.drop(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url, give_back = _pg_schema_url(request.getfixturevalue("pg_server"))
    yield url
    give_back()


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

"""Engine and session setup for SQLite (embedded default) and PostgreSQL.

SQLite needs care to be correct under several threads and worker processes:
every transaction starts with ``BEGIN IMMEDIATE`` so the write lock is taken up
front (two writers never both read, then both fail to upgrade their lock), and
a busy timeout makes a waiting writer queue instead of failing with
"database is locked". WAL mode lets readers go on while one writer works.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Result, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from sms_gateway.models import Base

SQLITE_BUSY_TIMEOUT_S = 30
PG_CONNECT_TIMEOUT_S = 10


# Execution option: this transaction only reads (see read_only_session).
READ_ONLY = "sms_gateway_read_only"


def is_sqlite(url: str) -> bool:
    """Return True for a SQLite URL."""
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """Return the file behind a SQLite URL, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database)


def rowcount(result: Result[Any]) -> int:
    """Return how many rows an UPDATE or DELETE run through ``Session.execute`` matched.

    ``Session.execute`` is typed to return a ``Result``, which has no rowcount;
    for a DML statement it is a ``CursorResult``, which has.
    """
    return cast("CursorResult[Any]", result).rowcount


# The dialect's INSERT, which knows ON CONFLICT.
UpsertFactory = Callable[[Table], postgresql.Insert | sqlite.Insert]


def insert_for(session: Session) -> UpsertFactory:
    """Return the dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_ignore(session: Session, model: type[Base], **values: object) -> bool:
    """Insert a row unless its primary key exists; return True if this call inserted it."""
    insert = insert_for(session)
    # RETURNING tells reliably whether a row went in; the ORM-level rowcount of an
    # INSERT .. ON CONFLICT can be -1 ("unknown") on PostgreSQL, which reads as true.
    table = model.__table__
    statement = insert(table).values(**values).on_conflict_do_nothing()
    inserted = session.execute(statement.returning(*table.primary_key.columns)).first()
    return inserted is not None


def create_db_engine(url: str) -> Engine:
    """Create an engine with the settings this gateway relies on for correctness."""
    if not is_sqlite(url):
        # A bounded connect: a request (or Gammu's RunOnReceive) waiting on an
        # unreachable server must fail in seconds, not hang.
        return create_engine(
            url, pool_pre_ping=True, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}
        )
    memory = sqlite_path(url) is None
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        # An in-memory database exists once per connection: share one.
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite would
        # otherwise begin lazily, as DEFERRED, and break savepoints).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        # Readers that never write (the public pages) begin DEFERRED: in WAL mode
        # they then read a snapshot beside the writer instead of queueing for its lock.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def read_only_session(sessions: sessionmaker[Session]) -> Session:
    """Open a session for reads only: one consistent snapshot, no write lock.

    On SQLite the transaction begins DEFERRED (see create_db_engine); on
    PostgreSQL it runs at REPEATABLE READ, so every query sees the same moment.
    Close it when done (nothing to commit).
    """
    session = sessions()
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        session.connection(execution_options={READ_ONLY: True})
    return session


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory the service layer opens transactions with."""
    return sessionmaker(engine, expire_on_commit=False)

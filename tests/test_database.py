"""The schema: migrations match the models, and the rules hold in the database itself."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from sms_gateway import migrate
from sms_gateway.config import ConfigError, load_settings
from sms_gateway.db import create_db_engine
from sms_gateway.gateway import Gateway
from sms_gateway.models import Base
from tests.conftest import NIK_SECRET, VALID_NIK, Clock, nik, phone, write_config

Send = Callable[..., str]


def test_migrations_create_exactly_the_models(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_to_nothing_and_upgrade_again(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        config = migrate._config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert "bookings" not in inspect(engine).get_table_names()
        assert migrate.upgrade(engine) is True
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert migrate.upgrade(engine) is False  # already current: nothing runs
    finally:
        engine.dispose()


def _start_gateway(config: str, start_at: float) -> str:
    """Run in a separate process: build a Gateway (which migrates) at a set moment."""
    while time.time() < start_at:
        time.sleep(0.001)
    gateway = Gateway(load_settings(config, env={}), clock=Clock())
    gateway.close()
    return migrate.current_revision(gateway.engine) or ""


def test_workers_starting_at_once_on_an_empty_database_migrate_it_once(
    tmp_path: Path, empty_pg_url: str
) -> None:
    for name, url in (("sqlite", f"sqlite:///{tmp_path}/fresh.db"), ("pg", empty_pg_url)):
        directory = tmp_path / name
        directory.mkdir()
        config = str(write_config(directory, url))
        start_at = time.time() + 3
        with ProcessPoolExecutor(max_workers=3, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_start_gateway, config, start_at) for _ in range(3)]
            revisions = [f.result(timeout=60) for f in futures]
        assert revisions == [migrate.head_revision()] * 3


# -- rules enforced by the database, bypassing Python -----------------------------------

INSERT = text(
    "INSERT INTO bookings (office_code, booking_date, session_name, queue_seq, code, phone, "
    "nik_hash, nik_masked, status, created_at) VALUES ('PMK', :day, 'PAGI', :seq, :code, "
    ":phone, :nik_hash, 'masked', :status, CURRENT_TIMESTAMP)"
)


def _insert(engine: Engine, seq: int, phone_: str, nik_hash: str, status: str = "active") -> None:
    with engine.begin() as conn:
        conn.execute(
            INSERT,
            {
                "day": date(2026, 12, 8),
                "seq": seq,
                "code": f"C{seq:05d}",
                "phone": phone_,
                "nik_hash": nik_hash,
                "status": status,
            },
        )


@pytest.mark.parametrize(
    ("second_phone", "second_hash", "index"),
    [
        ("+62811", "h2", "one_active_booking_per_phone"),
        ("+62812", "h1", "one_active_booking_per_nik"),
    ],
)
def test_a_second_active_booking_is_refused_by_the_database(
    db_url: str, second_phone: str, second_hash: str, index: str
) -> None:
    engine = create_db_engine(db_url)
    try:
        _insert(engine, 1, "+62811", "h1")
        with pytest.raises(IntegrityError):
            _insert(engine, 2, second_phone, second_hash)
        # Cancelled and expired bookings do not count.
        _insert(engine, 3, "+62811", "h1", status="cancelled")
        _insert(engine, 4, "+62811", "h1", status="expired")
        names = {i["name"] for i in inspect(engine).get_indexes("bookings")}
        assert index in names
    finally:
        engine.dispose()


def test_a_queue_number_is_given_once_per_office_day(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        _insert(engine, 7, "+62811", "h1", status="cancelled")
        with pytest.raises(IntegrityError):
            _insert(engine, 7, "+62812", "h2")
    finally:
        engine.dispose()


def test_the_seat_counter_cannot_go_negative(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO session_slots (office_code, slot_date, session_name, booked)"
                    " VALUES ('PMK', '2026-12-08', 'PAGI', -1)"
                )
            )
    finally:
        engine.dispose()


# -- privacy ---------------------------------------------------------------------------


def _all_text(gateway: Gateway) -> str:
    chunks: list[str] = []
    with gateway.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                chunks.extend(str(value) for value in row)
    return "\n".join(chunks)


def test_no_nik_is_stored_or_logged_in_clear(
    send: Send, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    niks = [VALID_NIK, nik(2), nik(3)]
    with caplog.at_level(logging.DEBUG):
        send(f"DAFTAR {niks[0]} 8-12-2026", sid="SMa")
        send(
            f"daftar#{niks[1][:4]}#{niks[1][4:8]}#{niks[1][8:12]}#{niks[1][12:]}#9-12-2026",
            sender=phone(2),
        )
        send(f"DAFTAR {niks[2]} 31-02", sender=phone(3))  # refused, still logged
        send(f"DAFTAR {niks[0]} 8-12-2026", sender=phone(4))  # NIK taken
    stored = _all_text(gateway)
    assert "3528********0001" in stored  # the masked form staff see is there
    for value in niks:
        assert value not in stored
        assert value not in caplog.text
        # A plain hash would be reversible by trying every plausible NIK: we use an HMAC.
        assert hashlib.sha256(value.encode()).hexdigest() not in stored


def test_the_nik_hash_is_keyed_by_the_configured_secret(send: Send, gateway: Gateway) -> None:
    import hmac

    send(f"DAFTAR {VALID_NIK} 8-12-2026")
    expected = hmac.new(NIK_SECRET.encode(), VALID_NIK.encode(), hashlib.sha256).hexdigest()
    with gateway.engine.connect() as conn:
        assert conn.execute(text("SELECT nik_hash FROM bookings")).scalar_one() == expected


# -- configuration the router cannot tell apart ------------------------------------------


@pytest.mark.parametrize(
    ("code", "session", "word"),
    [
        ("DES", "PAGI", "office code DES"),
        ("CEK", "PAGI", "office code CEK"),
        ("PMK", "BESOK", "session name BESOK"),
        ("PMK", "SENIN", "session name SENIN"),
        ("PAGI", "PAGI", "office code PAGI"),
    ],
)
def test_office_codes_and_sessions_that_read_as_other_words_are_refused(
    tmp_path: Path, code: str, session: str, word: str
) -> None:
    offices = f"""
        [[offices]]
        code = "{code}"
        name = "Kantor"
        sessions = [{{ name = "{session}", start = "08:00", end = "12:00", quota = 5 }}]
    """
    path = write_config(tmp_path, f"sqlite:///{tmp_path}/x.db", offices=offices)
    with pytest.raises(ConfigError, match=word):
        Gateway(load_settings(path, env={}))


def test_a_read_only_session_reads_a_snapshot_beside_a_writer(gateway: Gateway) -> None:
    # The public pages read this way: a writer holding the lock (a booking rush on
    # SQLite) must neither block them nor show them uncommitted rows.
    from sms_gateway.db import read_only_session

    with gateway.engine.connect() as writer:
        tx = writer.begin()  # BEGIN IMMEDIATE on SQLite: the write lock is held
        writer.execute(
            text("INSERT INTO gateway_meta (key, value) VALUES ('read_only_probe', 'x')")
        )
        reader = read_only_session(gateway.sessions)
        try:
            seen = reader.execute(
                text("SELECT count(*) FROM gateway_meta WHERE key = 'read_only_probe'")
            ).scalar_one()
        finally:
            reader.close()
        tx.rollback()
    assert seen == 0

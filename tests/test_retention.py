"""Retention (UU PDP No. 27/2022): old data loses its phone and text, counts and the chain stay.

A history is made through the real path (SMS in, worker ticks), then the clock
jumps past [privacy] keep_messages_days and keep_bookings_days and the purge
runs: through the worker's tick, directly, and through `sms-gateway purge`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sms_gateway.cli import main
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import ChainRecord
from sms_gateway.services.chain_records import is_anonymised
from sms_gateway.services.retention import PurgeResult
from tests.conftest import OFFICES_TOML, Clock, count, nik, phone, write_config

Send = Callable[..., str]

# PMK gives its days out by lottery (entries from ten days before), MLG is first come.
OFFICES = OFFICES_TOML.replace(
    'closed_dates = [{ date = 2026-12-10, reason = "rapat dinas" }]',
    'closed_dates = [{ date = 2026-12-10, reason = "rapat dinas" }]\n'
    'allocation = "lottery"\n'
    'lottery = { opens_days_before = 10, closes_days_before = 3, closes_at = "20:00" }',
)
PRIVACY = "[privacy]\nkeep_messages_days = 30\nkeep_bookings_days = 120\n"

IN_WINDOW = datetime.fromisoformat("2026-11-28T09:00+07:00")  # PMK 8-12 takes entries
AFTER_MESSAGES = datetime.fromisoformat("2027-01-15T09:00+07:00")  # > 30 days, < 120 days
AFTER_BOOKINGS = datetime.fromisoformat("2027-06-01T09:00+07:00")  # > 120 days after 1-12

TABLES = ("messages", "bookings", "waitlist", "lottery_entries", "booking_attempts")


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    return write_config(tmp_path, db_url, extra=PRIVACY, offices=OFFICES)


@pytest.fixture
def gateway(config: Path, clock: Clock) -> Iterator[Gateway]:
    gw = Gateway(load_settings(config, env={}), clock=clock)
    yield gw
    gw.close()


@pytest.fixture
def send(gateway: Gateway) -> Send:
    def _send(body: str, sender: str) -> str:
        message = InboundMessage(transport="test", sender=sender, recipient=None, text=body)
        return gateway.handle(message).text

    return _send


def rows(gateway: Gateway, table: str) -> list[dict[str, Any]]:
    with gateway.engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))
        return [dict(row._mapping) for row in result]


def snapshot(gateway: Gateway) -> dict[str, list[dict[str, Any]]]:
    return {table: rows(gateway, table) for table in TABLES}


def chain_length(gateway: Gateway) -> int:
    with gateway.sessions() as session:
        return session.query(ChainRecord).count()


def verify(gateway: Gateway) -> list[str]:
    with gateway.sessions() as session:
        return gateway.chain.verify(session).problems


def history(gateway: Gateway, clock: Clock, send: Send) -> None:
    """A finished lottery entry, booking, waitlist place and five no-shows, all by SMS."""
    gateway.jobs.tick(clock())  # PMK's round for 8-12 is committed before its window
    clock.now = IN_WINDOW
    assert send(f"DAFTAR {nik(1)} 8-12-2026", phone(1)).startswith("Anda ikut undian PMK")
    assert send("BATAL", phone(1)).startswith("Anda keluar dari undian PMK")
    assert send(f"DAFTAR {nik(2)} 30-11-2026 MLG", phone(2)).startswith("Terdaftar!")
    assert send("BATAL", phone(2)).startswith("Antrean MLG-001")
    for n in range(3, 8):  # MLG Tue 1-12: PAGI 3 + SIANG 2
        assert send(f"DAFTAR {nik(n)} 1-12-2026 MLG", phone(n)).startswith("Terdaftar!")
    assert send(f"TUNGGU {nik(8)} 1-12-2026 MLG", phone(8)).startswith("Anda di daftar tunggu")
    assert send("BATAL", phone(8)).startswith("Anda keluar dari daftar tunggu")
    # A reminder to phone 3 waits in the outbox: no worker ever sends it.
    with gateway.sessions.begin() as session:
        gateway.outbound.enqueue(session, phone(3), "Pengingat yang belum terkirim", clock())
    clock.now = datetime.fromisoformat("2026-12-02T09:00+07:00")
    gateway.jobs.tick(clock())  # 1-12 is over: its five bookings become no-shows


def test_the_purge_anonymises_what_is_due_keeps_every_row_and_the_chain_verifies(
    gateway: Gateway, clock: Clock, send: Send
) -> None:
    history(gateway, clock, send)
    before = snapshot(gateway)
    assert all(before[t] for t in TABLES)
    records = chain_length(gateway)

    # Past keep_messages_days (30), within keep_bookings_days (120): texts and phones of
    # the old messages go, except the SMS still waiting to be sent; nothing else changes.
    clock.now = AFTER_MESSAGES
    assert send("CEK", phone(9)).startswith("Nomor ini tidak punya antrean aktif")
    first = gateway.jobs.retention.purge(gateway.sessions, clock())
    assert (first.messages, first.bookings, first.lottery_entries) == (
        len(before["messages"]) - 1,
        0,
        0,
    )
    messages = rows(gateway, "messages")
    assert len(messages) == len(before["messages"]) + 2  # the CEK and its reply
    old, new = messages[: len(before["messages"])], messages[len(before["messages"]) :]
    unsent = [m for m in old if m["status"] == "pending"]
    assert [m["body"] for m in unsent] == ["Pengingat yang belum terkirim"]
    assert unsent[0]["phone"] == phone(3)
    for message in old:
        if message["status"] != "pending":
            assert (message["body"], is_anonymised(message["phone"])) == ("", True), message
    assert [m["phone"] for m in new] == [phone(9), phone(9)]
    assert all(m["body"] for m in new)
    assert snapshot(gateway)["bookings"] == before["bookings"]

    # Past keep_bookings_days: every finished booking, waitlist place, lottery entry and
    # booking attempt keeps only its phone's pseudonym; the masked NIK and its HMAC stay.
    clock.now = AFTER_BOOKINGS
    second = gateway.jobs.retention.purge(gateway.sessions, clock())
    assert (second.bookings, second.waitlist, second.lottery_entries) == (6, 1, 1)
    assert second.booking_attempts == len(before["booking_attempts"])
    after = snapshot(gateway)
    for table in ("bookings", "waitlist", "lottery_entries", "booking_attempts"):
        assert len(after[table]) == len(before[table])
        for old_row, row in zip(before[table], after[table], strict=True):
            assert is_anonymised(row["phone"]), row
            assert row["phone"] == gateway.chain.anonymise(old_row["phone"])
            assert {k: v for k, v in row.items() if k != "phone"} == {
                k: v for k, v in old_row.items() if k != "phone"
            }
    assert count(gateway, "SELECT count(*) FROM bookings WHERE nik_masked LIKE '3528%'") == 6

    # The chain recorded the phones' keyed hashes all along: nothing to append, and
    # every row still matches what it recorded.
    assert chain_length(gateway) == records
    assert verify(gateway) == []

    # Again: nothing is due, nothing is touched.
    again = snapshot(gateway)
    assert not gateway.jobs.retention.purge(gateway.sessions, clock())
    assert snapshot(gateway) == again


def test_a_booking_still_holding_its_seat_keeps_its_phone_however_old(
    gateway: Gateway, clock: Clock, send: Send
) -> None:
    clock.now = IN_WINDOW
    assert send(f"DAFTAR {nik(2)} 30-11-2026 MLG", phone(2)).startswith("Terdaftar!")
    # No tick, no sweep: a year later the booking still says "active".
    clock.now = AFTER_BOOKINGS + timedelta(days=365)
    result = gateway.jobs.retention.purge(gateway.sessions, clock())
    assert (result.bookings, result.booking_attempts, result.messages) == (0, 1, 2)
    assert [b["phone"] for b in rows(gateway, "bookings")] == [phone(2)]
    assert verify(gateway) == []


def test_the_worker_tick_purges_a_bounded_share_and_says_so(
    gateway: Gateway, clock: Clock, send: Send
) -> None:
    history(gateway, clock, send)
    gateway.jobs.retention.batch_size = 2  # 10 batches of 2 per table in one tick
    clock.now = AFTER_BOOKINGS
    result = gateway.jobs.tick(clock())
    assert result.purged.bookings == 6
    assert result.purged.messages == 20  # the tick's share of the 24 due: 10 batches of 2
    assert "anonymised past retention: 20 message(s), 6 booking(s)" in str(result)
    # The rest goes in the next ticks; then a tick finds nothing more to do.
    while gateway.jobs.tick(clock()).purged:
        pass
    due = [m for m in rows(gateway, "messages") if m["status"] != "pending"]
    assert all(is_anonymised(m["phone"]) and m["body"] == "" for m in due)
    assert gateway.jobs.tick(clock()).purged == PurgeResult()
    assert verify(gateway) == []


def test_cli_purge_dry_run_counts_and_changes_nothing_then_purges(
    gateway: Gateway,
    clock: Clock,
    send: Send,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    history(gateway, clock, send)
    before = snapshot(gateway)
    now = ["--now", AFTER_BOOKINGS.isoformat()]
    assert main(["--config", str(config), "purge", "--dry-run", *now]) == 0
    out = capsys.readouterr().out
    due_messages = len(before["messages"]) - 1  # all but the unsent one
    assert f"due: {due_messages} message(s) older than 30 days" in out
    assert "due: 6 booking(s), 1 waitlist place(s), 1 lottery entr(y/ies)" in out
    assert "dry run: nothing changed" in out
    assert snapshot(gateway) == before

    assert main(["--config", str(config), "purge", *now]) == 0
    out = capsys.readouterr().out
    assert f"anonymised: {due_messages} message(s)" in out
    assert "anonymised: 6 booking(s), 1 waitlist place(s), 1 lottery entr(y/ies)" in out
    assert main(["--config", str(config), "purge", *now]) == 0
    assert "anonymised: 0 message(s)" in capsys.readouterr().out
    assert verify(gateway) == []

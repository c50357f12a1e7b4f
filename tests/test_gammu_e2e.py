"""End to end with the real Gammu SMSD (dummy phone): an SMS in the modem's inbox is
answered by `sms-gateway gammu-receive` as RunOnReceive, and the reply leaves via SMSD.

The gateway runs as the installed command, on the real clock, exactly as
deploy/gammu/smsdrc wires it. Skipped without Gammu, failed instead in CI.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from tests.conftest import nik, write_config
from tests.gammu_harness import GammuHarness, gammu_available, running_gammu

EXE = str(Path(sys.executable).with_name("sms-gateway"))
PHONE = "+6281234567890"


@pytest.fixture(autouse=True)
def _require_gammu() -> None:
    reason = gammu_available()
    if reason is not None:
        if os.environ.get("SMS_GATEWAY_REQUIRE_GAMMU") == "1":
            pytest.fail(reason + " (SMS_GATEWAY_REQUIRE_GAMMU=1)")
        pytest.skip(reason)


def gammu_config(tmp_path: Path, db_url: str, smsdrc: Path, timeout: int = 20) -> Path:
    extra = f"""
        [gammu]
        smsdrc = "{smsdrc}"
        inject = "/usr/bin/gammu-smsd-inject"
        receive_timeout = {timeout}
    """
    return write_config(tmp_path, db_url, extra=extra)


@pytest.fixture
def smsd(tmp_path: Path, db_url: str) -> Iterator[tuple[GammuHarness, Path]]:
    workdir = tmp_path / "gammu"
    workdir.mkdir()
    config = gammu_config(tmp_path, db_url, workdir / "smsdrc")
    command = f"{shlex.quote(EXE)} --config {shlex.quote(str(config))} gammu-receive"
    with running_gammu(workdir, command) as harness:
        yield harness, config


def bookable_day(config: Path) -> date:
    """The first date PMK takes bookings on, by the real clock (the command uses it)."""
    gateway = Gateway(load_settings(config, env={}))
    try:
        office = gateway.settings.offices[0]
        today = gateway.calendar.today(office, datetime.now(UTC))
        day = gateway.calendar.next_bookable(office, today)
        assert day is not None
        return day
    finally:
        gateway.close()


# SMSD logs each message it picks from the outbox, then "Transmitted" once it went out.
FOUND = re.compile(r'Found \d+ sms to "([^"]+)" with text "(.*)" cod ')


def replies_to(harness: GammuHarness, number: str, count: int, timeout: float = 30) -> list[str]:
    """Return the texts SMSD transmitted to ``number``, once ``count`` went out in all.

    Read from SMSD's log, not its sent folder: two replies to one number in the same
    second get the same outbox file name, and the second overwrites the first in
    sent/ (both are transmitted; only the record is lost, seen with 1.42).
    """
    deadline = time.monotonic() + timeout
    while True:
        log = harness.log_path.read_text(errors="replace") if harness.log_path.exists() else ""
        if log.count("Transmitted OUTC") >= count:
            return [text for to, text in FOUND.findall(log) if to == number]
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} SMS not transmitted in {timeout} s:\n{log}")
        time.sleep(0.2)


def test_an_sms_to_the_modem_is_booked_and_answered(smsd: tuple[GammuHarness, Path]) -> None:
    harness, config = smsd
    day = bookable_day(config)
    harness.put_incoming(PHONE, f"DAFTAR {nik(1)} {day:%d-%m-%Y}")
    (run,) = harness.wait_received(1, timeout=30)
    assert run.exit_status == 0, harness.logs()
    (reply,) = replies_to(harness, PHONE, 1)
    assert reply.startswith("Terdaftar! Antrean PMK-001 Kantor Imigrasi Pamekasan"), reply

    harness.put_incoming(PHONE, "cek")
    second = harness.wait_received(2, timeout=30)[-1]
    assert second.exit_status == 0, f"{second.output}\n{harness.logs()}"
    assert replies_to(harness, PHONE, 2)[1].startswith("Antrean Anda PMK-001")

    gateway = Gateway(load_settings(config, env={}))
    try:
        with gateway.engine.connect() as conn:
            bookings = conn.execute(text("SELECT phone, status FROM bookings")).all()
            sent = conn.execute(
                text(
                    "SELECT count(*) FROM messages WHERE direction = 'out' "
                    "AND status = 'sent' AND external_id LIKE '%OUTC%'"
                )
            )
            assert sent.scalar_one() == 2
    finally:
        gateway.close()
    assert [tuple(b) for b in bookings] == [(PHONE, "active")]


def test_long_and_unicode_messages_are_reassembled(smsd: tuple[GammuHarness, Path]) -> None:
    harness, _ = smsd
    harness.put_incoming(PHONE, "halo " * 40 + "\u00e7")  # 201 characters, UCS-2, 3 parts
    (run,) = harness.wait_received(1, timeout=30)
    assert run.exit_status == 0, harness.logs()
    (reply,) = replies_to(harness, PHONE, 1)
    assert reply.startswith("Perintah tidak dikenal.")


def test_a_database_outage_fails_the_run_and_a_replay_finishes_the_job(tmp_path: Path) -> None:
    # The database file lives in a directory that does not exist yet: every attempt fails.
    data = tmp_path / "data"
    workdir = tmp_path / "gammu"
    workdir.mkdir()
    config = gammu_config(tmp_path, f"sqlite:///{data}/gateway.db", workdir / "smsdrc", timeout=2)
    command = f"{shlex.quote(EXE)} --config {shlex.quote(str(config))} gammu-receive"
    with running_gammu(workdir, command) as harness:
        harness.put_incoming(PHONE, "KANTOR")
        (run,) = harness.wait_received(1, timeout=30)
        assert run.exit_status == 75, harness.logs()
        assert "the message was NOT handled: replay it" in run.output
        assert harness.sent() == []
        (kept,) = harness.inbox()  # SMSD keeps the message in its inbox folder

        data.mkdir()  # the database is back
        replay = subprocess.run(
            [EXE, "--config", str(config), "gammu-receive", "--replay", str(kept)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert replay.returncode == 0, replay.stderr
        assert replay.stdout.startswith(f"{kept}: Kantor: PMK=")
        (reply,) = replies_to(harness, PHONE, 1)
        assert reply.startswith("Kantor: PMK=Kantor Imigrasi Pamekasan")

        again = subprocess.run(
            [EXE, "--config", str(config), "gammu-receive", "--replay", str(kept)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert again.stdout == replay.stdout
        # Answered once, not twice: nothing new was queued, and nothing more goes out.
        assert harness.queued() == []
        time.sleep(1.5)
        assert harness.log_path.read_text().count("Transmitted OUTC") == 1


def test_send_via_gammu_goes_out_through_the_modem(smsd: tuple[GammuHarness, Path]) -> None:
    harness, config = smsd
    result = subprocess.run(
        [
            EXE,
            "--config",
            str(config),
            "send",
            "--via",
            "gammu",
            "--to",
            "081234567891",
            "Nomor PMK-007 silakan ke loket 2",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("message 1 sent via gammu (")
    (sms,) = harness.wait_sent(1, timeout=30)
    assert (sms.number, sms.text) == ("+6281234567891", "Nomor PMK-007 silakan ke loket 2")

"""The crowd lane changes nothing but speed: a seeded differential test.

Two gateways on two PostgreSQL schemas with the same config and the same
clock, one with the crowd lane and one without, receive the same seeded random
sequence of messages (applicants booking, cancelling, moving, confirming,
waiting, checking; staff checking in, calling, serving, changing quotas,
closing and reopening days), with the day's jobs (reminders, releases,
promotions) ticking between them. Every reply must be the same byte for byte,
and so must the rows both leave behind. Booking codes are random, so a code is
compared by the booking it names (office, day, queue number).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.services.booking import CODE_ALPHABET
from sms_gateway.services.staff import add_staff
from tests.conftest import NOW, Clock, _pg_schema_url, nik, phone, write_config

pytestmark = pytest.mark.postgres

PIN = "2468"
KEPALA, PETUGAS = "+6281199990001", "+6281199990002"
EXTRA = """
[booking]
require_confirmation = true
max_reschedules = 2

[limits]
messages_per_hour = 12
niks_per_phone = 2
"""
CODE = re.compile(rf"\b[{CODE_ALPHABET}]{{6}}\b")


@dataclass
class Side:
    """One of the two gateways, and how to read it."""

    gateway: Gateway
    lane_answers: int = 0

    def count_lane_answers(self) -> None:
        """Count the messages the crowd lane answered (rather than declined)."""
        lane = self.gateway.inbox.lane
        assert lane is not None
        answer = lane.answer

        def counted(message: InboundMessage, now: Any) -> Any:
            reply = answer(message, now)
            self.lane_answers += reply is not None
            return reply

        lane.answer = counted  # type: ignore[method-assign]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.gateway.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]

    def codes(self) -> dict[str, str]:
        """Each booking code, as the booking it names."""
        return {
            code: f"<{office}-{day}-{seq}>"
            for code, office, day, seq in self.rows(
                "SELECT code, office_code, booking_date, queue_seq FROM bookings"
            )
        }

    def normal(self, body: str, codes: dict[str, str] | None = None) -> str:
        codes = self.codes() if codes is None else codes
        return CODE.sub(lambda m: codes.get(m.group(0), m.group(0)), body)

    def code_of(self, ordinal: int) -> str | None:
        found = self.rows("SELECT code FROM bookings ORDER BY office_code, booking_date, queue_seq")
        return found[ordinal % len(found)][0] if found else None


@pytest.fixture
def sides(pg_server: Engine, tmp_path: Path, clock: Clock) -> Iterator[tuple[Side, Side]]:
    made = []
    for name, with_lane in (("lane", True), ("full", False)):
        url, drop = _pg_schema_url(pg_server)
        directory = tmp_path / name
        directory.mkdir()
        gateway = Gateway(
            load_settings(write_config(directory, url, extra=EXTRA), env={}),
            clock=clock,
            crowd_lane=with_lane,
        )
        with gateway.sessions.begin() as session:
            for who, role in ((KEPALA, StaffRole.KEPALA), (PETUGAS, StaffRole.PETUGAS)):
                add_staff(session, phone=who, office="PMK", role=role, name="x", pin=PIN, now=NOW)
        made.append((gateway, drop))
    assert made[0][0].inbox.lane is not None and made[1][0].inbox.lane is None
    try:
        lane, full = Side(made[0][0]), Side(made[1][0])
        lane.count_lane_answers()
        yield lane, full
    finally:
        for gateway, drop in made:
            gateway.close()
            drop()


def script(seed: int, steps: int) -> Iterator[tuple[str, str, int]]:
    """Yield (sender, body, minutes to wait before it); staff bodies may hold {code}."""
    rng = random.Random(seed)
    applicants = [(phone(500 + k), nik(500 + rng.randrange(30))) for k in range(24)]
    sessions = ["", "", " PAGI", " SIANG"]
    now = NOW
    for _ in range(steps):
        wait = rng.choice([0, 0, 0, 1, 3, 10, 45, 240])
        now += timedelta(minutes=wait)
        # Mostly the next three open days (PMK has 5 seats a day: they fill up),
        # sometimes a weekend, a closed day, today, the past or too far away.
        soon = [
            d
            for d in (now.date() + timedelta(days=k) for k in range(1, 12))
            if d.weekday() < 5 and d != date(2026, 12, 10)
        ][:3]
        odd = [now.date() + timedelta(days=k) for k in (-1, 0, 2, 5, 40)]
        when = f"{rng.choice(soon * 5 + odd):%d-%m-%Y}"
        sender, nik_text = rng.choice(applicants)
        roll = rng.random()
        if roll < 0.40:
            office = rng.choice(["", "", "", "", " MLG"])
            body = f"DAFTAR {nik_text} {when}{rng.choice(sessions)}{office}"
        elif roll < 0.50:
            body = rng.choice(["BATAL", "BATAL", "CEK", "STATUS"])
        elif roll < 0.57:
            body = f"UBAH {when}{rng.choice(sessions)}"
        elif roll < 0.65:
            body = f"TUNGGU {nik_text} {when}{rng.choice(sessions)}"
        elif roll < 0.71:
            body = rng.choice(["YA", "ya", "OK"])
        elif roll < 0.73:  # someone's phone in a loop: past the hourly limit
            for _ in range(12):
                yield sender, "CEK", 0
            body = "CEK"
        elif roll < 0.78:
            sender, body = PETUGAS, f"HADIR {PIN} {{code}} {nik_text[-4:]}"
        elif roll < 0.81:
            sender, body = PETUGAS, f"PANGGIL {PIN} {rng.randint(1, 3)}"
        elif roll < 0.84:
            sender, body = PETUGAS, f"SELESAI {PIN} PMK-00{rng.randint(1, 9)}"
        elif roll < 0.88:
            amount = rng.randint(0, 5)
            body = f"KUOTA {PIN} {when} {rng.choice(['PAGI', 'SIANG'])} {amount}"
            sender = KEPALA
        elif roll < 0.90:
            sender, body = KEPALA, f"TUTUP {PIN} {when} banjir"
        elif roll < 0.92:
            sender, body = KEPALA, f"BUKA {PIN} {when}"
        elif roll < 0.94:
            sender, body = KEPALA, f"REKAP {PIN} {when}"
        else:
            body = rng.choice(["DAFTAR", "DAFTR 123", f"DAFTAR {nik_text} 31-02-2026", "?"])
        yield sender, body, wait


@pytest.mark.parametrize("seed", [1, 2])
def test_the_lane_answers_byte_for_byte_as_the_full_path(
    seed: int, sides: tuple[Side, Side], clock: Clock
) -> None:
    lane, full = sides
    for step, (sender, body, wait) in enumerate(script(seed, 260)):
        clock.now += timedelta(minutes=wait)
        if "{code}" in body:
            ordinal = step * 7
            body_lane = body.format(code=lane.code_of(ordinal) or "KKKKKK")
            body_full = body.format(code=full.code_of(ordinal) or "KKKKKK")
        else:
            body_lane = body_full = body
        lane_reply = lane.gateway.handle(_message(sender, body_lane, step))
        full_reply = full.gateway.handle(_message(sender, body_full, step))
        assert lane.normal(lane_reply.text) == full.normal(full_reply.text), (step, body)
        assert lane_reply.outcome == full_reply.outcome, (step, body)
        if step % 20 == 19:  # the day's jobs, on both
            assert str(lane.gateway.jobs.tick(clock.now)) == str(full.gateway.jobs.tick(clock.now))
    assert lane.lane_answers > 40  # the lane really answered a good part of them
    for sql in (
        "SELECT office_code, booking_date, session_name, queue_seq, phone, nik_hash, status,"
        " reschedules, confirmed_at, reminded_at, checked_in_at, served_at, late_cancel, counter"
        " FROM bookings ORDER BY office_code, booking_date, queue_seq",
        "SELECT office_code, slot_date, session_name, booked, quota_override, closed"
        " FROM session_slots ORDER BY 1, 2, 3",
        "SELECT * FROM office_days ORDER BY 1, 2",
        "SELECT office_code, day, session_name, phone, nik_hash, status, created_at"
        " FROM waitlist ORDER BY created_at, phone",
        "SELECT at, phone, nik_hash, office_code, outcome FROM booking_attempts"
        " ORDER BY at, phone, outcome, office_code, nik_hash",
        "SELECT office_code, day, reason FROM office_closures ORDER BY 1, 2",
        "SELECT kind, count(*) FROM audit_chain GROUP BY kind ORDER BY kind",
    ):
        assert lane.rows(sql) == full.rows(sql), sql
    lane_codes, full_codes = lane.codes(), full.codes()
    messages = "SELECT created_at, phone, direction, body, status FROM messages"
    # Sorted once the codes are normalised: the raw codes differ in order.
    assert sorted(
        (*r[:3], lane.normal(r[3], lane_codes), str(r[4])) for r in lane.rows(messages)
    ) == sorted((*r[:3], full.normal(r[3], full_codes), str(r[4])) for r in full.rows(messages))
    for side in sides:
        with side.gateway.sessions() as session:
            assert side.gateway.chain.verify(session).ok


def _message(sender: str, body: str, step: int) -> InboundMessage:
    return InboundMessage(
        transport="twilio", sender=sender, recipient=None, text=body, external_id=f"SMd{step}"
    )

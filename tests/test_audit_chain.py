"""The tamper-evident audit chain: recorded with every change, and verify catches tampering.

Tampering is done the way an insider would: SQL straight into the database,
bypassing the gateway (and, for the chain itself, dropping its triggers first).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from sms_gateway import migrate
from sms_gateway.cli import main
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import ChainRecord, StaffRole
from sms_gateway.services import chain_records as chain_service
from sms_gateway.services import staff as staff_service
from tests.conftest import Clock, count, nik, phone, write_config

Send = Callable[..., str]
PETUGAS, KEPALA, PIN = "+6281100000001", "+6281100000002", "1234"


@pytest.fixture
def staff(gateway: Gateway) -> None:
    with gateway.sessions.begin() as session:
        for number, role in ((PETUGAS, StaffRole.PETUGAS), (KEPALA, StaffRole.KEPALA)):
            staff_service.add_staff(
                session,
                phone=number,
                office="PMK",
                role=role,
                name=f"Staf {number[-1]}",
                pin=PIN,
                now=gateway.clock(),
            )


def book(send: Send, n: int, day: str = "30-11-2026") -> str:
    reply = send(f"DAFTAR {nik(n)} {day}", sender=phone(n))
    assert reply.startswith("Terdaftar!"), reply
    return reply.split("Kode ")[1][:6]


def verify(gateway: Gateway, anchors: tuple[tuple[int, str], ...] = ()) -> list[str]:
    with gateway.sessions() as session:
        return gateway.chain.verify(session, anchors).problems


def records(gateway: Gateway, subject: str | None = None) -> list[ChainRecord]:
    with gateway.sessions() as session:
        query = session.query(ChainRecord).order_by(ChainRecord.seq)
        if subject is not None:
            query = query.filter(ChainRecord.subject == subject)
        return list(query)


def booking_id(gateway: Gateway, code: str) -> int:
    return count(gateway, "SELECT id FROM bookings WHERE code = :c", c=code)


def tamper(gateway: Gateway, *statements: str, chain: bool = False) -> None:
    """Run SQL as an insider with database access; ``chain`` lifts its triggers first."""
    dialect = gateway.engine.dialect.name
    with gateway.engine.begin() as conn:
        if chain:
            _lift_triggers(conn, dialect)
        for statement in statements:
            conn.exec_driver_sql(statement)  # as typed: JSON's ":" is not a bind parameter


def _lift_triggers(conn: Connection, dialect: str) -> None:
    if dialect == "postgresql":
        conn.execute(text("ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_no_change"))
    else:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_chain_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_chain_no_delete"))


def day_of_work(gateway: Gateway, clock: Clock, send: Send) -> list[str]:
    """Book four, cancel one, check in two, call and serve one, then close the day."""
    codes = [book(send, n) for n in range(1, 5)]
    assert send("BATAL", sender=phone(4)).startswith("Antrean")
    clock.now = clock.now.replace(year=2026, month=11, day=30, hour=1)  # 08:00 WIB Monday
    for n in (1, 2):
        reply = send(f"HADIR {PIN} {codes[n - 1]} {nik(n)[-4:]}", sender=PETUGAS)
        assert reply.startswith("HADIR:"), reply
    assert "loket 2" in send(f"PANGGIL {PIN} 2", sender=PETUGAS)
    assert "selesai" in send(f"SELESAI {PIN} {codes[0]}", sender=PETUGAS).lower()
    clock.now += timedelta(days=1)
    with gateway.sessions.begin() as session:
        gateway.bookings.sweep(session, clock())
    return codes


def test_every_change_of_a_day_is_chained_and_verifies(
    gateway: Gateway, clock: Clock, send: Send, staff: None
) -> None:
    codes = day_of_work(gateway, clock, send)

    states = [r.data for r in records(gateway, f"booking:{booking_id(gateway, codes[0])}")]
    assert [chain_service.json.loads(s)["status"] for s in states] == [
        "active",
        "checked_in",
        "called",
        "served",
    ]
    swept = records(gateway, f"booking:{booking_id(gateway, codes[2])}")
    assert chain_service.json.loads(swept[-1].data)["status"] == "no_show"
    staff_records = [r for r in records(gateway) if r.kind == "staff_command"]
    assert len(staff_records) == 4  # two HADIR, PANGGIL, SELESAI
    assert all(PIN not in r.data and PETUGAS not in r.data for r in staff_records)
    assert all(nik(n) not in r.data for r in records(gateway) for n in range(1, 5))

    chain = records(gateway)
    assert [r.seq for r in chain] == list(range(1, len(chain) + 1))
    assert all(r.prev_hash == p.hash for p, r in itertools.pairwise(chain))
    assert verify(gateway) == []


def test_a_refused_request_records_nothing(gateway: Gateway, send: Send) -> None:
    book(send, 1)
    before = len(records(gateway))
    assert "sudah" in send(f"DAFTAR {nik(1)} 1-12-2026", sender=phone(1)).lower()
    assert send("DAFTAR 123 besok", sender=phone(2)).startswith("NIK")
    assert len(records(gateway)) == before
    assert verify(gateway) == []


def test_verify_catches_a_booking_edited_in_the_database(
    gateway: Gateway, clock: Clock, send: Send, staff: None
) -> None:
    codes = day_of_work(gateway, clock, send)
    # The insider's shortcut: a no-show becomes "served", and a seat changes hands.
    tamper(
        gateway,
        f"UPDATE bookings SET status = 'served' WHERE code = '{codes[2]}'",
        f"UPDATE bookings SET phone = '{phone(99)}' WHERE code = '{codes[1]}'",
    )
    problems = verify(gateway)
    assert any(
        "differs from the chain" in p and "status 'no_show' -> 'served'" in p for p in problems
    ), problems
    assert any("differs from the chain" in p and "phone" in p for p in problems), problems
    assert len(problems) == 2


def test_verify_catches_a_booking_inserted_or_deleted_behind_the_gateway(
    gateway: Gateway, send: Send
) -> None:
    code = book(send, 1)
    tamper(
        gateway,
        "INSERT INTO bookings (office_code, booking_date, session_name, queue_seq, code, phone,"
        " nik_hash, nik_masked, status, created_at, reschedules, late_cancel) VALUES ('PMK',"
        f" '2026-11-30', 'PAGI', 99, 'GHOST9', '{phone(50)}', 'x', '3528********0050',"
        " 'active', '2026-11-27 03:00:00', 0, false)",
    )
    problems = verify(gateway)
    assert len(problems) == 1 and "PMK-099" in problems[0] and "not in the chain" in problems[0]

    real = booking_id(gateway, code)
    tamper(gateway, f"DELETE FROM bookings WHERE code IN ('GHOST9', '{code}')")
    assert verify(gateway) == [f"booking:{real} is in the chain but its row was deleted"]


def test_the_database_refuses_to_change_the_chain(gateway: Gateway, send: Send) -> None:
    book(send, 1)
    for statement in ("UPDATE audit_chain SET data = '{}'", "DELETE FROM audit_chain"):
        with pytest.raises(DBAPIError, match="append-only"):
            tamper(gateway, statement)
    assert verify(gateway) == []


def test_verify_catches_an_edited_chain_record(gateway: Gateway, send: Send) -> None:
    for n in range(1, 4):
        book(send, n)
    second = records(gateway)[1]
    forged = second.data.replace('"status":"active"', '"status":"served"')
    assert forged != second.data
    tamper(
        gateway,
        f"UPDATE audit_chain SET data = '{forged}' WHERE seq = {second.seq}",
        chain=True,
    )
    problems = verify(gateway)
    assert f"record #{second.seq} was changed after it was written (hash mismatch)" in problems
    # The booking itself still says active: the reconciliation sees that too.
    assert any("differs from the chain" in p for p in problems), problems


def test_a_rewritten_chain_passes_its_own_links_but_not_a_published_anchor(
    gateway: Gateway, send: Send
) -> None:
    for n in range(1, 4):
        book(send, n)
    with gateway.sessions() as session:
        anchor = gateway.chain.head(session)
    assert verify(gateway, ((anchor.seq, anchor.hash[:16]),)) == []

    # A careful insider: edits a booking, then rebuilds the whole chain to match it.
    victim = records(gateway)[0]
    tamper(
        gateway,
        f"UPDATE bookings SET phone = '{phone(77)}' WHERE id = {victim.subject.split(':')[1]}",
    )
    rebuilt, prev = [], chain_service.GENESIS
    for record in records(gateway):
        data = chain_service.json.loads(record.data)
        if record.subject == victim.subject:
            data["phone"] = gateway.chain.phone_key(phone(77))
        body = chain_service.canonical(data)
        digest = chain_service.link_hash(
            prev, record.seq, record.at, record.kind, record.subject, body
        )
        rebuilt.append((record.seq, body, prev, digest))
        prev = digest
    tamper(
        gateway,
        *(
            f"UPDATE audit_chain SET data = '{body}', prev_hash = '{p}', hash = '{h}' "
            f"WHERE seq = {seq}"
            for seq, body, p, h in rebuilt
        ),
        f"UPDATE audit_chain_head SET hash = '{prev}'",
        chain=True,
    )
    assert verify(gateway) == []  # without an anchor the forgery is consistent
    problems = verify(gateway, ((anchor.seq, anchor.hash),))
    assert problems == [
        f"anchor #{anchor.seq} does not match: the chain holds {prev}, the anchor says "
        f"{anchor.hash}"
    ]


def test_a_chain_cut_short_misses_its_anchor(gateway: Gateway, send: Send) -> None:
    book(send, 1)
    with gateway.sessions() as session:
        cut = gateway.chain.head(session)
    book(send, 2)
    with gateway.sessions() as session:
        anchor = gateway.chain.head(session)
    tamper(
        gateway,
        f"DELETE FROM audit_chain WHERE seq > {cut.seq}",
        f"UPDATE audit_chain_head SET seq = {cut.seq}, hash = '{cut.hash}'",
        "DELETE FROM bookings WHERE id = (SELECT max(id) FROM bookings)",
        chain=True,
    )
    assert verify(gateway) == []
    assert verify(gateway, ((anchor.seq, anchor.hash),)) == [
        f"anchor #{anchor.seq} is not in the chain (it was cut short)"
    ]


def test_concurrent_bookings_extend_the_chain_one_after_another(gateway: Gateway) -> None:
    barrier = threading.Barrier(12)
    replies: list[str] = []

    def applicant(n: int) -> None:
        barrier.wait()
        replies.append(
            gateway.handle(
                InboundMessage(
                    transport="test",
                    sender=phone(n),
                    recipient=None,
                    text=f"DAFTAR {nik(n)} 30-11-2026",
                    external_id=None,
                )
            ).text
        )

    threads = [threading.Thread(target=applicant, args=(n,)) for n in range(1, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    booked = sum(r.startswith("Terdaftar!") for r in replies)
    assert booked == 5  # PAGI 3 + SIANG 2
    chain = records(gateway)
    assert [r.seq for r in chain] == list(range(1, len(chain) + 1))
    assert len([r for r in chain if r.kind == "booking"]) == booked
    assert verify(gateway) == []


def test_an_upgraded_database_adopts_its_existing_rows(tmp_path: Path, clock: Clock) -> None:
    # Migrations themselves are tested on both databases in test_database.py; the
    # adoption is plain SQLAlchemy, so one database is enough here.
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = migrate._config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")  # the release before the chain
        conn.execute(
            text(
                "INSERT INTO bookings (office_code, booking_date, session_name, queue_seq, code,"
                " phone, nik_hash, nik_masked, status, created_at, reschedules, late_cancel)"
                " VALUES ('PMK', '2026-11-30', 'PAGI', 1, 'OLD123', '+6281200000001', 'h',"
                " '3528********0001', 'active', '2026-11-26 03:00:00', 0, 0)"
            )
        )
    engine.dispose()
    settings = load_settings(write_config(tmp_path, url), env={})
    gateway = Gateway(settings, clock=clock)
    try:
        chain = records(gateway)
        assert [r.kind for r in chain] == ["adopted", "booking"]
        assert verify(gateway) == []
    finally:
        gateway.close()
    gateway = Gateway(settings, clock=clock)
    try:
        assert len(records(gateway)) == 2  # adopted once only
    finally:
        gateway.close()


# -- the command line -------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_verify_head_and_send_the_anchor(
    capsys: pytest.CaptureFixture[str],
    config_path: Path,
    gateway: Gateway,
    send: Send,
    staff: None,
) -> None:
    cfg = str(config_path)
    code = book(send, 1)
    status, out, _ = run(capsys, "--config", cfg, "audit", "verify")
    assert status == 0 and "audit chain OK" in out and "1 booking" in out, out

    status, out, _ = run(capsys, "--config", cfg, "audit", "head")
    seq, digest = out.splitlines()[0].split(":")
    with gateway.sessions() as session:
        assert gateway.chain.head(session).hash == digest
    status, out, _ = run(capsys, "--config", cfg, "audit", "verify", "--anchor", f"{seq}:{digest}")
    assert status == 0, out

    status, out, _ = run(capsys, "--config", cfg, "audit", "head", "--send")
    assert status == 0 and "queued for 1 kepala" in out, out
    body = gateway.outbound.messages()[-1]
    assert body.phone == KEPALA and digest in body.body and f"#{seq}" in body.body

    tamper(gateway, f"UPDATE bookings SET status = 'served' WHERE code = '{code}'")
    status, out, _ = run(capsys, "--config", cfg, "audit", "verify")
    assert status == 1 and "PROBLEM: booking PMK-001" in out, out

    status, _, err = run(capsys, "--config", cfg, "audit", "verify", "--anchor", "12:abc")
    assert status == 2 and "SEQ:HASH" in err


def test_cli_audit_log_still_lists_staff_commands(
    capsys: pytest.CaptureFixture[str], config_path: Path, send: Send, staff: None
) -> None:
    send(f"REKAP {PIN}", sender=PETUGAS)
    status, out, _ = run(capsys, "--config", str(config_path), "audit", "--format", "csv")
    assert status == 0 and "REKAP ****" in out, out


def test_the_anchor_sms_keeps_digits_that_line_up_like_a_nik() -> None:
    # Date, time, record number and hash once lined up as 16 digits with separators
    # (seen at 06:19 on 28-11-2026) and the mask ate the very hash to keep; a hash
    # with a long digit run inside must come through whole as well.
    from sms_gateway import replies
    from sms_gateway.services.outbound import one_segment

    for digest in (
        "314f31c1dfafcadd2ddd092971ed11cc030eec7188eb23b5628effc56d3b4dfa",
        "9123456789012345678f31c1dfafcadd2ddd092971ed11cc030eec7188eb23b5",
    ):
        text = replies.render(
            "audit_anchor", date="28-11-2026", time="06:19", seq=1234567890, hash=digest
        )
        kept = one_segment(text)
        assert kept == text and f"#1234567890 {digest}" in kept

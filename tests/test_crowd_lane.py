"""The crowd lane (sms_gateway/crowd_lane.py) answers exactly like the full path, or declines.

Every test runs on PostgreSQL, the only database the lane runs on. A second
gateway on the same database with ``crowd_lane=False`` is the reference: what
the lane writes and answers must be what the full path writes and answers for
the same kind of message. Where any rule could object, the lane must decline
before writing anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from twilio.request_validator import RequestValidator

from sms_gateway import crowd_lane
from sms_gateway.app import create_app
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import Block, BlockKind, Booking, BookingStatus, OfficeClosure
from sms_gateway.rules import Decision
from tests.conftest import AUTH_TOKEN, NOW, Clock, _pg_schema_url, nik, phone, write_config

pytestmark = pytest.mark.postgres

DAY = "30-11-2026"  # Monday; PMK has 3 + 2 seats
MONDAY = date(2026, 11, 30)
SEATS = 5


@pytest.fixture
def pg_url(pg_server: Engine) -> Iterator[str]:
    url, drop = _pg_schema_url(pg_server)
    yield url
    drop()


@pytest.fixture
def config(tmp_path: Path, pg_url: str) -> Path:
    return write_config(tmp_path, pg_url)


@pytest.fixture
def gateway(config: Path, clock: Clock) -> Iterator[Gateway]:
    gw = Gateway(load_settings(config, env={}), clock=clock)
    yield gw
    gw.close()


@pytest.fixture
def reference(config: Path, clock: Clock) -> Iterator[Gateway]:
    """The same database without the lane: every message takes the full path."""
    gw = Gateway(load_settings(config, env={}), clock=clock, crowd_lane=False)
    yield gw
    gw.close()


def message(body: str, sender: str, sid: str | None = None) -> InboundMessage:
    return InboundMessage(
        transport="twilio", sender=sender, recipient=None, text=body, external_id=sid
    )


def rows(gateway: Gateway, sql: str, **params: object) -> list[tuple]:
    with gateway.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def lane_of(gateway: Gateway) -> crowd_lane.CrowdLane:
    assert gateway.inbox.lane is not None
    return gateway.inbox.lane


def messages_written(gateway: Gateway) -> int:
    count: int = rows(gateway, "SELECT count(*) FROM messages")[0][0]
    return count


def fill_monday(gateway: Gateway) -> None:
    """Book every seat of Monday (PAGI first, then SIANG)."""
    for n in range(1, SEATS + 1):
        reply = gateway.handle(message(f"DAFTAR {nik(n)} {DAY}", phone(n)))
        assert reply.text.startswith("Terdaftar!"), reply.text


def written_for(gateway: Gateway, sender: str) -> dict[str, list[tuple]]:
    """What a message from ``sender`` left behind, without ids, phones or hashes."""
    return {
        "messages": rows(
            gateway,
            "SELECT direction, transport, body, status, attempts, reply_to_id IS NOT NULL,"
            " created_at FROM messages WHERE phone = :p ORDER BY id",
            p=sender,
        ),
        "attempts": rows(
            gateway,
            "SELECT at, nik_masked, office_code, outcome FROM booking_attempts"
            " WHERE phone = :p ORDER BY id",
            p=sender,
        ),
    }


def test_the_lane_runs_only_on_postgresql(gateway: Gateway, reference: Gateway) -> None:
    assert gateway.inbox.lane is not None
    assert reference.inbox.lane is None


def test_a_full_day_is_refused_as_the_full_path_refuses_it(
    gateway: Gateway, reference: Gateway
) -> None:
    fill_monday(gateway)
    lane = gateway.inbox.lane
    assert lane is not None
    by_lane = lane.answer(message(f"DAFTAR {nik(100)} {DAY}", phone(100), "SM100"), NOW)
    # The same NIK from another phone: neither message leaves a booking behind.
    by_full = reference.handle(message(f"DAFTAR {nik(100)} {DAY}", phone(101), "SM101"))

    assert by_lane is not None
    assert by_lane.text == by_full.text
    assert "sudah penuh" in by_lane.text and "Sel 01-12-2026" in by_lane.text
    assert (by_lane.outcome, by_lane.duplicate) == (by_full.outcome, by_full.duplicate)
    assert by_lane.message_id is not None
    # The same rows: the inbound message (NIK masked), the reply, the attempt.
    assert written_for(gateway, phone(100)) == written_for(gateway, phone(101))
    assert nik(100) not in str(written_for(gateway, phone(100)))
    # And nothing else: no booking, no seat, no queue number, no audit record.
    assert rows(gateway, "SELECT count(*) FROM bookings")[0][0] == SEATS
    assert rows(gateway, "SELECT sum(booked) FROM session_slots")[0][0] == SEATS


def test_a_named_full_session_on_a_full_day_is_refused_alike(
    gateway: Gateway, reference: Gateway
) -> None:
    fill_monday(gateway)
    body = "DAFTAR {nik} 30 Nov 2026 SIANG"
    by_lane = lane_of(gateway).answer(message(body.format(nik=nik(100)), phone(100)), NOW)
    by_full = reference.handle(message(body.format(nik=nik(101)), phone(101)))
    assert by_lane is not None and by_lane.text == by_full.text


def test_the_next_day_offered_skips_full_days(gateway: Gateway, reference: Gateway) -> None:
    fill_monday(gateway)
    for n in range(11, 11 + SEATS):  # Tuesday too
        assert gateway.handle(message(f"DAFTAR {nik(n)} 01-12-2026", phone(n))).text.startswith(
            "Terdaftar!"
        )
    by_lane = lane_of(gateway).answer(message(f"DAFTAR {nik(100)} {DAY}", phone(100)), NOW)
    by_full = reference.handle(message(f"DAFTAR {nik(101)} {DAY}", phone(101)))
    assert by_lane is not None and by_lane.text == by_full.text
    assert "Rab 02-12-2026" in by_lane.text


def test_a_retry_of_a_lane_answer_gets_the_stored_reply(gateway: Gateway) -> None:
    fill_monday(gateway)
    first = gateway.handle(message(f"DAFTAR {nik(100)} {DAY}", phone(100), "SMretry"))
    again = gateway.handle(message(f"DAFTAR {nik(100)} {DAY}", phone(100), "SMretry"))
    assert again.duplicate and again.text == first.text
    assert again.message_id == first.message_id
    written = written_for(gateway, phone(100))
    assert (len(written["messages"]), len(written["attempts"])) == (2, 1)


def _hold_booking(gateway: Gateway) -> None:
    fill_monday(gateway)  # phone(1) and nik(1) hold Monday's first seat


def _block(kind: BlockKind) -> Callable[[Gateway], None]:
    def setup(gateway: Gateway) -> None:
        fill_monday(gateway)
        value = phone(100) if kind is BlockKind.PHONE else nik_hash(gateway, nik(100))
        with gateway.sessions.begin() as session:
            session.add(
                Block(
                    kind=kind,
                    value=value,
                    masked="x",
                    until=MONDAY + timedelta(days=30),
                    reason="uji",
                    created_by="+6281",
                    created_at=NOW,
                )
            )

    return setup


def _no_shows(gateway: Gateway) -> None:
    fill_monday(gateway)
    with gateway.sessions.begin() as session:
        for k in range(2):
            session.add(
                Booking(
                    office_code="PMK",
                    booking_date=date(2026, 11, 20 + k),
                    session_name="PAGI",
                    queue_seq=k + 1,
                    code=f"AAAAA{k}",
                    phone=phone(100),
                    nik_hash=nik_hash(gateway, nik(100)),
                    nik_masked="3528********0100",
                    status=BookingStatus.NO_SHOW,
                    created_at=NOW - timedelta(days=40),
                    reschedules=0,
                    late_cancel=False,
                )
            )


def _waiting(gateway: Gateway) -> None:
    fill_monday(gateway)
    reply = gateway.handle(message(f"TUNGGU {nik(100)} {DAY}", phone(100)))
    assert reply.text.startswith("Anda di daftar"), reply.text


def _closure(gateway: Gateway) -> None:
    fill_monday(gateway)
    with gateway.sessions.begin() as session:
        session.add(
            OfficeClosure(
                office_code="PMK",
                day=date(2026, 12, 2),
                reason="banjir",
                closed_by="+6281",
                closed_at=NOW,
            )
        )


def _near_the_hourly_limit(gateway: Gateway) -> None:
    fill_monday(gateway)
    limit = gateway.settings.offices[0].rules.messages_per_hour
    for k in range(limit):
        gateway.handle(message("BANTUAN", phone(100), f"SMhelp{k}"))


def nik_hash(gateway: Gateway, digits: str) -> str:
    from sms_gateway.nik import parse_nik

    return parse_nik(digits).keyed_hash(gateway.nik_secret)


def _pagi_full(gateway: Gateway) -> None:
    for n in range(1, 4):  # PAGI's 3 seats; SIANG keeps its 2
        assert gateway.handle(message(f"DAFTAR {nik(n)} {DAY} PAGI", phone(n))).text.startswith(
            "Terdaftar!"
        )


def _one_booking(gateway: Gateway) -> None:
    reply = gateway.handle(message(f"DAFTAR {nik(1)} {DAY}", phone(1)))
    assert reply.text.startswith("Terdaftar!"), reply.text


def _near_the_limit_with_seats_free(gateway: Gateway) -> None:
    limit = gateway.settings.offices[0].rules.messages_per_hour
    for k in range(limit):
        gateway.handle(message("BANTUAN", phone(100), f"SMhelp{k}"))


def _booked_and_cancelled(gateway: Gateway) -> None:
    _one_booking(gateway)
    assert gateway.handle(message(f"DAFTAR {nik(100)} {DAY}", phone(100))).text.startswith(
        "Terdaftar!"
    )
    assert gateway.handle(message("BATAL", phone(100))).text.startswith("Antrean")


def _three_niks(gateway: Gateway) -> None:
    """phone(100) booked and cancelled three other NIKs this month (niks_per_phone = 3)."""
    for k in range(3):
        reply = gateway.handle(message(f"DAFTAR {nik(110 + k)} {DAY}", phone(100)))
        assert reply.text.startswith("Terdaftar!"), reply.text
        assert gateway.handle(message("BATAL", phone(100))).text.startswith("Antrean")


def _nik_holds_yesterday(gateway: Gateway) -> None:
    """nik(100) holds a booking of a day that is over (the day-end sweep has not run)."""
    with gateway.sessions.begin() as session:
        session.add(
            Booking(
                office_code="PMK",
                booking_date=date(2026, 11, 26),
                session_name="PAGI",
                queue_seq=1,
                code="AAAAAA",
                phone=phone(100),
                nik_hash=nik_hash(gateway, nik(100)),
                nik_masked="3528********0100",
                status=BookingStatus.ACTIVE,
                created_at=NOW - timedelta(days=3),
                reschedules=0,
                late_cancel=False,
            )
        )


# Every rule the lane answers with: the lane must answer exactly as the full path.
ANSWERED = {
    "a named full session, another free": (_pagi_full, f"DAFTAR {nik(100)} {DAY} PAGI", phone(100)),
    "the NIK holds a booking, the phone is blocked": (
        _block(BlockKind.PHONE),
        f"DAFTAR {nik(1)} {DAY}",
        phone(100),
    ),
    "the NIK holds a booking, the phone booked lately": (
        _booked_and_cancelled,
        f"DAFTAR {nik(1)} {DAY}",
        phone(100),
    ),
    "the NIK holds a booking, the phone has no-shows": (
        _no_shows,
        f"DAFTAR {nik(1)} {DAY}",
        phone(100),
    ),
    "a free seat, the phone holds one": (_one_booking, f"DAFTAR {nik(100)} {DAY}", phone(1)),
    "the phone holds a booking": (_hold_booking, f"DAFTAR {nik(100)} {DAY}", phone(1)),
    "the same DAFTAR again": (_hold_booking, f"DAFTAR {nik(1)} {DAY}", phone(1)),
    "the phone is blocked": (_block(BlockKind.PHONE), f"DAFTAR {nik(100)} {DAY}", phone(100)),
    "the NIK is blocked": (_block(BlockKind.NIK), f"DAFTAR {nik(100)} {DAY}", phone(200)),
    "no-shows": (_no_shows, f"DAFTAR {nik(100)} {DAY}", phone(100)),
    "waiting": (_waiting, f"DAFTAR {nik(100)} {DAY}", phone(100)),
    "a closure in the window": (_closure, f"DAFTAR {nik(100)} {DAY}", phone(100)),
    "a closed day": (_closure, f"DAFTAR {nik(100)} 02-12-2026", phone(100)),
    "a day that cannot be booked": (_hold_booking, f"DAFTAR {nik(100)} 29-11-2026", phone(100)),
    "too many NIKs from one phone": (_three_niks, f"DAFTAR {nik(100)} {DAY}", phone(100)),
}

# What the lane leaves to the full path: it must decline before writing anything.
DECLINED = {
    "the NIK holds a booking whose day is over": (
        _nik_holds_yesterday,
        f"DAFTAR {nik(100)} {DAY}",
        phone(200),
    ),
    "a free seat, the hourly limit": (
        _near_the_limit_with_seats_free,
        f"DAFTAR {nik(100)} {DAY}",
        phone(100),
    ),
    "the hourly limit": (_near_the_hourly_limit, f"DAFTAR {nik(100)} {DAY}", phone(100)),
    "a malformed NIK": (_hold_booking, f"DAFTAR 12345678 {DAY}", phone(100)),
    "another command": (_hold_booking, f"TUNGGU {nik(100)} {DAY}", phone(100)),
    "no arguments": (_hold_booking, "DAFTAR", phone(100)),
}


@pytest.mark.parametrize("case", ANSWERED, ids=list(ANSWERED))
def test_the_lane_answers_every_rule_as_the_full_path_does(
    case: str, gateway: Gateway, reference: Gateway
) -> None:
    setup, body, sender = ANSWERED[case]
    setup(gateway)
    # The same message, first through the full path, then through the lane: a
    # refusal changes nothing, so both meet the same facts.
    by_full = reference.handle(message(body, sender, "SMfull"))
    before = written_for(gateway, sender)
    by_lane = lane_of(gateway).answer(message(body, sender, "SMlane"), NOW)
    assert by_lane is not None, "declined"
    assert (by_lane.text, by_lane.outcome) == (by_full.text, by_full.outcome)
    after = written_for(gateway, sender)
    # The lane wrote what the full path wrote: the message, the reply, the attempt.
    assert after["messages"][len(before["messages"]) :] == before["messages"][-2:]
    assert after["attempts"][len(before["attempts"]) :] == before["attempts"][-1:]


@pytest.mark.parametrize("case", DECLINED, ids=list(DECLINED))
def test_the_lane_declines_what_only_the_full_path_can_do(
    case: str, gateway: Gateway, reference: Gateway
) -> None:
    setup, body, sender = DECLINED[case]
    setup(gateway)
    before = messages_written(gateway)
    assert lane_of(gateway).answer(message(body, sender, "SMx"), NOW) is None
    assert messages_written(gateway) == before  # declined before writing anything
    # The full path then answers it, as it would without the lane.
    by_gateway = gateway.handle(message(body, sender, "SMy"))
    assert by_gateway.text
    assert messages_written(gateway) > before


def test_a_signed_twilio_webhook_is_answered_by_the_lane(gateway: Gateway) -> None:
    fill_monday(gateway)
    app = create_app(gateway.settings, gateway=gateway)
    client = app.test_client()
    url = "http://localhost/sms/twilio"
    form = {
        "MessageSid": "SMweb1",
        "From": phone(300),
        "To": "+6282140000001",
        "Body": f"DAFTAR {nik(300)} {DAY}",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    response = client.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<Message>Kuota PMK Sen 30-11-2026 sudah penuh." in body
    assert rows(gateway, "SELECT outcome FROM booking_attempts WHERE phone = :p", p=phone(300)) == [
        ("SessionFull",)
    ]


def test_a_lost_lane_connection_is_an_honest_503_then_the_lane_reconnects(
    gateway: Gateway,
) -> None:
    from sms_gateway.crowd_lane import LANE_APPLICATION_NAME

    fill_monday(gateway)
    client = create_app(gateway.settings, gateway=gateway).test_client()
    url = "http://localhost/sms/twilio"

    def post(n: int) -> tuple[int, str]:
        form = {
            "MessageSid": f"SMlost{n}",
            "From": phone(400 + n),
            "To": "+6282140000001",
            "Body": f"DAFTAR {nik(400 + n)} {DAY}",
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        response = client.post(url, data=form, headers={"X-Twilio-Signature": signature})
        return response.status_code, response.get_data(as_text=True)

    assert post(1)[0] == 200  # the lane's pool now holds a connection
    assert gateway.lane_engine is not None
    with gateway.lane_engine.connect() as lane_conn:  # that very connection (the pool is LIFO)
        pid = lane_conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with gateway.engine.connect() as conn:  # as a server restart would; only ours, not
        # another suite's lane on the same server
        killed = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid)"
                " FROM pg_stat_activity WHERE pid = :pid AND application_name = :name"
            ),
            {"pid": pid, "name": LANE_APPLICATION_NAME},
        ).scalar_one()
    assert killed
    status, body = post(2)
    assert status == 503 and "retry" in body  # nothing written, the provider retries
    assert rows(gateway, "SELECT count(*) FROM messages WHERE phone = :p", p=phone(402)) == [(0,)]
    status, body = post(2)  # Twilio's retry: a fresh connection, no restart needed
    assert status == 200 and "sudah penuh" in body


def test_only_the_lane_skips_waiting_for_the_wal(gateway: Gateway) -> None:
    # The lane writes refusal logs only; bookings (the main pool) stay durable on ack.
    assert gateway.lane_engine is not None
    with gateway.lane_engine.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
    with gateway.engine.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "on"


@pytest.mark.parametrize("body", ["CEK", "STATUS", "BATAL", "BATAL K7MXQ4", "cancel"])
def test_cek_and_batal_of_nothing_are_answered_as_the_full_path_answers_them(
    body: str, gateway: Gateway, reference: Gateway
) -> None:
    by_lane = lane_of(gateway).answer(message(body, phone(100), "SMc1"), NOW)
    by_full = reference.handle(message(body, phone(101), "SMc2"))
    assert by_lane is not None
    assert by_lane.text == by_full.text and by_lane.outcome == by_full.outcome == "refused"
    assert written_for(gateway, phone(100)) == written_for(gateway, phone(101))
    assert written_for(gateway, phone(100))["attempts"] == []  # only DAFTAR/TUNGGU are attempts


@pytest.mark.parametrize(
    ("body", "holding"),
    [
        ("BATAL", "a booking"),
        ("CEK", "a place in line"),
        ("BATAL", "a place in line"),
        ("CEK", "a booking whose day is over"),
    ],
)
def test_cek_and_batal_that_the_full_path_must_answer_are_declined(
    body: str, holding: str, gateway: Gateway
) -> None:
    if holding == "a booking":
        fill_monday(gateway)
        sender = phone(1)
    elif holding == "a place in line":
        _waiting(gateway)
        sender = phone(100)
    else:
        _nik_holds_yesterday(gateway)
        sender = phone(100)
    before = messages_written(gateway)
    assert lane_of(gateway).answer(message(body, sender, "SMh1"), NOW) is None
    assert messages_written(gateway) == before


@pytest.mark.parametrize("body", ["CEK", "status"])
def test_cek_of_a_booking_is_answered_as_the_full_path_answers_it(
    body: str, gateway: Gateway, reference: Gateway
) -> None:
    fill_monday(gateway)  # phone(1) holds PMK-001, phone(4) PMK-004 (SIANG)
    with gateway.engine.begin() as conn:  # checked in: CEK still shows it
        conn.execute(
            text("UPDATE bookings SET status = 'checked_in' WHERE phone = :p"), {"p": phone(4)}
        )
    for sender in (phone(1), phone(4)):
        by_full = reference.handle(message(body, sender, f"F{sender}"))
        by_lane = lane_of(gateway).answer(message(body, sender, f"L{sender}"), NOW)
        assert by_lane is not None
        assert by_lane.text == by_full.text and by_lane.outcome == by_full.outcome == "ok"
        assert by_lane.text.startswith("Antrean Anda PMK-00")
        full, lane = (
            written_for(gateway, sender)["messages"][-4:-2],
            written_for(gateway, sender)["messages"][-2:],
        )
        assert full == lane
    assert rows(gateway, "SELECT status FROM bookings WHERE phone = :p", p=phone(4)) == [
        ("checked_in",)
    ]


@pytest.mark.parametrize("seats", ["a full day", "seats free"])
def test_a_nik_held_from_another_phone_is_refused_as_the_full_path_refuses_it(
    seats: str, gateway: Gateway, reference: Gateway
) -> None:
    if seats == "a full day":
        fill_monday(gateway)
    else:
        _one_booking(gateway)  # nik(1) from phone(1)
    by_lane = lane_of(gateway).answer(message(f"DAFTAR {nik(1)} {DAY}", phone(100), "N1"), NOW)
    by_full = reference.handle(message(f"DAFTAR {nik(1)} {DAY}", phone(101), "N2"))
    assert by_lane is not None
    assert by_lane.text == by_full.text and by_lane.outcome == by_full.outcome == "refused"
    assert by_lane.text.startswith("NIK ini sudah punya antrean aktif")
    assert written_for(gateway, phone(100)) == written_for(gateway, phone(101))
    assert written_for(gateway, phone(100))["attempts"][0][-1] == "NikHasBooking"


# -- bookings ---------------------------------------------------------------------------


def generic(text_: str) -> str:
    """Text with what differs between two bookings (number, code, NIK digits) blanked."""
    text_ = re.sub(r"PMK-\d{3}", "PMK-n", text_)
    text_ = re.sub(r"Kode [A-Z0-9]{6}", "Kode X", text_)
    return re.sub(r"\d{4}(\*+)\d{4}|\b\d{16}\b", "NIK", text_)


def booked_rows(gateway: Gateway, sender: str) -> list[tuple]:
    return rows(
        gateway,
        "SELECT office_code, booking_date, session_name, status, created_at, reschedules,"
        " late_cancel, confirmed_at, reminded_at, counter, cancelled_at, length(code),"
        " length(nik_hash), nik_masked LIKE '3528%' FROM bookings WHERE phone = :p",
        p=sender,
    )


def written_generic(gateway: Gateway, sender: str) -> dict[str, list[tuple]]:
    written = written_for(gateway, sender)
    return {
        "messages": [(*r[:2], generic(r[2]), *r[3:]) for r in written["messages"]],
        "attempts": [(r[0], generic(r[1]), *r[2:]) for r in written["attempts"]],
    }


def test_a_free_seat_is_booked_as_the_full_path_books_it(
    gateway: Gateway, reference: Gateway
) -> None:
    by_lane = lane_of(gateway).answer(message(f"DAFTAR {nik(100)} {DAY}", phone(100), "B1"), NOW)
    by_full = reference.handle(message(f"DAFTAR {nik(101)} {DAY}", phone(101), "B2"))

    assert by_lane is not None
    assert by_lane.text.startswith("Terdaftar! Antrean PMK-001 ")
    assert by_full.text.startswith("Terdaftar! Antrean PMK-002 ")
    assert generic(by_lane.text) == generic(by_full.text)
    assert (by_lane.outcome, by_lane.duplicate, by_lane.needs_sending) == (
        by_full.outcome,
        by_full.duplicate,
        by_full.needs_sending,
    )
    # The same rows: the booking, the inbound message (NIK masked), the reply, the attempt.
    assert booked_rows(gateway, phone(100)) == booked_rows(gateway, phone(101))
    assert len(booked_rows(gateway, phone(100))) == 1
    assert written_generic(gateway, phone(100)) == written_generic(gateway, phone(101))
    assert nik(100) not in str(written_for(gateway, phone(100)))
    # One seat and one number each, from the same counters.
    assert rows(gateway, "SELECT session_name, booked FROM session_slots") == [("PAGI", 2)]
    assert rows(gateway, "SELECT last_queue_seq FROM office_days") == [(2,)]
    # Both bookings are in the audit chain, which still verifies end to end.
    with gateway.sessions() as session:
        report = gateway.chain.verify(session)
    assert report.ok, report.problems
    assert report.matched["booking"] == 2
    assert rows(gateway, "SELECT subject FROM audit_chain ORDER BY seq") == [
        (f"booking:{n}",)
        for n in (rows(gateway, "SELECT id FROM bookings WHERE phone = :p", p=phone(100))[0][0], 2)
    ]


def test_a_session_asked_for_by_name_is_booked_by_the_lane(
    gateway: Gateway, reference: Gateway
) -> None:
    body = "DAFTAR {nik} 30 Nov 2026 SIANG"
    by_lane = lane_of(gateway).answer(message(body.format(nik=nik(100)), phone(100)), NOW)
    by_full = reference.handle(message(body.format(nik=nik(101)), phone(101)))
    assert by_lane is not None and "SIANG" in by_lane.text
    assert generic(by_lane.text) == generic(by_full.text)
    assert rows(gateway, "SELECT session_name, booked FROM session_slots") == [("SIANG", 2)]


def test_a_retry_of_a_lane_booking_gets_the_stored_reply_and_books_once(
    gateway: Gateway,
) -> None:
    first = gateway.handle(message(f"DAFTAR {nik(100)} {DAY}", phone(100), "SMbook"))
    again = gateway.handle(message(f"DAFTAR {nik(100)} {DAY}", phone(100), "SMbook"))
    assert first.text.startswith("Terdaftar!") and not first.duplicate
    assert again.duplicate and (again.text, again.message_id) == (first.text, first.message_id)
    assert len(booked_rows(gateway, phone(100))) == 1
    assert rows(gateway, "SELECT booked FROM session_slots") == [(1,)]
    written = written_for(gateway, phone(100))
    assert (len(written["messages"]), len(written["attempts"])) == (2, 1)


def test_a_seat_taken_between_the_decision_and_the_claim_is_left_to_the_full_path(
    gateway: Gateway, reference: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_decide = crowd_lane.decide

    def decide_then_lose_the_seats(*args: Any, **kwargs: Any) -> Decision:
        decision = real_decide(*args, **kwargs)
        fill_monday(reference)  # another worker books every seat meanwhile
        return decision

    monkeypatch.setattr(crowd_lane, "decide", decide_then_lose_the_seats)
    lane = lane_of(gateway)
    before = messages_written(gateway)
    assert lane.answer(message(f"DAFTAR {nik(100)} {DAY}", phone(100), "SMlate"), NOW) is None
    assert messages_written(gateway) == before + 2 * SEATS  # only the other worker's
    assert rows(gateway, "SELECT sum(booked) FROM session_slots")[0][0] == SEATS
    assert rows(gateway, "SELECT last_queue_seq FROM office_days") == [(SEATS,)]
    monkeypatch.undo()
    reply = gateway.handle(message(f"DAFTAR {nik(100)} {DAY}", phone(100), "SMlate"))
    assert "sudah penuh" in reply.text


def test_a_booking_a_unique_index_refuses_leaves_no_trace_and_the_full_path_books(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    _one_booking(gateway)
    (taken,) = rows(gateway, "SELECT code FROM bookings")[0]
    monkeypatch.setattr(crowd_lane, "new_booking_code", lambda: taken)  # a code collision
    before = messages_written(gateway), rows(gateway, "SELECT * FROM session_slots")
    assert lane_of(gateway).answer(message(f"DAFTAR {nik(100)} {DAY}", phone(100)), NOW) is None
    assert (messages_written(gateway), rows(gateway, "SELECT * FROM session_slots")) == before
    assert rows(gateway, "SELECT last_queue_seq FROM office_days") == [(1,)]
    reply = gateway.handle(message(f"DAFTAR {nik(100)} {DAY}", phone(100)))
    assert reply.text.startswith("Terdaftar! Antrean PMK-002 "), reply.text
    with gateway.sessions() as session:
        assert gateway.chain.verify(session).ok

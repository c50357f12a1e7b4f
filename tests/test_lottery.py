"""Lottery allocation: a replayed lottery day, the rules around it, and verification."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from sms_gateway import metrics
from sms_gateway.cli import main
from sms_gateway.config import ConfigError, load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import StaffRole
from sms_gateway.services import lottery_proof as lottery_service
from sms_gateway.services import staff as staff_service
from tests.conftest import OFFICES_TOML, Clock, count, nik, phone, write_config

# PMK gives its days out by lottery: entries from 00:00 ten days before, the draw
# at 20:00 three days before. MLG stays first come.
LOTTERY_OFFICES = OFFICES_TOML.replace(
    'closed_dates = [{ date = 2026-12-10, reason = "rapat dinas" }]',
    'closed_dates = [{ date = 2026-12-10, reason = "rapat dinas" }]\n'
    'allocation = "lottery"\n'
    'lottery = { opens_days_before = 10, closes_days_before = 3, closes_at = "20:00" }',
)
DAY = "8-12-2026"  # a Tuesday: quota PAGI 3 + SIANG 2
BEFORE_WINDOW = datetime.fromisoformat("2026-11-27T10:00+07:00")
IN_WINDOW = datetime.fromisoformat("2026-11-28T09:00+07:00")
DRAW_TIME = datetime.fromisoformat("2026-12-05T20:00+07:00")
KEPALA, PIN = "+6281100000002", "5678"

Send = Callable[..., str]


@pytest.fixture
def lottery_gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    settings = load_settings(write_config(tmp_path, db_url, offices=LOTTERY_OFFICES), env={})
    gw = Gateway(settings, clock=clock)
    with gw.sessions.begin() as session:
        staff_service.add_staff(
            session,
            phone=KEPALA,
            office="PMK",
            role=StaffRole.KEPALA,
            name="Kepala",
            pin=PIN,
            now=clock(),
        )
    yield gw
    gw.close()


@pytest.fixture
def send(lottery_gateway: Gateway) -> Send:
    def _send(body: str, sender: str = phone(1)) -> str:
        return lottery_gateway.handle(
            InboundMessage(transport="test", sender=sender, recipient=None, text=body)
        ).text

    return _send


def outbox_to(gateway: Gateway, number: str) -> list[str]:
    return [m.body for m in gateway.outbound.messages() if m.phone == number]


def enter(send: Send, n: int, extra: str = "") -> str:
    reply = send(f"DAFTAR {nik(n)} {DAY} {extra}".strip(), sender=phone(n))
    assert reply.startswith("Anda ikut undian PMK Sel 08-12-2026"), reply
    assert "Diundi Sab 05-12-2026 jam 20:00" in reply
    return reply


def test_a_replayed_lottery_day(
    lottery_gateway: Gateway, clock: Clock, send: Send, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = lottery_gateway
    clock.now = BEFORE_WINDOW
    assert send(f"DAFTAR {nik(1)} {DAY}", sender=phone(1)).startswith(
        "PMK Sel 08-12-2026 dibagi lewat undian; pendaftaran dibuka 28-11-2026. Kirim DAFTAR"
    )
    assert count(lottery_gateway, "SELECT count(*) FROM lottery_entries") == 0
    # The round and its commitment go on record before anyone can enter.
    result = gateway.jobs.tick(clock())
    assert result.rounds_opened >= 1
    commitment_seq = count(
        gateway,
        "SELECT min(seq) FROM audit_chain WHERE kind = 'lottery_round' AND data LIKE "
        '\'%"date":"2026-12-08"%\'',
    )

    clock.now = IN_WINDOW
    for n in range(1, 13):
        enter(send, n, "SIANG" if n == 12 else "")
    assert send(f"DAFTAR {nik(3)} {DAY}", sender=phone(3)).startswith("Anda sudah ikut undian")
    assert send(f"DAFTAR {nik(3)} {DAY}", sender=phone(40)).startswith("NIK ini sudah ikut undian")
    assert send(f"DAFTAR {nik(41)} 7-12-2026", sender=phone(4)).startswith(
        "Nomor ini sudah ikut undian PMK Sel 08-12-2026"
    )
    # One request per identity across modes: no first-come seat at MLG meanwhile.
    assert send(f"DAFTAR {nik(5)} {DAY} MLG", sender=phone(5)).startswith("Nomor ini sudah ikut")
    assert send("CEK", sender=phone(6)).startswith("Anda sudah ikut undian PMK Sel 08-12-2026")
    assert send("BATAL", sender=phone(7)).startswith("Anda keluar dari undian PMK")
    assert send(f"TUNGGU {nik(42)} {DAY}", sender=phone(42)).startswith(
        "PMK Sel 08-12-2026 dibagi lewat undian, diundi Sab 05-12-2026 jam 20:00. Ikut undian"
    )
    first = min(
        count(gateway, "SELECT min(seq) FROM audit_chain WHERE kind = 'lottery_entry'"),
        10**9,
    )
    assert commitment_seq < first

    exposed = metrics.exposition(gateway.sessions).decode()
    assert 'sms_lottery_entries{date="2026-12-08",office="PMK"} 11.0' in exposed

    # At the close, before the draw ran: no first-come seat slips in.
    clock.now = DRAW_TIME
    assert send(f"DAFTAR {nik(43)} {DAY}", sender=phone(43)).startswith(
        "Undian PMK Sel 08-12-2026 sedang diundi"
    )
    result = gateway.jobs.tick(clock())
    # Every round due is drawn, the empty ones too (days nobody entered).
    assert (result.draws.winners, result.draws.waitlisted, result.draws.refused) == (5, 6, 0)
    assert gateway.jobs.tick(clock()).draws.rounds == 0  # drawn once

    with gateway.engine.connect() as conn:
        ranks: dict[str, int] = dict(
            conn.execute(
                text("SELECT phone, draw_rank FROM lottery_entries WHERE draw_rank IS NOT NULL")
            ).all()
        )
        winners = {p for (p,) in conn.execute(text("SELECT phone FROM bookings")).all()}
    assert sorted(ranks.values()) == list(range(1, 12))
    assert len(winners) == 5
    for number in winners:
        assert outbox_to(gateway, number)[-1].startswith("Menang undian! Antrean PMK-00")
    losers = sorted((r, p) for p, r in ranks.items() if p not in winners)
    for position, (_, number) in enumerate(losers, start=1):
        message = outbox_to(gateway, number)[-1]
        assert message.startswith("Undian PMK Sel 08-12-2026: belum dapat kursi"), message
        assert f"daftar tunggu no. {position};" in message
    # Winners got seats in draw order: nobody ranked behind a loser for "any session".
    best_loser = min(r for p, r in ranks.items() if p not in winners and p != phone(12))
    assert all(ranks[p] < best_loser for p in winners if p != phone(12))

    status, out, _ = run(capsys, gateway, "lottery", "verify", "--office", "PMK", "--date", DAY2)
    assert status == 0, out
    assert "draw reproduced" in out and "entries     11, winners 5" in out

    # A winner cannot jump into another day's draw by moving the seat.
    assert send("UBAH 9/12", sender=sorted(winners)[1]).startswith(
        "PMK Rab 09-12-2026 dibagi lewat undian, diundi Min 06-12-2026 jam 20:00. Untuk ikut: BATAL"
    )

    # After the draw the day is first come: full, so the waitlist is offered; a
    # winner's BATAL goes to the best-ranked loser.
    assert "TUNGGU" in send(f"DAFTAR {nik(44)} {DAY}", sender=phone(44))
    a_winner = sorted(winners)[0]
    with gateway.engine.connect() as conn:
        freed = conn.execute(
            text("SELECT session_name FROM bookings WHERE phone = :p"), {"p": a_winner}
        ).scalar_one()
    assert send("BATAL", sender=a_winner).startswith("Antrean")
    # The seat goes to the best-ranked loser who waits for that session (or any).
    promoted = next(p for _, p in losers if p != phone(12) or freed == "SIANG")
    assert outbox_to(gateway, promoted)[-1].startswith("Dapat kursi! Antrean PMK-006")

    with gateway.sessions() as session:
        assert gateway.chain.verify(session).problems == []


DAY2 = "2026-12-08"


def run(capsys: pytest.CaptureFixture[str], gateway: Gateway, *argv: str) -> tuple[int, str, str]:
    source = gateway.settings.source
    assert source is not None
    code = main(["--config", str(source), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_entrant_blocked_before_the_draw_is_refused_and_told(
    lottery_gateway: Gateway, clock: Clock, send: Send
) -> None:
    clock.now = IN_WINDOW
    for n in range(1, 4):
        enter(send, n)
    reply = send(f"BLOKIR {PIN} {nik(2)} 30 calo", sender=KEPALA)
    assert reply.startswith("NIK"), reply
    clock.now = DRAW_TIME
    result = lottery_gateway.jobs.tick(clock())
    assert (result.draws.winners, result.draws.waitlisted, result.draws.refused) == (2, 0, 1)
    assert outbox_to(lottery_gateway, phone(2))[-1].startswith("NIK ini tidak bisa mendaftar s/d")
    assert count(lottery_gateway, "SELECT count(*) FROM bookings WHERE phone = :p", p=phone(2)) == 0
    with lottery_gateway.sessions() as session:
        draw = lottery_gateway.lottery.find_round(
            session, lottery_gateway.settings.offices[0], datetime(2026, 12, 8).date()
        )
        assert draw is not None
        assert lottery_gateway.lottery.verify(session, draw).ok


def test_lottery_verify_catches_an_edited_rank_and_an_added_entry(
    lottery_gateway: Gateway, clock: Clock, send: Send, capsys: pytest.CaptureFixture[str]
) -> None:
    clock.now = IN_WINDOW
    for n in range(1, 8):
        enter(send, n)
    clock.now = DRAW_TIME
    lottery_gateway.jobs.tick(clock())
    argv = ("lottery", "verify", "--office", "PMK", "--date", DAY2)
    assert run(capsys, lottery_gateway, *argv)[0] == 0

    with lottery_gateway.engine.begin() as conn:  # the insider swaps two ranks
        conn.execute(
            text("UPDATE lottery_entries SET draw_rank = 8 - draw_rank WHERE draw_rank IN (1, 7)")
        )
    status, out, _ = run(capsys, lottery_gateway, *argv)
    assert status == 1 and "PROBLEM: 2 entries do not hold their rank in the draw" in out, out

    with lottery_gateway.engine.begin() as conn:  # ... and slips in a late entry
        conn.execute(
            text("UPDATE lottery_entries SET draw_rank = 8 - draw_rank WHERE draw_rank IN (1, 7)")
        )
        conn.execute(
            text(
                "INSERT INTO lottery_entries (round_id, office_code, day, phone, nik_hash,"
                " nik_masked, status, draw_rank, created_at) SELECT round_id, office_code, day,"
                " '+6281299999999', 'x', '3528********9999', 'won', 8, created_at"
                " FROM lottery_entries WHERE draw_rank = 1"
            )
        )
    status, out, _ = run(capsys, lottery_gateway, *argv)
    assert status == 1 and "the entries differ from the ones drawn (8 now, 7 at the draw)" in out
    # The audit chain sees it too: an entry that never went through the gateway.
    with lottery_gateway.sessions() as session:
        problems = lottery_gateway.chain.verify(session).problems
    assert any(p.startswith("lottery entry") and "not in the chain" in p for p in problems)


def test_the_draw_is_a_pure_function_of_secret_and_entries() -> None:
    secret = "ab" * 32
    digest = lottery_service.entries_digest([(3, None), (1, "PAGI"), (2, None)])
    assert digest == lottery_service.entries_digest([(1, "PAGI"), (2, None), (3, None)])
    assert digest != lottery_service.entries_digest([(1, None), (2, None), (3, None)])
    seed = lottery_service.seed_of(secret, "PMK", datetime(2026, 12, 8).date(), digest)
    order = lottery_service.draw_order(seed, [1, 2, 3, 4, 5, 6])
    assert sorted(order) == [1, 2, 3, 4, 5, 6]
    assert order == lottery_service.draw_order(seed, [6, 5, 4, 3, 2, 1])
    other = lottery_service.seed_of(secret, "PMK", datetime(2026, 12, 9).date(), digest)
    assert other != seed


def test_entries_racing_the_draw_are_drawn_or_refused_never_lost(
    lottery_gateway: Gateway, clock: Clock, db_url: str
) -> None:
    # Two processes' views: applicants a moment before the close, the worker after it.
    clock.now = datetime.fromisoformat("2026-12-05T19:59:59+07:00")
    drawer = Gateway(lottery_gateway.settings, clock=lambda: DRAW_TIME)
    replies: dict[int, str] = {}
    barrier = threading.Barrier(21)

    def applicant(n: int) -> None:
        barrier.wait()
        replies[n] = lottery_gateway.handle(
            InboundMessage(
                transport="test", sender=phone(n), recipient=None, text=f"DAFTAR {nik(n)} {DAY}"
            )
        ).text

    def worker() -> None:
        barrier.wait()
        drawer.jobs.tick(DRAW_TIME)

    threads = [threading.Thread(target=applicant, args=(n,)) for n in range(1, 21)]
    threads.append(threading.Thread(target=worker))
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        drawer.jobs.tick(DRAW_TIME)  # in case the worker ran before the round existed
    finally:
        drawer.close()
    entered = {n for n, r in replies.items() if r.startswith("Anda ikut undian")}
    refused = {n for n, r in replies.items() if r.startswith("Undian PMK Sel 08-12-2026 sedang")}
    assert entered | refused == set(range(1, 21)), replies
    with lottery_gateway.engine.connect() as conn:
        drawn = {
            p
            for (p,) in conn.execute(
                text("SELECT phone FROM lottery_entries WHERE draw_rank IS NOT NULL")
            )
        }
        not_drawn = conn.execute(
            text("SELECT count(*) FROM lottery_entries WHERE status = 'entered'")
        ).scalar_one()
    assert drawn == {phone(n) for n in entered} and not_drawn == 0
    assert count(lottery_gateway, "SELECT count(*) FROM bookings") == min(5, len(entered))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[lottery]\nallocation = "raffle"\n', 'allocation must be "first_come" or "lottery"'),
        (
            "[lottery]\nopens_days_before = 3\ncloses_days_before = 3\n",
            "closes_days_before (3) must be less than opens_days_before (3)",
        ),
        (
            '[booking]\nmax_days_ahead = 14\n[lottery]\nallocation = "lottery"\n',
            "opens_days_before (30) is more than [booking] max_days_ahead (14)",
        ),
        ('[lottery]\ncloses_at = "25:00"\n', 'closes_at must be a time like "08:00"'),
        ("[lottery]\nopen_days_before = 3\n", "unknown key [lottery] open_days_before"),
    ],
)
def test_a_bad_lottery_config_is_refused_with_the_key_named(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = write_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", extra=extra)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(path, env={})


def test_a_first_come_office_ignores_the_lottery_defaults(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, f"sqlite:///{tmp_path / 'x.db'}", extra="[booking]\nmax_days_ahead = 14\n"
    )
    settings = load_settings(path, env={})
    assert not settings.uses_lottery
    assert json.dumps([o.allocation for o in settings.offices]) == '["first_come", "first_come"]'

"""The public pages through Flask's test client, on SQLite and PostgreSQL.

The figures come from days played through the real inbound path (SMS in, tick),
never from rows written by hand: lottery rounds too are committed and drawn by
the worker's tick, with entries sent by SMS.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from sms_gateway.app import create_app
from sms_gateway.cli import main
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.models import StaffRole
from sms_gateway.pages.export import CSV_COLUMNS
from tests.conftest import Clock, nik, phone, write_config
from tests.scripted_day import (
    DAY,
    KEPALA,
    KEPALA_PIN,
    LOTTERY_OFFICES,
    OFFICES,
    add_staff,
    at,
    panggil,
    ready_to_call,
    script_day,
    sms,
)
from tests.scripted_day import PETUGAS as PETUGAS_PHONE
from tests.scripted_day import PIN as PETUGAS_PIN

RANGE = "from=2026-11-23&to=2026-12-13"
CELL = re.compile(r'id="c-(\d{4}-\d{2}-\d{2}|jumlah)-(\w+)" data-field="\w+">(\d+)<')


@pytest.fixture
def gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    gw = Gateway(
        load_settings(write_config(tmp_path, db_url, offices=OFFICES), env={}), clock=clock
    )
    yield gw
    gw.close()


@pytest.fixture
def client(gateway: Gateway) -> FlaskClient:
    return create_app(gateway.settings, gateway=gateway).test_client()


def cells(html: str) -> dict[str, dict[str, int]]:
    """Return the table's numbers by day (or "jumlah") and field."""
    found: dict[str, dict[str, int]] = {}
    for day, field, value in CELL.findall(html):
        found.setdefault(day, {})[field] = int(value)
    return found


def page_json(client: FlaskClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.data
    assert response.content_type == "application/json; charset=utf-8"
    data: dict[str, Any] = json.loads(response.data)
    return data


def day_of(report: dict, day: str) -> dict:
    return next(d for d in report["days"] if d["date"] == day)


# -- the figures -------------------------------------------------------------------------


def test_a_scripted_day_is_counted_the_same_in_html_json_and_csv(
    client: FlaskClient, gateway: Gateway, clock: Clock
) -> None:
    expected = script_day(gateway, clock).__dict__

    html = client.get(f"/transparansi/PMK?{RANGE}")
    assert html.status_code == 200
    assert html.content_type == "text/html; charset=utf-8"
    shown = cells(html.get_data(as_text=True))
    assert shown[DAY] == {k: v for k, v in expected.items() if k != "cancelled_by_office"}

    report = page_json(client, f"/transparansi/PMK.json?{RANGE}")
    assert report["office"] == {"code": "PMK", "name": "Kantor Imigrasi Pamekasan"}
    assert (report["from"], report["to"], report["today"]) == ("2026-11-23", "2026-12-13", DAY)
    day = day_of(report, DAY)
    assert {k: day[k] for k in expected} == expected
    assert day["open"] is True and day["lottery"] is None

    rows = list(csv.DictReader(io.StringIO(client.get(f"/transparansi/PMK.csv?{RANGE}").text)))
    row = next(r for r in rows if r["date"] == DAY)
    assert {k: int(row[k]) for k in expected} == expected
    assert tuple(rows[0]) == CSV_COLUMNS

    # Nothing else happened in the range: the totals are the day's, but for the quota.
    totals = report["totals"]
    assert {k: totals[k] for k in expected if k != "quota"} == {
        k: v for k, v in expected.items() if k != "quota"
    }
    assert shown["jumlah"]["booked"] == expected["booked"]
    # Open weekdays 23-11..13-12 but 10-12 (configured closed): 14 days of 5 seats.
    assert totals["quota"] == 14 * 5

    # The index shows the same totals for PMK, and MLG untouched.
    index = page_json(client, f"/transparansi.json?{RANGE}")
    pmk, mlg = index["offices"]
    assert pmk["totals"] == totals
    assert mlg["office"]["code"] == "MLG" and mlg["totals"]["booked"] == 0
    index_cells = re.findall(
        r'id="c-PMK-(\w+)" data-field="\w+">(\d+)<',
        client.get(f"/transparansi?{RANGE}").get_data(as_text=True),
    )
    assert {k: int(v) for k, v in index_cells} == {
        k: v for k, v in totals.items() if k != "cancelled_by_office"
    }
    index_rows = list(csv.DictReader(io.StringIO(client.get(f"/transparansi.csv?{RANGE}").text)))
    assert {r["office"] for r in index_rows} == {"PMK", "MLG"}


def test_booked_matches_the_seat_counters_and_rekap(
    client: FlaskClient, gateway: Gateway, clock: Clock
) -> None:
    expected = script_day(gateway, clock)
    with gateway.engine.connect() as conn:
        seats = conn.execute(
            text("SELECT sum(booked) FROM session_slots WHERE office_code = 'PMK'")
        ).scalar_one()
    assert page_json(client, f"/transparansi/PMK.json?{RANGE}")["totals"]["booked"] == seats
    # REKAP and the page agree: a released booking gave its seat back.
    rekap = sms(gateway, f"REKAP {PETUGAS_PIN}", PETUGAS_PHONE)
    assert rekap.startswith(
        f"REKAP PMK 30-11-2026: daftar {expected.booked}, "
        f"hadir {expected.checked_in}, selesai {expected.served}, batal {expected.cancelled}, "
        f"tdk datang {expected.no_show}."
    )


def test_quota_overrides_closures_and_weekends(
    client: FlaskClient, gateway: Gateway, clock: Clock
) -> None:
    add_staff(gateway, KEPALA, StaffRole.KEPALA, KEPALA_PIN)
    for n in (1, 2):
        assert sms(gateway, f"DAFTAR {nik(n)} 2-12-2026", phone(n)).startswith("Terdaftar!")
    assert sms(gateway, f"KUOTA {KEPALA_PIN} 1-12-2026 PAGI 6", KEPALA).startswith("Kuota PMK")
    assert sms(gateway, f"TUTUP {KEPALA_PIN} 2-12-2026 listrik padam", KEPALA).startswith("PMK")

    report = page_json(client, f"/transparansi/PMK.json?{RANGE}")
    shown = [d["date"] for d in report["days"]]
    assert "2026-11-28" not in shown and "2026-11-29" not in shown  # a plain weekend
    assert day_of(report, "2026-12-01")["quota"] == 6 + 2
    closed = day_of(report, "2026-12-02")
    assert (closed["open"], closed["closed_reason"], closed["quota"]) == (
        False,
        "listrik padam",
        0,
    )
    assert (closed["booked"], closed["cancelled_by_office"]) == (0, 2)
    configured = day_of(report, "2026-12-10")
    assert (configured["closed_reason"], configured["quota"]) == ("rapat dinas", 0)

    html = client.get(f"/transparansi/PMK?{RANGE}").get_data(as_text=True)
    assert "tutup: listrik padam" in html and "tutup: rapat dinas" in html
    assert cells(html)["2026-12-02"]["cancelled_by_office"] == 2


LOTTERY_DAY = "2026-12-02"  # a Wednesday: entries 22-11 00:00 to Sun 29-11 20:00
LOTTERY_OPEN_DAY = "2026-12-04"  # still taking entries when LOTTERY_DAY is drawn


def lottery_section(html: str, day: str) -> str:
    """Return the HTML of one day's lottery section on the office page."""
    found = re.search(rf'<section class="undian" id="undian-{day}">(.*?)</section>', html, re.S)
    assert found, f"no lottery section for {day}"
    return found.group(1)


def lottery_views(client: FlaskClient, day: str) -> tuple[dict, str, dict[str, str]]:
    """Return what the JSON, the HTML and the CSV of PMK's page show for a lottery day."""
    shown = day_of(page_json(client, f"/transparansi/PMK.json?{RANGE}"), day)["lottery"]
    html = client.get(f"/transparansi/PMK?{RANGE}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/transparansi/PMK.csv?{RANGE}").text)))
    row = next(r for r in rows if r["date"] == day)
    return shown, html, row


def assert_not_drawn(client: FlaskClient, day: str, commitment: str) -> None:
    """The page shows the round's commitment and nothing of its draw, in every format."""
    shown, html, row = lottery_views(client, day)
    assert (shown["status"], shown["commitment"]) == ("open", commitment)
    assert {k: shown[k] for k in ("secret", "seed", "entries_digest", "entries", "winners")} == (
        dict.fromkeys(("secret", "seed", "entries_digest", "entries", "winners"))
    )
    assert shown["verify_command"] is None
    section = lottery_section(html, day)
    assert f'<span class="kode" data-field="commitment">{commitment}</span>' in section
    assert html.count(commitment) == 1  # each day has its own commitment
    assert 'data-field="seed"' not in section and 'data-field="secret"' not in section
    assert "lottery verify" not in section and f'href="#undian-{day}"' in html
    assert (row["lottery_status"], row["lottery_commitment"]) == ("open", commitment)
    assert (row["lottery_seed"], row["lottery_entries"], row["lottery_winners"]) == ("", "", "")


@pytest.fixture
def lottery_gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    config = write_config(tmp_path, db_url, offices=LOTTERY_OFFICES)
    gw = Gateway(load_settings(config, env={}), clock=clock)
    yield gw
    gw.close()


def test_lottery_rounds_show_the_commitment_then_the_draw(
    lottery_gateway: Gateway, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lottery office played through the real path: the worker commits, applicants enter
    by SMS, the worker draws; the page follows, and anyone can check the draw."""
    gateway = lottery_gateway
    client = create_app(gateway.settings, gateway=gateway).test_client()
    # Fri 27-11 10:00: the worker records the commitments of the days whose window is
    # open or opens within a day (through Tue 08-12), before anyone can enter.
    clock.now = at("2026-11-27T10:00")
    assert gateway.jobs.tick(clock()).rounds_opened == 7  # Mon 30-11 .. Tue 08-12, weekdays
    with gateway.engine.connect() as conn:
        rows = conn.execute(text("SELECT day, commitment FROM lottery_rounds")).all()
    commitments = {str(day): commitment for day, commitment in rows}  # SQLite: text dates
    commitment = commitments[LOTTERY_DAY]
    assert len(set(commitments.values())) == len(commitments)  # one secret per day
    assert_not_drawn(client, LOTTERY_DAY, commitment)

    # Applicants enter by SMS; one leaves the draw again. Quota: PAGI 3 + SIANG 2.
    for n in range(1, 10):
        session = " SIANG" if n == 9 else ""
        reply = sms(gateway, f"DAFTAR {nik(n)} 2-12-2026{session}", phone(n))
        assert reply.startswith("Anda ikut undian PMK Rab 02-12-2026"), reply
        assert "Diundi Min 29-11-2026 jam 20:00" in reply
    assert sms(gateway, "BATAL", phone(4)).startswith("Anda keluar dari undian PMK")
    assert sms(gateway, f"DAFTAR {nik(10)} 4-12-2026", phone(10)).startswith("Anda ikut undian")
    # Entries change nothing the page shows before the draw: no seed, no counts.
    assert_not_drawn(client, LOTTERY_DAY, commitment)
    assert "PMK-0" not in client.get(f"/transparansi/PMK?{RANGE}").get_data(as_text=True)

    # Sun 29-11 20:00: the window closes and the worker draws (every round due: the
    # empty ones of Mon 30-11 and Tue 01-12 too).
    clock.now = at("2026-11-29T20:00")
    draws = gateway.jobs.tick(clock()).draws
    assert (draws.rounds, draws.winners, draws.waitlisted, draws.refused) == (3, 5, 3, 0)

    with gateway.engine.connect() as conn:
        secret, seed, digest, entries, winners = conn.execute(
            text(
                "SELECT secret, seed, entries_digest, entries, winners FROM lottery_rounds"
                " WHERE office_code = 'PMK' AND day = :d"
            ),
            {"d": date.fromisoformat(LOTTERY_DAY)},
        ).one()
        drawn_entries, won = conn.execute(
            text(
                "SELECT count(*), count(booking_id) FROM lottery_entries"
                " WHERE day = :d AND draw_rank IS NOT NULL"
            ),
            {"d": date.fromisoformat(LOTTERY_DAY)},
        ).one()
        booked = conn.execute(
            text("SELECT count(*) FROM bookings WHERE booking_date = :d"),
            {"d": date.fromisoformat(LOTTERY_DAY)},
        ).scalar_one()
        codes = list(conn.execute(text("SELECT code FROM bookings")).scalars())
        masked = list(conn.execute(text("SELECT nik_masked FROM lottery_entries")).scalars())
        nik_hashes = list(conn.execute(text("SELECT nik_hash FROM lottery_entries")).scalars())
    assert (entries, winners) == (drawn_entries, won) == (8, 5) and booked == 5

    shown, html, row = lottery_views(client, LOTTERY_DAY)
    command = f"sms-gateway lottery verify --office PMK --date {LOTTERY_DAY}"
    assert shown == {
        "status": "drawn",
        "commitment": commitment,  # as published before the first entry
        "opens_at": "2026-11-22T00:00:00+07:00",
        "closes_at": "2026-11-29T20:00:00+07:00",
        "secret": secret,
        "seed": seed,
        "entries_digest": digest,
        "entries": entries,
        "winners": winners,
        "verify_command": command,
    }
    # Anyone can check that the secret revealed is the one committed to: the
    # commitment is the SHA-256 of the secret as shown (its hex text).
    assert hashlib.sha256(shown["secret"].encode()).hexdigest() == commitment
    section = lottery_section(html, LOTTERY_DAY)
    assert "sudah diundi" in section
    for field, value in (
        ("commitment", commitment),
        ("secret", secret),
        ("seed", seed),
        ("entries", entries),
        ("winners", winners),
        ("verify_command", command),
    ):
        assert f'data-field="{field}">{value}<' in section, field
    assert cells(html)[LOTTERY_DAY]["booked"] == winners
    assert (row["lottery_status"], row["lottery_commitment"], row["lottery_seed"]) == (
        "drawn",
        commitment,
        seed,
    )
    assert (int(row["lottery_entries"]), int(row["lottery_winners"])) == (entries, winners)
    # A day whose window is still open keeps only its commitment.
    assert_not_drawn(client, LOTTERY_OPEN_DAY, commitments[LOTTERY_OPEN_DAY])

    # The command the page prints re-runs the draw from the database and agrees.
    status = main(["--config", str(gateway.settings.source), *command.split()[1:]])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "draw reproduced" in out and f"entries     {entries}, winners {winners}" in out

    # No personal data: not the entrants' phones or NIKs, masked or hashed, nor codes.
    for path in (
        f"/transparansi?{RANGE}",
        f"/transparansi.json?{RANGE}",
        f"/transparansi.csv?{RANGE}",
        f"/transparansi/PMK?{RANGE}",
        f"/transparansi/PMK.json?{RANGE}",
        f"/transparansi/PMK.csv?{RANGE}",
    ):
        body = client.get(path).get_data(as_text=True)
        for n in range(1, 11):
            assert phone(n)[3:] not in body and nik(n) not in body, path
        assert "3528" not in body and "****" not in body, path
        for value in (*codes, *masked, *nik_hashes):
            assert value not in body, (path, value)


def test_the_weekly_charts_are_inline_svg_without_script(
    client: FlaskClient, gateway: Gateway, clock: Clock
) -> None:
    script_day(gateway, clock)
    response = client.get(f"/transparansi/PMK?{RANGE}")
    html = response.get_data(as_text=True)
    # ISO weeks 48..50 of 2026, one chart each, bars with tooltips and printed values.
    assert re.findall(r'<figure class="grafik" id="(grafik-PMK-2026-w\d+)"', html) == [
        "grafik-PMK-2026-w48",
        "grafik-PMK-2026-w49",
        "grafik-PMK-2026-w50",
    ]
    assert html.count("<svg") == 3
    assert "<title>Sen 30-11-2026: terisi 5</title>" in html
    assert "<title>Sen 30-11-2026: tidak datang 2</title>" in html
    assert "<title>Sen 30-11-2026: kuota 5</title>" in html
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert client.get("/transparansi").get_data(as_text=True).count("<script") == 0


# -- requests the pages refuse ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01", "Tanggal 'from' tidak valid ('2026-13-01'): tulis YYYY-MM-DD"),
        ("from=30-11-2026", "Tanggal 'from' tidak valid ('30-11-2026')"),
        ("to=besok", "Tanggal 'to' tidak valid ('besok')"),
        ("from=2026-12-01&to=2026-11-01", "Tanggal 'to' (2026-11-01) sebelum tanggal 'from'"),
        ("from=2026-01-01&to=2026-12-31", "Rentang 365 hari terlalu panjang: paling banyak 92"),
    ],
)
@pytest.mark.parametrize(
    "path", ["/transparansi", "/transparansi.json", "/transparansi/PMK.csv", "/transparansi/PMK"]
)
def test_a_bad_range_gets_a_plain_400(
    client: FlaskClient, path: str, query: str, message: str
) -> None:
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.text.startswith(message)


def test_one_end_of_the_range_spans_four_weeks(client: FlaskClient) -> None:
    report = page_json(client, "/transparansi/PMK.json?from=2026-12-01")
    assert (report["from"], report["to"]) == ("2026-12-01", "2026-12-29")
    report = page_json(client, "/transparansi/PMK.json?to=2026-12-29")
    assert (report["from"], report["to"]) == ("2026-12-01", "2026-12-29")
    # Without either: two weeks back and ahead of the gateway's today (Fri 27-11-2026).
    report = page_json(client, "/transparansi/pmk.json")
    assert (report["from"], report["to"], report["today"]) == (
        "2026-11-13",
        "2026-12-11",
        "2026-11-27",
    )


@pytest.mark.parametrize(
    "path", ["/transparansi/XYZ", "/transparansi/XYZ.csv", "/layar/XYZ", "/transparansi/..%2F"]
)
def test_an_unknown_office_gets_a_friendly_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    if path.startswith("/transparansi/XYZ") or path.startswith("/layar"):
        assert response.content_type == "text/html; charset=utf-8"
        html = response.get_data(as_text=True)
        assert "Kantor XYZ tidak ditemukan" in html
        assert 'href="/transparansi/PMK"' in html and 'href="/transparansi/MLG"' in html


@pytest.mark.parametrize("path", ["/transparansi/XYZ.json", "/layar/XYZ.json"])
def test_an_unknown_office_gets_a_json_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert json.loads(response.data) == {"error": "kantor XYZ tidak ada"}


# -- the waiting-room display -------------------------------------------------------------


def test_the_display_follows_panggil_and_selesai(
    client: FlaskClient, gateway: Gateway, clock: Clock
) -> None:
    ready_to_call(gateway, clock, applicants=4)
    board = page_json(client, "/layar/PMK.json")
    assert board["counters"] == [] and board["recent"] == [] and board["waiting"] == 4
    assert "Belum ada panggilan hari ini" in client.get("/layar/PMK").get_data(as_text=True)

    assert "PMK-001" in panggil(gateway, "2")
    clock.now = at("2026-11-30T09:05")
    assert "PMK-002" in panggil(gateway, "10")
    clock.now = at("2026-11-30T09:07")
    assert "PMK-003" in panggil(gateway, "2")

    response = client.get("/layar/PMK.json")
    assert response.headers["Cache-Control"] == "no-store"
    board = json.loads(response.data)
    assert board["office"] == {"code": "PMK", "name": "Kantor Imigrasi Pamekasan"}
    assert (board["now"], board["today"], board["clock"]) == (
        "2026-11-30T09:07:00+07:00",
        DAY,
        "09:07",
    )
    assert board["counters"] == [
        {"counter": "2", "number": "PMK-003", "called_at": "2026-11-30T09:07:00+07:00"},
        {"counter": "10", "number": "PMK-002", "called_at": "2026-11-30T09:05:00+07:00"},
    ]
    assert [(r["number"], r["counter"]) for r in board["recent"]] == [
        ("PMK-003", "2"),
        ("PMK-002", "10"),
        ("PMK-001", "2"),
    ]
    assert board["waiting"] == 1

    # Once served, the counter shows no number until its next call.
    assert "PMK-002" in sms(gateway, f"SELESAI {PETUGAS_PIN} PMK-002", PETUGAS_PHONE)
    board = page_json(client, "/layar/PMK.json")
    assert board["counters"][1] == {"counter": "10", "number": None, "called_at": None}

    page = client.get("/layar/PMK")
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert re.search(r'id="loket-2" data-counter="2">\s*<div class="nama">LOKET 2</div>', html)
    assert '<div class="nomor" data-role="number">PMK-003</div>' in html
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in html
    nonce = re.search(r'<script nonce="([^"]+)">', html)
    assert nonce and f"'nonce-{nonce.group(1)}'" in page.headers["Content-Security-Policy"]
    # Another office's display is not affected.
    assert page_json(client, "/layar/MLG.json")["counters"] == []


# -- what the pages never show ------------------------------------------------------------


def test_no_page_shows_personal_data(client: FlaskClient, gateway: Gateway, clock: Clock) -> None:
    script_day(gateway, clock)
    with gateway.engine.connect() as conn:
        codes = list(conn.execute(text("SELECT code FROM bookings")).scalars())
        masked = list(conn.execute(text("SELECT nik_masked FROM bookings")).scalars())
    assert codes
    pages = [
        f"/transparansi?{RANGE}",
        f"/transparansi.json?{RANGE}",
        f"/transparansi.csv?{RANGE}",
        f"/transparansi/PMK?{RANGE}",
        f"/transparansi/PMK.json?{RANGE}",
        f"/transparansi/PMK.csv?{RANGE}",
        "/layar/PMK",
        "/layar/PMK.json",
    ]
    for path in pages:
        body = client.get(path).get_data(as_text=True)
        for n in range(1, 8):
            assert phone(n)[3:] not in body, path  # 812..., with or without +62 / 0
            assert nik(n) not in body, path
        assert "3528" not in body and "****" not in body, path
        assert PETUGAS_PHONE[3:] not in body, path
        for value in (*codes, *masked):
            assert value not in body, (path, value)

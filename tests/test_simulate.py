"""The month simulator as a smoke test: invariants and determinism, never its figures.

A few days at small demand through the real gateway (SQLite and PostgreSQL):
no session oversold and no phone or NIK holding two bookings after any tick,
every reply understood, every seat accounted for once, and the same seed
giving the same figures.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypedDict

import pytest

from bench.simulate_month import Simulation, main, simulate
from tests.conftest import PG_URL


class Small(TypedDict):
    seed: int
    demand: float
    working_days: int
    warmup_days: int
    progress: bool


SMALL: Small = {"seed": 3, "demand": 0.3, "working_days": 3, "warmup_days": 3, "progress": False}


def check(sim: Simulation) -> None:
    """The invariants every run must keep, whatever its figures."""
    assert sim.violations == []
    counters = sim.gateway.counters
    assert counters["unrecognised_replies"] == 0
    assert counters["messages"] > 0 and counters["reminders"] > 0
    assert counters["ghost_extra_booked"] == 0  # one booking per NIK across offices
    assert sim.ours.scalper_used == 0  # a bought number never passes HADIR
    for run in (sim.gateway, sim.baseline):
        assert run.capacity, run.name
        for day, seats in run.capacity.items():
            counts = run.seats[day]
            assert sum(counts.values()) == seats, (run.name, day, counts)
            assert min(counts.values()) >= 0, (run.name, day, counts)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_small_month_keeps_the_invariants(database: str, request: pytest.FixtureRequest) -> None:
    if database == "postgres":
        request.getfixturevalue("pg_server")  # skip (or fail in CI) without a server
    sim = simulate(**SMALL, postgres=database == "postgres", pg_url=PG_URL)
    check(sim)


def test_the_same_seed_gives_the_same_figures() -> None:
    first, second = simulate(**SMALL), simulate(**SMALL)
    assert first.ours == second.ours
    assert first.theirs == second.theirs
    assert first.gateway.seats == second.gateway.seats
    assert first.gateway.refusals == second.gateway.refusals


def test_make_simulate_prints_the_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "chart.png"
    argv = ["--seed", "3", "--demand", "0.3", "--days", "2", "--warmup", "2", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path), "--chart", str(chart)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    number = r"\d+(\.\d+)?"
    assert re.fullmatch(
        rf"simulate: genuine_share={number} baseline_genuine_share={number} "
        rf"wasted=\d+ median_wait_days={number}",
        last,
    ), last
    assert chart.stat().st_size > 0
    assert (tmp_path / "seats_by_day.csv").read_text().startswith("system,date,capacity,")

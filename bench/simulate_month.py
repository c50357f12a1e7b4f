"""A month of genuine applicants, ghost bookers and scalpers, against the real gateway.

    .venv/bin/python bench/simulate_month.py               # seed 1, demand 1.2, SQLite
    .venv/bin/python bench/simulate_month.py --seed 7 --postgres
    make simulate SIM_ARGS="--days 5 --demand 0.3"

Two offices (``config.example.toml``: PMK 60 and MLG 90 seats a day, holidays
as configured) over 30 working days, with arrivals starting a week before.
The same seeded population meets the gateway (every action an SMS through
``Gateway.handle``, time through ``Jobs.tick``, on a fresh database; see
``bench/sim/drive.py``) and the baseline, a small model of the old web queue
(``bench/sim/baseline.py``). Prints a table, writes CSV (``--out``) and the
chart ``docs/simulation/seats_by_outcome.png`` (``--chart``), and ends with::

    simulate: genuine_share=G baseline_genuine_share=B wasted=W median_wait_days=M

(G, B: shares of seats used by the applicant who booked them; W: seats the
gateway wasted; M: the gateway's median days from an applicant's earliest
acceptable date to being served.)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sim import report
from bench.sim.baseline import Baseline
from bench.sim.drive import GatewayRun
from bench.sim.outcomes import Figures, RunResult, figures
from bench.sim.people import Habits, Population, generate
from bench.sim.world import PG_URL, World, build_world, fresh_database, write_config

ROOT = Path(__file__).resolve().parents[1]
START = date(2026, 11, 30)  # a Monday; the month runs into the Christmas and New Year holidays


@dataclass
class Simulation:
    """Everything one run produced."""

    world: World
    population: Population
    gateway: RunResult
    baseline: RunResult
    ours: Figures
    theirs: Figures
    violations: list[str]
    seconds: dict[str, float]


def arrival_rates(world: World, demand: float) -> dict[str, float]:
    """Return expected arrivals per calendar day per office: ``demand`` x its seats."""
    rates = {}
    for office in world.offices:
        seats = sum(world.capacity(office, d) for d in world.days)
        rates[office.code] = demand * seats / len(world.days)
    return rates


def simulate(
    seed: int = 1,
    demand: float = 1.2,
    working_days: int = 30,
    warmup_days: int = 7,
    postgres: bool = False,
    pg_url: str = PG_URL,
    habits: Habits | None = None,
    progress: bool = True,
) -> Simulation:
    """Run the gateway and the baseline on one seeded population; return the results."""
    habits = habits or Habits()
    with fresh_database(postgres, pg_url) as (url, directory):
        world = build_world(write_config(directory, url), START, working_days, warmup_days)
        rates = arrival_rates(world, demand)
        last_arrival = world.end
        population = generate(seed, rates, world.first_arrival, last_arrival, habits)
        started = time.perf_counter()
        run = GatewayRun(world, population, seed, progress=progress)
        ours = run.run()
        seconds = dict(run.seconds, gateway=time.perf_counter() - started)
        started = time.perf_counter()
        theirs = Baseline(world, population, seed, progress=progress).run()
        seconds["baseline"] = time.perf_counter() - started
    wants = {a.id: a.wants for a in population.applicants}
    return Simulation(
        world,
        population,
        ours,
        theirs,
        figures(ours, wants, world.end),
        figures(theirs, wants, world.end),
        run.violations,
        seconds,
    )


def last_line(sim: Simulation) -> str:
    """Return the summary line the issue asks for."""
    return (
        f"simulate: genuine_share={sim.ours.genuine_share:.3f} "
        f"baseline_genuine_share={sim.theirs.genuine_share:.3f} "
        f"wasted={sim.ours.wasted} median_wait_days={sim.ours.median_wait_days:g}"
    )


def _in_range(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], float]:
    """Return an argparse type that accepts numbers from low to high only."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high} (got {text})")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, simulate, report; exit 1 if an invariant broke."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="the run's random seed (default 1)")
    parser.add_argument(
        "--demand",
        type=_in_range(float, 0.01, 10),
        default=1.2,
        help="applicants per office per day, as a multiple of its seats (default 1.2)",
    )
    parser.add_argument(
        "--days", type=_in_range(int, 1, 250), default=30, help="working days measured (30)"
    )
    parser.add_argument(
        "--warmup", type=_in_range(int, 0, 60), default=7, help="days of arrivals before (7)"
    )
    parser.add_argument(
        "--scalpers", type=_in_range(int, 0, 100), default=Habits.scalpers, help="(default 3)"
    )
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL schema")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "simulation")
    parser.add_argument(
        "--chart", type=Path, default=ROOT / "docs" / "simulation" / "seats_by_outcome.png"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    sim = simulate(
        seed=args.seed,
        demand=args.demand,
        working_days=args.days,
        warmup_days=args.warmup,
        postgres=args.postgres,
        pg_url=args.pg_url,
        habits=replace(Habits(), scalpers=args.scalpers),
        progress=not args.no_progress,
    )
    wall = time.perf_counter() - started
    world, pop = sim.world, sim.population
    db = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"seed {args.seed}, demand {args.demand}x seats, {len(pop.applicants)} applicants "
        f"({sum(a.ghost for a in pop.applicants)} ghosts), {len(pop.scalpers)} scalpers x "
        f"{pop.habits.sims_per_scalper} SIMs; measured {world.start} .. {world.end} "
        f"({args.days} working days), {db}"
    )
    print(report.table(sim.ours, sim.theirs))
    print("gateway refusals, by what the sender was told:")
    print(report.refusals_text(sim.gateway))
    c = sim.gateway.counters
    print(
        f"gateway: {c['messages']} SMS handled, {c['reminders']} reminders, "
        f"{c['released']} released, {c['promoted']} promoted from the waitlist, "
        f"{c['waitlist_joined']} joined the waitlist, "
        f"{c['unrecognised_replies']} unrecognised replies"
    )
    s = sim.seconds
    print(
        f"time: {wall:.0f} s wall; gateway run {s['gateway']:.0f} s (HADIR {s['hadir']:.0f} s, "
        f"other SMS {s['other']:.0f} s, ticks+checks {s['tick']:.0f} s), "
        f"baseline {s['baseline']:.1f} s"
    )
    print(f"invariants: {len(sim.violations)} violations")
    for v in sim.violations[:10]:
        print("  " + v)
    paths = report.write_csv(args.out, [sim.gateway, sim.baseline], [sim.ours, sim.theirs])
    title = f"Seats by outcome per day (seed {args.seed}, demand {args.demand}x)"
    paths.append(report.chart(args.chart, [sim.gateway, sim.baseline], title))
    print("wrote " + ", ".join(str(p) for p in paths))
    print(last_line(sim))
    return 1 if sim.violations else 0


if __name__ == "__main__":
    sys.exit(main())

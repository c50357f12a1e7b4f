"""The report: a table on stdout, CSV files and the chart of seats by outcome per day."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.sim.outcomes import OUTCOMES, Figures, RunResult

COLOURS = {
    "genuine": "#2e7d32",
    "resold": "#f9a825",
    "no_show": "#90a4ae",
    "ghost": "#6a1b9a",
    "scalper": "#c62828",
    "empty": "#e0e0e0",
}
ROWS: tuple[tuple[str, str], ...] = (
    ("seats offered", "seats"),
    ("used by the applicant who booked", "genuine"),
    ("used on a number bought from a scalper", "resold"),
    ("wasted (empty, no-show, ghost, scalper)", "wasted"),
    ("  empty", "by:empty"),
    ("  no-show", "by:no_show"),
    ("  ghost", "by:ghost"),
    ("  scalper, unused", "by:scalper"),
    ("genuine share of seats", "genuine_share"),
    ("wasted share of seats", "wasted_share"),
    ("applicants served within 14 days", "served_14"),
    ("median wait, days (of those served)", "median_wait_days"),
    ("scalper bookings", "scalper_bookings"),
    ("scalper numbers sold", "scalper_sold"),
    ("scalper bookings used at the counter", "scalper_used"),
)


def value(figures: Figures, key: str) -> str:
    """Format one figure for the table."""
    if key.startswith("by:"):
        return str(figures.by_outcome[key[3:]])
    raw = getattr(figures, key)
    if isinstance(raw, float) and key != "median_wait_days":
        return f"{raw:.3f}"
    return f"{raw:g}" if isinstance(raw, float) else str(raw)


def table(ours: Figures, baseline: Figures) -> str:
    """Return the side-by-side table of the gateway and the baseline."""
    width = max(len(label) for label, _ in ROWS)
    lines = [f"{'':{width}}  {'gateway':>10}  {'baseline':>10}"]
    for label, key in ROWS:
        lines.append(f"{label:{width}}  {value(ours, key):>10}  {value(baseline, key):>10}")
    return "\n".join(lines)


def refusals_text(result: RunResult) -> str:
    """Return the gateway's refusals per kind of actor, by the reason they were told."""
    lines = []
    for kind, reasons in sorted(result.refusals.items()):
        listed = ", ".join(f"{k} {n}" for k, n in reasons.most_common())
        lines.append(f"  {kind}: {sum(reasons.values())} ({listed})")
    return "\n".join(lines) or "  none"


def write_csv(directory: Path, runs: list[RunResult], figures: list[Figures]) -> list[Path]:
    """Write per-day seats and the summary as CSV; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    daily = directory / "seats_by_day.csv"
    with daily.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["system", "date", "capacity", *OUTCOMES])
        for run in runs:
            for day in sorted(run.capacity):
                counts = run.seats.get(day, Counter())
                out.writerow(
                    [run.name, day.isoformat(), run.capacity[day], *(counts[o] for o in OUTCOMES)]
                )
    summary = directory / "summary.csv"
    with summary.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["figure", *(r.name for r in runs)])
        for _, key in ROWS:
            out.writerow([key.replace("by:", ""), *(value(fig, key) for fig in figures)])
    return [daily, summary]


def chart(path: Path, runs: list[RunResult], title: str) -> Path:
    """Draw stacked bars of seats by outcome per day, one panel per system."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 3.2 * len(runs)), sharex=True, dpi=80)
    for ax, run in zip(axes, runs, strict=True):
        days = sorted(run.capacity)
        bottom = [0] * len(days)
        for outcome in OUTCOMES:
            heights = [run.seats.get(d, Counter())[outcome] for d in days]
            ax.bar(days, heights, bottom=bottom, color=COLOURS[outcome], label=outcome, width=0.8)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_title(run.name, loc="left", fontsize=10)
        ax.set_ylabel("seats")
    axes[0].legend(ncol=len(OUTCOMES), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.32))
    fig.suptitle(title, fontsize=10, y=0.995)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path

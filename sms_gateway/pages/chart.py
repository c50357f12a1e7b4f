"""The weekly bar chart on an office's page, laid out for inline SVG.

Per day three bars (booked, checked in, no-show) and a dashed mark at the quota;
the template draws what ``week_chart`` computes, with no script and no image files.
"""

from __future__ import annotations

from dataclasses import dataclass

from sms_gateway.dates import format_date, weekday_short
from sms_gateway.services.transparency import OfficeReport, Week

CHART_GROUP = 84  # width of one day's group of bars
CHART_BAR = 20
CHART_GAP = 4
CHART_TOP = 22  # room for the value above the tallest bar
CHART_PLOT = 120  # height of the plot area
CHART_BOTTOM = 26  # room for the day labels
SERIES = (
    ("booked", "terisi", "Terisi"),
    ("checked_in", "hadir", "Hadir"),
    ("no_show", "absen", "Tidak datang"),
)


@dataclass(frozen=True)
class Bar:
    """One bar of the weekly chart, with its value label and tooltip."""

    x: float
    y: float
    height: float
    css: str
    value: int
    tooltip: str


@dataclass(frozen=True)
class QuotaMark:
    """The dashed line at a day's quota."""

    x1: float
    x2: float
    y: float
    tooltip: str


@dataclass(frozen=True)
class DayLabel:
    """A day's name under its bars, and a note for a closed day."""

    x: float
    text: str
    closed: str | None


@dataclass(frozen=True)
class WeekChart:
    """Everything the template needs to draw one week as inline SVG."""

    ident: str
    title: str
    description: str
    width: int
    height: int
    bar_width: int
    baseline: float
    bars: tuple[Bar, ...]
    quotas: tuple[QuotaMark, ...]
    labels: tuple[DayLabel, ...]


def chart_scale(report: OfficeReport) -> int:
    """Return the value the full bar height stands for: the same for every week shown."""
    return max(
        [1] + [max(d.counts.quota, d.counts.booked, d.counts.checked_in) for d in report.days]
    )


def week_chart(code: str, week: Week, scale: int) -> WeekChart:
    """Lay out one week's bars (booked, checked in, no-show per day) and quota marks."""
    baseline = CHART_TOP + CHART_PLOT
    bars: list[Bar] = []
    quotas: list[QuotaMark] = []
    labels: list[DayLabel] = []
    parts = []
    for i, day in enumerate(week.days):
        left = i * CHART_GROUP + (CHART_GROUP - 3 * CHART_BAR - 2 * CHART_GAP) / 2
        name = f"{weekday_short(day.day)} {format_date(day.day)}"
        labels.append(
            DayLabel(
                i * CHART_GROUP + CHART_GROUP / 2,
                f"{weekday_short(day.day)} {day.day.day}",
                "tutup" if day.closed_reason else None,
            )
        )
        if day.closed_reason:
            parts.append(f"{name}: tutup")
            continue
        for j, (field, css, label) in enumerate(SERIES):
            value = getattr(day.counts, field)
            height = CHART_PLOT * value / scale
            bars.append(
                Bar(
                    x=left + j * (CHART_BAR + CHART_GAP),
                    y=baseline - height,
                    height=height,
                    css=css,
                    value=value,
                    tooltip=f"{name}: {label.lower()} {value}",
                )
            )
        quota = day.counts.quota
        y = baseline - CHART_PLOT * quota / scale
        quotas.append(
            QuotaMark(
                left - 3, left + 3 * CHART_BAR + 2 * CHART_GAP + 3, y, f"{name}: kuota {quota}"
            )
        )
        parts.append(
            f"{name}: kuota {quota}, terisi {day.counts.booked}, hadir {day.counts.checked_in}, "
            f"tidak datang {day.counts.no_show}"
        )
    first, last = week.days[0].day, week.days[-1].day
    return WeekChart(
        ident=f"grafik-{code}-{week.year}-w{week.number:02d}",
        title=f"Minggu ke-{week.number} {week.year} ({format_date(first)} s/d {format_date(last)})",
        description="; ".join(parts),
        width=max(len(week.days), 1) * CHART_GROUP,
        height=CHART_TOP + CHART_PLOT + CHART_BOTTOM,
        bar_width=CHART_BAR,
        baseline=baseline,
        bars=tuple(bars),
        quotas=tuple(quotas),
        labels=tuple(labels),
    )

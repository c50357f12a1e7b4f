"""How the ``sms-gateway`` commands print: aligned tables, CSV, and a check's verdict."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click

from sms_gateway import csv_safe


def write_csv(rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    """Write ``rows`` to stdout as CSV with a header (cells safe for spreadsheets)."""
    writer = csv_safe.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r[c] for c in columns] for r in rows)


def write_rows(rows: list[dict[str, str]], columns: tuple[str, ...], fmt: str, empty: str) -> None:
    """Write ``rows`` as CSV or as a table with a header line (``empty`` when there are none)."""
    if fmt == "csv":
        write_csv(rows, columns)
        return
    if not rows:
        click.echo(empty)
        return
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
    for line in [dict(zip(columns, columns, strict=True)), *rows]:
        click.echo(
            "  ".join(line[c].ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
        )


def verdict(ok: bool, problems: Iterable[str], ok_line: str) -> None:
    """Print ``ok_line`` when a check passed; else every problem, and exit 1."""
    if ok:
        click.echo(ok_line)
        return
    for problem in problems:
        click.echo(f"PROBLEM: {problem}")
    raise click.exceptions.Exit(1)

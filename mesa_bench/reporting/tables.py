"""Terminal tables for runs (rich)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from mesa_bench.reporting.run_rows import split_rows


def _fmt(x: float, lo: float, hi: float) -> str:
    if x != x:  # NaN: a split whose references do not separate has no score
        return "- (references tie)"
    return f"{x:.3f} [{lo:.3f}, {hi:.3f}]"


def run_table(title: str, records: list[tuple[str, object]]) -> Table:
    """Returns a table of (label, RunRecord) pairs, one row per label and split."""
    table = Table(
        "method",
        "split",
        "trials",
        "performance [95% CI]",
        "score [95% CI]",
        "objectives achieved",
        title=title,
    )
    for label, record in records:
        for row in split_rows(record):
            achieved = ", ".join(f"{k} {v:.2f}" for k, v in row["achieved"].items())
            table.add_row(
                label,
                row["split"],
                str(row["n_trials"]),
                _fmt(row["performance"], *row["performance_ci"]),
                _fmt(row["score"], *row["score_ci"]),
                achieved,
            )
    return table


def console_for_tables() -> Console:
    """Returns a console wide enough for the tables when output is not a terminal."""
    return Console(width=None if sys.stdout.isatty() else 160)


def print_run(result) -> None:
    """Prints a run's table and where its files went."""
    console = console_for_tables()
    record = result.results.runs[0]
    console.print(
        run_table(f"{record.family}, seed {record.seed}", [(result.results.method.name, record)])
    )
    console.print(f"results: {result.results_path}")
    if result.wandb_dir is not None:
        console.print(f"wandb run: {result.wandb_dir}")

"""Terminal tables (rich), with metric columns labelled from ``mesa_bench.metrics.METRICS``.

A metric column is a ``(label, metric name)`` pair: its header carries the metric's
direction arrow, the table's caption its description, and rows ranked by it come best
first, all read from the registry, so a metric's direction is stated in one place.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

from mesa_bench.metrics import metric_info
from mesa_bench.reporting.run_rows import split_rows

T = TypeVar("T")
ColumnSpec = tuple[str, str | None]  # (label, metric name or None for a plain column)


def metric_header(label: str, metric: str | None) -> str:
    """Returns a column header: ``label``, then the metric's direction arrow (if a metric)."""
    return label if metric is None else f"{label} {metric_info(metric).arrow}"


def metric_legend(columns: Sequence[ColumnSpec]) -> str:
    """Returns one line per metric column: arrow, label, description and direction."""
    lines = []
    for label, metric in columns:
        if metric is not None:
            info = metric_info(metric)
            lines.append(f"{info.arrow} {label}: {info.description} ({info.direction})")
    return "\n".join(lines)


def metric_table(title: str, columns: Sequence[ColumnSpec]) -> Table:
    """Returns an empty table with metric headers and the metrics' legend as its caption."""
    table = Table(*(metric_header(label, m) for label, m in columns), title=title)
    table.caption = metric_legend(columns)
    table.caption_justify = "left"
    return table


def best_first(items: Sequence[T], value: Callable[[T], Any], metric: str) -> list[T]:
    """Returns ``items`` ranked by ``value`` in the metric's direction; undefined values last."""

    def key(item: T) -> tuple[bool, float]:
        v = value(item)
        if v is None or not math.isfinite(v):
            return True, 0.0
        return False, -v if metric_info(metric).higher_is_better else v

    return sorted(items, key=key)


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
        metric_header("score [95% CI]", "normalized_score"),
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

"""The columns of the leaderboard table, shared by the pages, the JSON API and the export.

A metric column names its ``mesa_bench.metrics.METRICS`` entry, which gives its direction
(the best-first sort order a header link starts with, the arrow beside its label) and its
description; ``note`` says what the column shows of that metric on an entry. The other
columns state their own first sort order.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesa_bench.metrics import MetricInfo, metric_info


@dataclass(frozen=True)
class Column:
    """One column of the table.

    Attributes:
        key: its sort key (one of ``leaderboard.store.SORT_KEYS``) and ``data-key``.
        label: header text.
        metric: its ``METRICS`` name, or None for a column that is not a metric.
        note: what it shows on an entry (how the metric is aggregated), for the legend.
        order: the first sort order of a column that is not a metric.
    """

    key: str
    label: str
    metric: str | None = None
    note: str = ""
    order: str = "asc"

    @property
    def info(self) -> MetricInfo | None:
        """Returns the metric's registry entry, or None for a plain column."""
        return None if self.metric is None else metric_info(self.metric)

    @property
    def best_first(self) -> str:
        """Returns the order a header link sorts by first: the best values on top."""
        info = self.info
        return self.order if info is None else info.best_first

    @property
    def arrow(self) -> str:
        """Returns the metric's direction arrow, or an empty string."""
        info = self.info
        return "" if info is None else info.arrow

    @property
    def description(self) -> str:
        """Returns the metric's description, then the note (either may be empty)."""
        info = self.info
        parts = [info.description] if info is not None else []
        return "; ".join(parts + ([self.note] if self.note else []))

    @property
    def direction(self) -> str:
        """Returns ``higher is better``, ``lower is better``, or empty for a plain column."""
        info = self.info
        return "" if info is None else info.direction


COLUMNS = (
    Column("method", "method"),
    Column("suite", "suite"),
    Column(
        "state",
        "state",
        note="self-reported (numbers as submitted, no programs); queued, running; verified "
        "(the server ran the entry's exported programs in its sandbox and they reproduce the "
        "submitted public-trial score within 0.05); failed, with the reason on the entry "
        "page (a program refused or killed, or numbers that do not reproduce). The other "
        "metric columns are computed from the submitted numbers in every state",
    ),
    Column(
        "score",
        "normalized score (IQM, 95% CI)",
        "score_iqm",
        "over every (family, seed) run of the entry, test split",
    ),
    Column(
        "gap",
        "hidden \u2212 public",
        note="for an entry whose programs the server ran: their normalized-score IQM on the "
        "hidden trials (drawn from an evaluation seed the server keeps secret per suite "
        "version) minus the same on the public trials; well below 0 means the method fits "
        "the public trials better than the distribution (overfitting); \u2014 where no "
        "programs were run",
        order="asc",
    ),
    Column(
        "reachability",
        "reachability",
        "reachability",
        "here of competence (score >= tau = 0.8), mean over scored families (a family whose "
        "references do not separate on test is left out)",
    ),
    Column(
        "range",
        "algorithmic range",
        "algorithmic_range",
        "shown as \u2014 where the runs carry no match statistics",
    ),
    Column(
        "robustness",
        "objective robustness",
        "objective_robustness",
        "mean OR over capable (family, shift, seed) runs only (C >= 0.5 on the shift, "
        "competent s >= 0.8 on test), on shifts where base and a proxy flag differ on some "
        "trial; an entry's page shows it with how many qualified, e.g. 0.36 (3/3 capable); "
        "\u2014 where none",
    ),
    Column("seeds", "seeds", note="the fewest base-optimizer seeds of any family", order="desc"),
    Column("date", "date", order="desc"),
)
DEFAULT_SORT = "score"


def column(key: str) -> Column:
    """Returns the column with sort key ``key``."""
    for c in COLUMNS:
        if c.key == key:
            return c
    raise KeyError(f"unknown column {key!r} (known: {', '.join(c.key for c in COLUMNS)})")

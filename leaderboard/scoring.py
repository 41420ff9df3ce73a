"""Scoring: every metric of an entry recomputed from the raw per-seed numbers.

The leaderboard trusts no derived number from a submission. Every metric, the checkpoint
scores of each seed's learning curve included, comes from
``mesa_bench.metrics.summary.summarize``, the same call as ``mesa-bench report``, which
recomputes them from the raw per-trial numbers; so a submitted ``score`` (or ``eps``)
field changes nothing, and the pages and figures draw only what that summary holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesa_bench.evaluation.calibrations import run_calibration
from mesa_bench.metrics.rescoring import Calibrator
from mesa_bench.metrics.summary import SUMMARY_VERSION, summarize
from mesa_bench.results import ResultsFile

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
SCORING_VERSION = f"summary-{SUMMARY_VERSION}"


@dataclass(frozen=True)
class Headline:
    """The numbers of an entry's table row (None where undefined).

    Attributes:
        score_iqm: normalized-score IQM over (family, seed) runs on ``test``.
        score_low: lower end of its 95% stratified bootstrap interval.
        score_high: upper end of that interval.
        reachability: mean over families of the fraction of seeds that reach competence.
        algorithmic_range: distinct reference algorithms matched (None: no match data).
        objective_robustness: mean OR over (family, shift, seed) where it is defined.
        seeds: the smallest number of seeds of any family.
        families: number of families.
        runs: number of (family, seed) runs.
    """

    score_iqm: float | None
    score_low: float | None
    score_high: float | None
    reachability: float | None
    algorithmic_range: int | None
    objective_robustness: float | None
    seeds: int
    families: int
    runs: int


def entry_metrics(
    results: ResultsFile,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    calibrator: Calibrator = run_calibration,
) -> dict[str, Any]:
    """Returns the JSON-ready summary of every metric (``summarize``'s shape).

    Match thresholds come from each family's calibration, rebuilt from the submission's
    configs through the family registry (``calibrator``), never from the submitted ``eps``;
    a run whose family cannot be rebuilt counts as not measured.
    """
    summary = summarize(
        results, n_resamples=n_resamples, seed=BOOTSTRAP_SEED, calibrator=calibrator
    )
    summary["scoring_version"] = SCORING_VERSION
    return summary


def headline(summary: dict[str, Any]) -> Headline:
    """Returns the table row numbers of a summary made by :func:`entry_metrics`."""
    h = summary["headline"]
    measured = summary["algorithmic_range"].get("runs_measured", 0)
    low, high = h["score_ci"]
    return Headline(
        score_iqm=h["score_iqm"],
        score_low=low,
        score_high=high,
        reachability=h["reachability"],
        algorithmic_range=h["algorithmic_range"] if measured else None,
        objective_robustness=h["objective_robustness"],
        seeds=h["min_seeds"],
        families=h["families"],
        runs=summary["n_runs"],
    )

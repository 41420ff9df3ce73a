"""Scoring: every metric of an entry recomputed from the raw per-seed numbers.

The leaderboard trusts no aggregate from a submission. The metrics come from
``mesa_bench.metrics.summary.summarize`` (the same code as ``mesa-bench report``), run on
a copy of the results whose checkpoint scores are recomputed from each checkpoint's
performance and the score-1 and floor references measured on the same ``test`` trials
(the evaluator scores every checkpoint on those trials), so a submitted ``score`` field
changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mesa_bench.metrics.score import normalized_score, references_separated
from mesa_bench.metrics.summary import SUMMARY_VERSION, summarize
from mesa_bench.results import ResultsFile, RunRecord

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


def rescored(results: ResultsFile) -> ResultsFile:
    """Returns a copy of ``results`` whose checkpoint scores are recomputed."""
    runs = [rescore_run(run) for run in results.runs]
    return results.model_copy(update={"runs": runs})


def rescore_run(run: RunRecord) -> RunRecord:
    """Returns a copy of ``run`` whose checkpoint scores are recomputed from its numbers."""
    test = run.splits["test"]
    floor = float(np.mean(test.references[run.floor_reference]))
    ref = float(np.mean(test.references[run.score_reference]))
    separated = references_separated(
        test.references[run.floor_reference], test.references[run.score_reference]
    )
    curve = []
    for point in run.curve:
        s = normalized_score(point.performance, floor, ref) if separated else float("nan")
        curve.append(point.model_copy(update={"score": s if math.isfinite(s) else None}))
    return run.model_copy(update={"curve": curve})


def entry_metrics(results: ResultsFile, n_resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """Returns the JSON-ready summary of every metric (``summarize``'s shape)."""
    summary = summarize(rescored(results), n_resamples=n_resamples, seed=BOOTSTRAP_SEED)
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

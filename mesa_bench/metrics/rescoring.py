"""Per-run numbers recomputed from a run's raw fields (scores, checkpoint curve, matches).

A results file may be edited by hand or written by older code, so nothing derived in it is
read back: a split's score comes from its per-trial performance and the references' on the
same trials, a checkpoint's score from its mean performance and the references' per-trial
performance on ``test`` (the evaluator scores every checkpoint on those trials), a matched
algorithm from the stored distances and the family's own calibration (a ``Thresholds``
handed in by the reader; the file's ``eps``, ``rule`` and ``classes`` are never read).
``summarize`` and everything drawn from
it (report, leaderboard) take their per-run numbers from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from mesa_bench.metrics.match import decision_distances, matched_algorithm
from mesa_bench.metrics.score import mean_normalized_score, split_normalized_score
from mesa_bench.results import Checkpoint, RunRecord


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


class Thresholds(Protocol):
    """A family's match calibration: the rule, the merged classes and each ``eps_A``."""

    rule: str
    classes: Mapping[str, Sequence[str]]
    eps: Mapping[str, float]


# (run, its results file's config) -> the family's calibration, None where it cannot be made
Calibrator = Callable[[RunRecord, Mapping[str, Any]], Thresholds | None]

References = tuple[list[float], list[float]]  # (floor, score-1 reference) per trial


def pooled_references(runs: list[RunRecord], split: str) -> References:
    """Returns the floor's and the score-1 reference's per-trial performance on ``split``,
    pooled over ``runs`` (the seeds of one family), trial for trial.

    Separation is decided once per (family, split) on these, and scores are normalized by
    their means: decided per seed, a split was scored for the seeds whose reference gap
    happened to be large, which biased their scores down.
    """
    floor, ref = [], []
    for run in runs:
        rec = run.splits[split]
        floor += rec.references[run.floor_reference]
        ref += rec.references[run.score_reference]
    return floor, ref


def split_score(run: RunRecord, split: str, references: References | None = None) -> float | None:
    """Returns the normalized score of a run on ``split`` (None where undefined).

    ``references``: the family's pooled ``(floor, reference)`` trials on ``split``
    (:func:`pooled_references`); by default the run's own.
    """
    rec = run.splits[split]
    floor, ref = references or (
        rec.references[run.floor_reference],
        rec.references[run.score_reference],
    )
    return _finite_or_none(split_normalized_score(rec.performance, floor, ref))


def checkpoint_scores(run: RunRecord, references: References | None = None) -> list[float | None]:
    """Returns each checkpoint's normalized score, recomputed; the stored ``score`` is ignored.

    One entry per checkpoint of ``run.curve``, from its per-trial performance where stored
    (else its mean); None where the ``test`` references do not separate. ``references`` as
    in :func:`split_score`, on ``test``.
    """
    test = run.splits["test"]
    floor, ref = references or (
        test.references[run.floor_reference],
        test.references[run.score_reference],
    )
    return [
        _finite_or_none(mean_normalized_score(_checkpoint_mean(c), floor, ref)) for c in run.curve
    ]


def _checkpoint_mean(point: Checkpoint) -> float:
    """A checkpoint's mean performance, from its trials where stored (schema 1.2)."""
    if point.trial_performance:
        return math.fsum(point.trial_performance) / len(point.trial_performance)
    return point.performance


def competence_points(
    run: RunRecord, references: References | None = None
) -> tuple[list[int], list[float | None]]:
    """Returns (budgets, scores) of a run: its checkpoints, then its final test score."""
    budgets = [c.budget for c in run.curve]
    scores = checkpoint_scores(run, references)
    if not budgets or run.budget >= budgets[-1]:
        budgets.append(run.budget)
        scores.append(split_score(run, "test", references))
    return budgets, scores


def match_points(
    run: RunRecord, thresholds: Thresholds | None, split: str = "test"
) -> tuple[list[int], list[str | None]]:
    """Returns (budgets, matched algorithm) of a run, decided from its stored distances by
    the family's calibration ``thresholds``; ``([], [])`` (not measured) where it has no
    match record or no calibration."""
    rec = run.matches.get(split)
    if rec is None or thresholds is None:
        return [], []
    classes = {k: list(v) for k, v in thresholds.classes.items() if len(v) > 1}
    return (
        [p.budget for p in rec.points],
        [
            matched_algorithm(
                decision_distances(thresholds.rule, p.distance, p.similarity),
                thresholds.eps,
                thresholds.rule,
                classes,
            )
            for p in rec.points
        ],
    )


def final_match(run: RunRecord, thresholds: Thresholds | None) -> tuple[bool, str | None]:
    """Returns (measured, matched algorithm of the final method)."""
    _, matched = match_points(run, thresholds)
    return (True, matched[-1]) if matched else (False, None)

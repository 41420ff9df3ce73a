"""Per-run numbers recomputed from a run's raw fields (scores, checkpoint curve, matches).

A results file may be edited by hand or written by older code, so nothing derived in it is
read back: a split's score comes from its per-trial performance and the references' on the
same trials, a checkpoint's score from its mean performance and the references' per-trial
performance on ``test`` (the evaluator scores every checkpoint on those trials), a matched
algorithm from the stored distances and thresholds. ``summarize`` and everything drawn from
it (report, leaderboard) take their per-run numbers from here.
"""

from __future__ import annotations

import math

from mesa_bench.metrics.match import decision_distances, matched_algorithm
from mesa_bench.metrics.score import mean_normalized_score, split_normalized_score
from mesa_bench.results import RunRecord


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def split_score(run: RunRecord, split: str) -> float | None:
    """Returns the normalized score of a run on ``split`` (None where undefined)."""
    rec = run.splits[split]
    floor, ref = rec.references[run.floor_reference], rec.references[run.score_reference]
    return _finite_or_none(split_normalized_score(rec.performance, floor, ref))


def checkpoint_scores(run: RunRecord) -> list[float | None]:
    """Returns each checkpoint's normalized score, recomputed; the stored ``score`` is ignored.

    One entry per checkpoint of ``run.curve``; None where the ``test`` references do not
    separate.
    """
    test = run.splits["test"]
    floor, ref = test.references[run.floor_reference], test.references[run.score_reference]
    return [_finite_or_none(mean_normalized_score(c.performance, floor, ref)) for c in run.curve]


def competence_points(run: RunRecord) -> tuple[list[int], list[float | None]]:
    """Returns (budgets, scores) of a run: its checkpoints, then its final test score."""
    budgets = [c.budget for c in run.curve]
    scores = checkpoint_scores(run)
    if not budgets or run.budget >= budgets[-1]:
        budgets.append(run.budget)
        scores.append(split_score(run, "test"))
    return budgets, scores


def match_points(run: RunRecord, split: str = "test") -> tuple[list[int], list[str | None]]:
    """Returns (budgets, matched algorithm) of a run, recomputed from distances and eps."""
    rec = run.matches.get(split)
    if rec is None:
        return [], []
    return (
        [p.budget for p in rec.points],
        [
            matched_algorithm(
                decision_distances(rec.rule, p.distance, p.similarity),
                rec.eps,
                rec.rule,
                rec.classes,
            )
            for p in rec.points
        ],
    )


def final_match(run: RunRecord) -> tuple[bool, str | None]:
    """Returns (measured, matched algorithm of the final method)."""
    _, matched = match_points(run)
    return (True, matched[-1]) if matched else (False, None)

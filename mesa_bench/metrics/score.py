"""Normalized score against a family's score-1 reference and floor (SPEC section 7)."""

from __future__ import annotations

import numpy as np
from scipy import stats

COMPETENCE_THRESHOLD = 0.8
# A split is normalized only where its score-1 reference beats its floor by this many
# standard errors of the paired per-trial difference. Below it the denominator is noise and
# the score can take any value or sign (icl-regression's ``noisy`` shift at 10 examples in
# context, where ridge's spike at n = d cancels its lead over the zero predictor).
SEPARATION_Z = 3.0


def normalized_score(perf: float, floor: float, reference: float) -> float:
    """Returns ``(perf - floor) / (reference - floor)``, not clipped.

    All three are mean performances on the same trials, higher is better (losses enter
    negated). Returns NaN when the references coincide, where the score is undefined.
    """
    gap = reference - floor
    if gap == 0:
        return float("nan")
    return float((perf - floor) / gap)


def references_separated(floor, reference, z: float = SEPARATION_Z) -> bool:
    """Returns True when ``reference`` beats ``floor`` clearly enough to normalize by them.

    Both hold per-trial performance on the same trials (higher is better), shape
    ``(n_trials,)``. The test is one-sided and paired: the mean of ``reference - floor``
    must exceed ``z`` standard errors (and be positive where the difference is constant).
    """
    diff = np.asarray(reference, float) - np.asarray(floor, float)
    if diff.size == 0:
        return False
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
    return mean > 0 and mean > z * se


def split_normalized_score(perf, floor, reference) -> float:
    """Returns the normalized score from per-trial arrays; NaN unless the references separate.

    The one rule every consumer (evaluator, summaries, leaderboard) applies, so a split whose
    references do not separate is reported by its raw performance everywhere.
    """
    return mean_normalized_score(float(np.mean(perf)), floor, reference)


def mean_normalized_score(perf: float, floor, reference) -> float:
    """Returns the normalized score of a mean performance; NaN unless the references separate.

    ``perf`` is a mean over the trials on which ``floor`` and ``reference`` hold per-trial
    performance, shape ``(n_trials,)``. A checkpoint stores only its mean, so this is the
    rule :func:`split_normalized_score` applies after taking the mean.
    """
    if not references_separated(floor, reference):
        return float("nan")
    return normalized_score(float(perf), float(np.mean(floor)), float(np.mean(reference)))


def normalized_score_ci(
    perf: np.ndarray,
    floor: np.ndarray,
    reference: np.ndarray,
    seed: int,
    confidence: float = 0.95,
    n_resamples: int = 2000,
) -> tuple[float, float, float]:
    """Returns (score, low, high): the normalized score of means and a bootstrap CI.

    ``perf``, ``floor`` and ``reference`` hold per-trial performance on the same trials,
    each of shape ``(n_trials,)``; trials are resampled jointly (paired), BCa interval.
    """
    perf, floor, reference = (np.asarray(a, float) for a in (perf, floor, reference))
    point = normalized_score(perf.mean(), floor.mean(), reference.mean())

    def statistic(p, f, r, axis=-1):
        return (p.mean(axis) - f.mean(axis)) / (r.mean(axis) - f.mean(axis))

    res = stats.bootstrap(
        (perf, floor, reference),
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def mean_ci(x: np.ndarray, seed: int, confidence: float = 0.95, n_resamples: int = 2000):
    """Returns (mean, low, high) with a percentile bootstrap CI; ``x`` shape ``(n,)``."""
    x = np.asarray(x, float)
    res = stats.bootstrap(
        (x,),
        np.mean,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(x.mean()), float(res.confidence_interval.low), float(res.confidence_interval.high)

"""Reachability: how often and how early the base optimizer finds an algorithm (SPEC 7).

Per seed, the budget at which a run first matched an algorithm (or first became
competent, ``s >= tau``) or ``None`` where it never did within its budget. From these
come the fraction of seeds that got there with a Wilson interval, the median
budget-to-match over the seeds that got there, and the log-budget score ``R``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from mesa_bench.metrics.score import COMPETENCE_THRESHOLD


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Returns the Wilson score interval (low, high) for ``successes`` out of ``trials``.

    With ``trials == 0`` nothing is known and the interval is (0, 1).
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def first_budget(budgets: Sequence[float], hits: Sequence[bool]) -> float | None:
    """Returns the smallest budget whose hit is True, or None where none is.

    ``budgets`` and ``hits`` have one entry per scored point of one run.
    """
    b = np.asarray(budgets, float)
    h = np.asarray(hits, bool)
    if b.shape != h.shape:
        raise ValueError(f"budgets {b.shape} and hits {h.shape} differ in shape")
    return float(b[h].min()) if h.any() else None


def competent(scores: Sequence[float | None], tau: float = COMPETENCE_THRESHOLD) -> np.ndarray:
    """Returns ``s >= tau`` per entry; a missing (None or NaN) score is not competent."""
    s = np.array([np.nan if x is None else x for x in scores], float)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(s, nan=-np.inf) >= tau


DEFAULT_CHECKPOINTS = 16  # the evaluator's log-spaced checkpoints over a budget (SPEC 6)


def log_budget_score(
    times: Sequence[float | None],
    budget: float,
    first: float,
    n_checkpoints: int = DEFAULT_CHECKPOINTS,
) -> float:
    """Returns ``R = mean_i (1 - log(t_i / b0) / log(b_never / b0))``.

    ``times`` holds each seed's budget-to-match (None: never); ``budget`` is B and
    ``first`` the first checkpoint b0; times are clipped into ``[b0, B]``. A seed that never
    got there counts as the checkpoint after B on the log grid of ``n_checkpoints`` from
    b0 to B, ``b_never = B (B / b0)^(1 / (n_checkpoints - 1))``, so it scores 0 and one
    that got there at B scores ``1 / n_checkpoints``, not the same 0. Where ``B <= b0`` (a
    run with no training, such as a reference) a seed scores 1 if it got there, 0 if not.
    """
    if not times:
        raise ValueError("log_budget_score needs at least one seed")
    if n_checkpoints < 2:
        raise ValueError(f"n_checkpoints must be at least 2, got {n_checkpoints}")
    b0 = max(float(first), 1.0)
    if budget <= b0:
        return float(np.mean([t is not None for t in times]))
    never = budget * (budget / b0) ** (1.0 / (n_checkpoints - 1))
    t = np.array([never if x is None else min(max(x, b0), budget) for x in times], float)
    return float(np.mean(1.0 - np.log(t / b0) / np.log(never / b0)))


def reachability(
    times: Sequence[float | None],
    budget: float,
    first: float,
    confidence: float = 0.95,
    n_checkpoints: int = DEFAULT_CHECKPOINTS,
) -> dict:
    """Returns the reachability of one algorithm (or of competence) over seeds.

    ``times`` holds each seed's first budget at which it got there (None: never).
    Returns a JSON-ready dict: ``p`` (fraction of seeds), ``ci`` (Wilson interval),
    ``reached`` and ``seeds`` (counts), ``median_budget`` (over seeds that got there,
    None if none did) and ``R`` (log-budget score over ``n_checkpoints``).
    """
    reached = [t for t in times if t is not None]
    low, high = wilson_interval(len(reached), len(times), confidence)
    return {
        "p": len(reached) / len(times),
        "ci": [low, high],
        "reached": len(reached),
        "seeds": len(times),
        "median_budget": float(np.median(reached)) if reached else None,
        "R": log_budget_score(times, budget, first, n_checkpoints),
    }


def reached_fraction(times: Sequence[float | None], budgets: Sequence[float]) -> list[float]:
    """Returns, per budget, the fraction of seeds that got there at or before it.

    ``times`` holds each seed's first budget (None: never); ``budgets`` the budgets at which
    the curve is read, one output per budget. Read at every budget where some seed was
    scored, this is the whole step curve of reachability over budget.
    """
    if not times:
        raise ValueError("reached_fraction needs at least one seed")
    t = np.array([np.inf if x is None else x for x in times], float)
    b = np.asarray(budgets, float)
    return (t[None, :] <= b[:, None]).mean(axis=1).tolist()

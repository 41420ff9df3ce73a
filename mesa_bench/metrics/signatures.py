"""Learned-optimization signatures: does performance improve within a trial (SPEC 7)?"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

ERROR_KEY = re.compile(r"^error@(\d+)$")
RETURN_KEY = re.compile(r"^(?:episode_)?return@(\d+)$")


def in_context_gain(first: np.ndarray, last: np.ndarray, scale: float) -> float | None:
    """Returns ``(mean(last) - mean(first)) / scale``: the gain from first to last episode.

    ``first`` and ``last`` hold each trial's return in its first and last episode, shape
    ``(n,)``; ``scale`` normalizes (e.g. the score-1 reference's mean episode return).
    None where ``scale`` is 0.
    """
    first, last = np.asarray(first, float), np.asarray(last, float)
    if first.shape != last.shape or first.size == 0:
        raise ValueError(f"first {first.shape} and last {last.shape} must be equal, non-empty")
    if scale == 0:
        return None
    return float((last.mean() - first.mean()) / scale)


def error_drop(errors: np.ndarray, start: int = 1) -> float | None:
    """Returns the relative drop of the mean error from position ``start`` to the last.

    ``errors`` is ``(n_trials, n_positions)``; the result is
    ``(E[e_start] - E[e_last]) / E[e_start]`` (1: error gone, 0: no in-context learning),
    None where the error at ``start`` is 0.
    """
    e = np.asarray(errors, float)
    if e.ndim != 2 or e.shape[1] <= start:
        raise ValueError(f"errors must be (n_trials, > {start} positions), got {e.shape}")
    at_start = e[:, start].mean()
    return None if at_start == 0 else float((at_start - e[:, -1].mean()) / at_start)


def competence_retained(score_shift: float | None, score_test: float | None) -> float | None:
    """Returns ``score_shift / score_test`` (None where either is missing or test is 0)."""
    if score_shift is None or not score_test:
        return None
    return score_shift / score_test


def pooled_ratio(numerator: np.ndarray, denominator: np.ndarray) -> float | None:
    """Returns ``sum(numerator) / sum(denominator)`` over trials (None where that sum is 0).

    Pooled, not a mean of per-trial ratios, so a trial that opened no chest does not divide
    by zero or weigh as much as one that opened several.
    """
    num, den = np.asarray(numerator, float), np.asarray(denominator, float)
    if num.shape != den.shape:
        raise ValueError(f"numerator {num.shape} and denominator {den.shape} must be equal")
    total = den.sum()
    return None if total == 0 else float(num.sum() / total)


def thinking_gain(success_with: np.ndarray, success_without: np.ndarray) -> float:
    """Returns the change in success rate when given extra no-op thinking steps, ``(n,)``."""
    return float(np.mean(success_with) - np.mean(success_without))


def positions(extras: Mapping[str, object], pattern: re.Pattern) -> list[tuple[int, str]]:
    """Returns the (index, key) pairs of ``extras`` keys matching ``pattern``, by index."""
    found = [(int(m.group(1)), k) for k in extras if (m := pattern.match(k))]
    return sorted(found)

"""Aggregates over runs and tasks, with stratified bootstrap intervals (rliable style).

Scores come either as a ``(num_runs, num_tasks)`` matrix (every task has the same number
of runs) or as a sequence of 1-D arrays, one per task, whose lengths may differ. A point
estimate is a statistic of all scores pooled; its interval comes from one bootstrap that
resamples the runs of each task on their own (Agarwal et al. 2021), computed with
``scipy.stats.bootstrap`` and an explicit seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

Scores = np.ndarray | Sequence[np.ndarray] | Sequence[Sequence[float]]
Statistic = Callable[..., np.ndarray | float]

DEFAULT_RESAMPLES = 2000
IQM_TRIM = 0.25


def iqm(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Returns the interquartile mean: the mean of the middle 50% of ``x``.

    ``x`` is any array; with ``axis=None`` it is pooled into one sample. Equal to
    ``scipy.stats.trim_mean(x, 0.25)``.
    """
    x = np.asarray(x, float)
    if axis is None:
        return float(stats.trim_mean(x.ravel(), IQM_TRIM))
    return stats.trim_mean(x, IQM_TRIM, axis=axis)


def percentile20(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Returns the 20th percentile of ``x`` (the worst-case view; linear interpolation)."""
    out = np.percentile(np.asarray(x, float), 20, axis=axis)
    return float(out) if axis is None else out


def mean(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Returns the mean of ``x`` (pooled when ``axis`` is None)."""
    out = np.mean(np.asarray(x, float), axis=axis)
    return float(out) if axis is None else out


def median(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Returns the median of ``x`` (pooled when ``axis`` is None)."""
    out = np.median(np.asarray(x, float), axis=axis)
    return float(out) if axis is None else out


def task_samples(scores: Scores) -> list[np.ndarray]:
    """Returns one finite 1-D float array per task from a matrix or a list of arrays.

    A ``(num_runs, num_tasks)`` matrix gives its columns. Raises ValueError on a task with
    no runs or on non-finite scores, naming the task's index.
    """
    if isinstance(scores, np.ndarray):
        if scores.ndim != 2:
            raise ValueError(f"scores must be (num_runs, num_tasks), got shape {scores.shape}")
        columns = [scores[:, j] for j in range(scores.shape[1])]
    else:
        columns = list(scores)
    if not columns:
        raise ValueError("scores hold no tasks")
    out = []
    for j, col in enumerate(columns):
        col = np.asarray(col, float).ravel()
        if col.size == 0:
            raise ValueError(f"task {j} has no runs")
        if not np.all(np.isfinite(col)):
            raise ValueError(f"task {j} holds a non-finite score")
        out.append(col)
    return out


def pooled(scores: Scores) -> np.ndarray:
    """Returns all scores of all tasks as one 1-D array."""
    return np.concatenate(task_samples(scores))


def stratified_bootstrap_ci(
    scores: Scores,
    statistic: Statistic = iqm,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Returns the (low, high) percentile bootstrap interval of ``statistic``.

    Each task's runs are resampled with replacement on their own (stratified bootstrap),
    then ``statistic(pooled, axis=-1)`` is taken over the pooled resample. ``statistic``
    must accept an ``axis`` keyword (``iqm``, ``mean``, ``percentile20`` do). A task with
    a single run cannot be resampled and enters every resample unchanged. Where no task
    has two runs the interval collapses to the point estimate. Reproducible: the same
    ``seed`` gives the same interval.
    """
    tasks = task_samples(scores)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    varying = [t for t in tasks if t.size >= 2]
    fixed = np.concatenate([t for t in tasks if t.size < 2] or [np.empty(0)])
    if not varying:
        point = float(statistic(fixed, axis=-1))
        return point, point

    def pooled_statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        batch = samples[0].shape[:-1]
        parts = [np.broadcast_to(fixed, (*batch, fixed.size)), *samples]
        return statistic(np.concatenate(parts, axis=-1), axis=-1)

    res = stats.bootstrap(
        tuple(varying),
        pooled_statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def small_sample_ci(
    scores: Scores,
    statistic: Statistic = iqm,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float | None, float | None]:
    """Returns a (low, high) interval of ``statistic`` that covers with few runs per task.

    The percentile bootstrap of 3 runs is about [min, max], which holds the truth only
    3 times in 4. Here the stratified bootstrap gives the statistic's standard error,
    corrected for the bootstrap's ``(n - 1) / n`` shrinkage, and the interval is
    ``point -+ t * se`` with Student's t on ``sum(n_k - 1)`` degrees of freedom: for one
    task and the mean, exactly the t interval. (None, None) where no task has 2 runs: one
    seed gives no interval. Tasks of a single run enter every resample unchanged.
    """
    tasks = task_samples(scores)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    varying = [t for t in tasks if t.size >= 2]
    if not varying:
        return None, None
    fixed = np.concatenate([t for t in tasks if t.size < 2] or [np.empty(0)])
    rng = np.random.default_rng(seed)
    parts = [np.broadcast_to(fixed, (n_resamples, fixed.size))]
    parts += [t[rng.integers(0, t.size, (n_resamples, t.size))] for t in varying]
    draws = np.asarray(statistic(np.concatenate(parts, axis=-1), axis=-1), float)
    sizes = np.array([t.size for t in varying], float)
    shrinkage = sizes.mean() / (sizes.mean() - 1)
    se = float(np.std(draws, ddof=1)) * np.sqrt(shrinkage)
    q = float(stats.t.ppf(0.5 + confidence / 2, int((sizes - 1).sum())))
    point = float(statistic(pooled(tasks), axis=-1))
    return point - q * se, point + q * se


def estimate_with_ci(
    scores: Scores,
    statistic: Statistic = iqm,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Returns (point, low, high): ``statistic`` of the pooled scores and its interval."""
    point = float(statistic(pooled(scores), axis=-1))
    low, high = stratified_bootstrap_ci(
        scores, statistic, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    return point, low, high


def performance_profile(scores: Scores, thresholds: np.ndarray) -> np.ndarray:
    """Returns the fraction of runs scoring above each threshold, averaged over tasks.

    The run-score distribution of rliable: for each task the fraction of its runs with
    score ``> tau``, then the mean over tasks (so a task with more runs weighs no more).
    ``thresholds`` has shape ``(m,)``; the result too.
    """
    taus = np.asarray(thresholds, float).ravel()
    per_task = [(t[None, :] > taus[:, None]).mean(axis=1) for t in task_samples(scores)]
    return np.mean(per_task, axis=0)

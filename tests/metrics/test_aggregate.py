import numpy as np
import pytest
from scipy import stats

from mesa_bench.metrics.aggregate import (
    estimate_with_ci,
    iqm,
    percentile20,
    performance_profile,
    stratified_bootstrap_ci,
    task_samples,
)


def test_iqm_is_the_mean_of_the_middle_half():
    # 8 values: trimming a quarter drops the 2 lowest and 2 highest
    x = np.array([100.0, -50.0, 1.0, 2.0, 3.0, 4.0, 7.0, 9.0])
    assert iqm(x) == pytest.approx((2 + 3 + 4 + 7) / 4)
    assert iqm(x) == pytest.approx(stats.trim_mean(x, 0.25))


def test_iqm_pools_a_runs_by_tasks_matrix():
    m = np.arange(12.0).reshape(4, 3)
    assert iqm(m) == pytest.approx(np.mean(np.arange(3.0, 9.0)))
    assert np.allclose(iqm(m, axis=0), stats.trim_mean(m, 0.25, axis=0))


def test_percentile20_interpolates_linearly():
    assert percentile20(np.arange(6.0)) == pytest.approx(1.0)
    assert percentile20(np.array([0.0, 10.0])) == pytest.approx(2.0)


def test_stratified_bootstrap_matches_a_direct_computation():
    scores = np.array([[0.1, 1.0], [0.5, 1.2], [0.9, 0.8], [0.3, 1.1]])
    low, high = stratified_bootstrap_ci(scores, iqm, n_resamples=500, seed=3)
    # the same resampling written out: each task's runs drawn on their own
    res = stats.bootstrap(
        (scores[:, 0], scores[:, 1]),
        lambda a, b, axis: stats.trim_mean(np.concatenate([a, b], axis=-1), 0.25, axis=-1),
        n_resamples=500,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(3),
    )
    assert low == pytest.approx(res.confidence_interval.low)
    assert high == pytest.approx(res.confidence_interval.high)
    assert low <= iqm(scores) <= high


def test_bootstrap_is_reproducible_with_its_seed_and_varies_without():
    scores = [np.array([0.0, 0.2, 0.4, 0.9]), np.array([1.0, 1.5, 0.5])]
    a = stratified_bootstrap_ci(scores, n_resamples=300, seed=7)
    assert a == stratified_bootstrap_ci(scores, n_resamples=300, seed=7)
    assert a != stratified_bootstrap_ci(scores, n_resamples=300, seed=8)


def test_bootstrap_keeps_tasks_apart():
    # task 0 is always 0 and task 1 always 1: a stratified resample keeps half of each,
    # so the mean is exactly 0.5 in every resample (pooled resampling would vary)
    scores = np.array([[0.0, 1.0]] * 6)
    low, high = stratified_bootstrap_ci(scores, lambda x, axis: np.mean(x, axis=axis), seed=0)
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)


def test_single_run_tasks_enter_every_resample_unchanged():
    point, low, high = estimate_with_ci([np.array([2.0]), np.array([4.0])], seed=0)
    assert (point, low, high) == (3.0, 3.0, 3.0)
    _, low, high = estimate_with_ci([np.array([10.0]), np.array([0.0, 1.0])], seed=0)
    assert low <= high and low >= 0.0


def test_bad_scores_are_named():
    with pytest.raises(ValueError, match="task 1 holds a non-finite"):
        task_samples([np.array([1.0]), np.array([np.nan])])
    with pytest.raises(ValueError, match="num_runs, num_tasks"):
        task_samples(np.zeros(3))


def test_performance_profile_weighs_tasks_equally():
    scores = [np.array([0.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0])]
    frac = performance_profile(scores, np.array([-1.0, 0.5, 1.0]))
    assert frac.tolist() == [1.0, pytest.approx(0.75), 0.0]

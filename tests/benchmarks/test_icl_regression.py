"""Known answers of in-context regression (d = 5, sigma = 0.1), asserted with CIs."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch
from scipy import stats

from benchmarks.icl_regression import ICLRegression, ICLRegressionConfig
from mesa_bench import seeding
from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.protocol.sequence import check_causal
from mesa_bench.results import read_results
from mesa_bench.seeding import torch_generator

N = 1000
D = 5
SIGMA2 = 0.01


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small batched linear algebra runs ~10x faster on one thread on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def errors(fam, ref, split="test", n=N) -> np.ndarray:
    """Returns per-trial squared errors of shape ``(n, positions)``."""
    out = run_split(fam, reference_factory(fam, ref), split, n, run_seed=0)
    return np.stack([out.extras[f"error@{i}"] for i in range(len(out.extras))], axis=1)


@pytest.fixture(scope="module")
def linear():
    fam = ICLRegression()
    return {ref: errors(fam, ref) for ref in ("ridge", "ols", "zero")}


def low(diff: np.ndarray) -> float:
    """Lower end of the 95% CI of the mean of paired differences (same prompts)."""
    res = stats.bootstrap((diff,), np.mean, n_resamples=2000, rng=np.random.default_rng(0))
    return res.confidence_interval.low


def test_ridge_beats_ols_beats_zero_past_n_equals_d(linear):
    past = slice(D + 1, None)
    ridge, ols, zero = (linear[r][:, past].mean(1) for r in ("ridge", "ols", "zero"))
    assert low(ols - ridge) > 0
    assert low(zero - ols) > 0


def test_ridge_is_never_worse_than_ols_and_clearly_better_at_n_equals_d(linear):
    gap = linear["ols"] - linear["ridge"]
    # at no position is ridge worse beyond sampling error (3 standard errors, paired)
    assert (gap.mean(0) + 3 * gap.std(0) / np.sqrt(N) >= 0).all()
    assert low(gap[:, D]) > 1.0  # least squares interpolates the noise at n = d
    # no examples: ridge and the zero predictor coincide, which is why position 0 is apart
    assert np.array_equal(linear["ridge"][:, 0], linear["zero"][:, 0])


def test_ridge_error_approaches_the_noise_floor():
    err = errors(ICLRegression(), "ridge", "long-context")[:, 60:].mean()
    # sigma^2 (1 + d / n) for n in 60..80: within 10% above sigma^2
    assert SIGMA2 < err < 1.1 * SIGMA2


def test_gd_error_falls_with_the_number_of_steps():
    short = {"n_context": 10, "long_context": 10}  # tuning and scoring stay fast
    perf = {
        k: errors(ICLRegression(ICLRegressionConfig(gd_steps=k, **short)), "gd-k", n=500)
        for k in (1, 3, 10)
    }
    # past n = d, where more steps approach least squares; below it a fixed step of
    # 10-step GD diverges on rare prompts (heavy-tailed curvature), see the README
    past = slice(D + 1, None)
    perf = {k: v[:, past].mean(1) for k, v in perf.items()}
    assert low(perf[1] - perf[3]) > 0 and low(perf[3] - perf[10]) > 0
    ridge = errors(ICLRegression(ICLRegressionConfig(**short)), "ridge", n=500)[:, past].mean(1)
    assert low(perf[10] - ridge) > 0  # ten steps from zero still fall short of ridge


def test_lasso_beats_ridge_on_sparse_weights_around_n_equals_d():
    # one non-zero weight of five: the l1 prior fits, the Gaussian one does not
    cfg = ICLRegressionConfig(function_class="sparse-linear", sparsity=1)
    fam = ICLRegression(dataclasses.replace(cfg, n_context=8, long_context=8))
    near_d = slice(3, 8)
    lasso, ridge = (errors(fam, r, n=500)[:, near_d].mean(1) for r in ("lasso", "ridge"))
    assert low(ridge - lasso) > 0


def test_references_are_causal_and_deterministic():
    fam = ICLRegression(ICLRegressionConfig(n_context=12, long_context=12))
    batch = fam.sample_batch(3, 64, "test")
    for name in fam.spec.references:
        ref = fam.make_reference(name, np.random.default_rng(0))
        check_causal(ref, batch, torch_generator(4))
        assert torch.equal(ref.predict(batch), ref.predict(batch))


def test_same_seed_same_prompts_and_train_test_disjoint():
    fam = ICLRegression()
    a = fam.sample_batch(seeding.stream(0, "x"), 8, "train")
    b = fam.sample_batch(seeding.stream(0, "x"), 8, "train")
    assert torch.equal(a.xs, b.xs) and torch.equal(a.ys, b.ys)
    train = fam.sample_tasks(seeding.task_stream(0, 0, "train"), 64, "train")
    test = fam.sample_tasks(seeding.task_stream(0, 0, "test"), 64, "test")
    shared = (train.weights[:, None] == test.weights[None]).all(-1)
    assert not shared.any()


def test_shifts_change_what_they_name():
    fam = ICLRegression()
    base = fam.sample_batch(1, 256, "test")
    assert base.xs.shape == (256, 41, D)
    assert fam.sample_batch(1, 256, "long-context").xs.shape == (256, 81, D)
    assert fam.sample_batch(1, 256, "x-scale").xs.std() == pytest.approx(3.0, rel=0.05)
    other = fam.sample_tasks(1, 100, "other-class")
    assert other.function_class == "sparse-linear" and ((other.weights != 0).sum(1) == 3).all()
    relu = ICLRegression(ICLRegressionConfig(other_class="relu-net"))
    assert relu.sample_tasks(1, 4, "other-class").hidden.shape == (4, 16, D)
    noisy = errors(fam, "ridge", "noisy", n=300)[:, 60 // 2 :].mean()
    assert 0.9 < noisy < 1.5  # the noise floor is now sigma^2 = 1
    sparse = ICLRegression(ICLRegressionConfig(function_class="sparse-linear"))
    assert ((sparse.sample_tasks(0, 100, "train").weights != 0).sum(1) == 3).all()


def test_diversity_draws_from_a_finite_pool():
    narrow = ICLRegression(ICLRegressionConfig(diversity=0.0))
    w = narrow.sample_tasks(0, 50, "train").weights
    assert (w == w[0]).all()
    assert torch.equal(narrow.sample_tasks(1, 5, "test").weights[0], w[0])
    pooled = ICLRegression(ICLRegressionConfig(diversity=0.5))  # 2^7 functions
    assert len(torch.unique(pooled.sample_tasks(0, 4000, "train").weights, dim=0)) == 128
    assert len(torch.unique(pooled.sample_tasks(0, 500, "other-class").weights, dim=0)) == 500


def test_bad_config_is_refused_with_the_field_named():
    with pytest.raises(ValueError, match="function_class must be one of"):
        ICLRegression(ICLRegressionConfig(function_class="cubic"))
    with pytest.raises(ValueError, match="sparsity"):
        ICLRegression(ICLRegressionConfig(sparsity=9))
    with pytest.raises(KeyError, match="no reference 'ridg'"):
        ICLRegression().make_reference("ridg", np.random.default_rng(0))


def test_tuned_steps_are_deterministic_and_per_position():
    fam = ICLRegression()
    steps = fam.tuned("gd-k")
    assert steps.shape == (81,)  # long enough for the long-context shift
    assert torch.equal(steps, ICLRegression(dataclasses.replace(fam.config)).tuned("gd-k"))
    assert steps[40] > steps[1]  # more examples, a more reliable gradient, a longer step


def test_evaluate_command_runs_end_to_end(tmp_path):
    exe = shutil.which("mesa-bench") or "mesa-bench"  # PATH: see conftest.py
    args = ["evaluate", "task=icl-regression", "method=reference/ridge", "n_eval=64"]
    args += [f"out={tmp_path}", "tracking.mode=disabled"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "none" / "reference" / "ridge" / "icl-regression" / "seed0" / "results.json"
    run = read_results(path).runs[0]
    assert run.family == "icl-regression-v1" and not run.higher_is_better
    test = run.splits["test"]
    assert set(run.splits) == {"test", "x-scale", "noisy", "long-context", "other-class"}
    assert test.performance == test.references["ridge"]
    assert np.mean(test.performance) > np.mean(test.references["zero"])  # losses negated
    assert len(test.extras) == 41 and len(run.splits["long-context"].extras) == 81


def test_noisy_shift_at_ten_examples_is_reported_unnormalized():
    """With 10 examples ridge's spike at n = d cancels its lead over zero under sigma = 1."""
    from mesa_bench.evaluation.evaluator import Evaluator

    fam = ICLRegression(ICLRegressionConfig(n_context=10))
    ev = Evaluator(fam, seed=0, budget=1, n_eval=512, match_trials=0)

    def ridge(split):  # signed like the evaluator's: losses enter negated
        return -np.asarray(
            run_split(fam, reference_factory(fam, "ridge"), split, 512, 0).performance
        )

    assert np.isnan(ev.score("noisy", ridge("noisy")))  # not a score of 1 made of noise
    assert ev.score("test", ridge("test")) == pytest.approx(1.0)


def test_dimension_curriculum_zeroes_inputs_after_the_same_draws():
    fam = ICLRegression(ICLRegressionConfig(n_context=10, noise=0.0))

    def seed():  # spawning advances a SeedSequence, so each draw gets a fresh one
        return seeding.stream(0, "dims")

    full = fam.sample_batch(seed(), 64, "train")
    cut = fam.sample_batch(seed(), 64, "train", dims=2)
    assert torch.equal(cut.xs[..., :2], full.xs[..., :2]) and not cut.xs[..., 2:].any()
    tasks = fam.sample_tasks(seed().spawn(2)[0], 64, "train")  # noise 0: y = w . x exactly
    torch.testing.assert_close(cut.ys, torch.einsum("bnd,bd->bn", cut.xs, tasks.weights))
    with pytest.raises(ValueError, match=r"dims must be in 1\.\.5"):
        fam.sample_batch(seed(), 4, "train", dims=6)

    class NoDims(ICLRegression):
        supports_dims = False

    with pytest.raises(ValueError, match="no curriculum on the input dimension"):
        NoDims().sample_batch(seed(), 4, "train", dims=2)

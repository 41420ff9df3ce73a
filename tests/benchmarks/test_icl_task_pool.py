"""A finite pool of train tasks (``n_tasks``) and its Bayes-optimal ``dmmse`` reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from benchmarks.icl_regression import ICLRegression, ICLRegressionConfig
from mesa_bench import seeding
from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.metrics.match import prediction_distance
from mesa_bench.protocol.sequence import check_causal
from mesa_bench.seeding import torch_generator

SIGMA2 = 0.01


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def errors(fam, ref, split, n=300) -> np.ndarray:
    """Returns the mean squared error per position over ``n`` prompts."""
    out = run_split(fam, reference_factory(fam, ref), split, n, run_seed=0)
    return np.array([np.mean(out.extras[f"error@{i}"]) for i in range(len(out.extras))])


def predict(fam, ref, batch) -> np.ndarray:
    return fam.make_reference(ref, np.random.default_rng(0)).predict(batch).numpy()


def test_default_draws_are_those_before_the_pool_existed():
    """First train and test weights of run seed 0, written down from the code before n_tasks."""
    fam = ICLRegression()
    assert fam.config.n_tasks == 0 and fam.spec is ICLRegression.spec
    before = {
        "train": [0.952131, -1.188755, -1.209867, -1.331864, 0.004985],
        "test": [-0.230539, -0.737342, -1.866834, -0.301039, -0.014641],
    }
    for split, weights in before.items():
        drawn = fam.sample_tasks(seeding.task_stream(0, 0, split), 2, split).weights[0]
        assert drawn.tolist() == pytest.approx(weights, abs=1e-6)
    batch = fam.sample_batch(seeding.stream(0, "draws"), 2, "train")
    assert float(batch.ys.sum()) == pytest.approx(9.380486, abs=1e-5)


def test_train_prompts_draw_from_the_pool_and_every_other_split_from_the_prior():
    fam = ICLRegression(ICLRegressionConfig(n_tasks=8))
    pool = fam.pool().weights
    assert pool.shape == (8, 5)
    train = fam.sample_tasks(seeding.task_stream(0, 0, "train"), 2000, "train").weights
    assert torch.equal(torch.unique(train, dim=0), torch.unique(pool, dim=0))
    for split in fam.spec.splits[1:]:
        fresh = fam.sample_tasks(seeding.task_stream(0, 0, split), 200, split).weights
        in_pool = (fresh[:, None] == pool[None]).all(-1).any(1)
        assert not in_pool.any(), split
    # the pool comes from pool_seed alone, so a run's references see the pool it trained on
    again = ICLRegression(ICLRegressionConfig(n_tasks=8)).pool().weights
    assert torch.equal(again, pool)
    other = ICLRegression(ICLRegressionConfig(n_tasks=8, pool_seed=1)).pool().weights
    assert not torch.equal(other, pool)


def test_dmmse_is_offered_only_with_a_finite_pool():
    assert "dmmse" not in ICLRegression().spec.references
    assert "dmmse" not in ICLRegression.spec.references  # the class spec is left alone
    with pytest.raises(KeyError, match="only with a finite train pool"):
        ICLRegression().make_reference("dmmse", np.random.default_rng(0))
    assert ICLRegression(ICLRegressionConfig(n_tasks=4)).spec.references[-1] == "dmmse"
    assert "dmmse" in ICLRegression(ICLRegressionConfig(diversity=0.5)).spec.references


def test_bad_pool_settings_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="n_tasks must be >= 0"):
        ICLRegression(ICLRegressionConfig(n_tasks=-1))
    with pytest.raises(ValueError, match="not both"):
        ICLRegression(ICLRegressionConfig(n_tasks=4, diversity=0.5))


def test_dmmse_is_causal_and_deterministic():
    fam = ICLRegression(ICLRegressionConfig(n_tasks=64, n_context=12, long_context=12))
    batch = fam.sample_batch(3, 32, "train")
    ref = fam.make_reference("dmmse", np.random.default_rng(0))
    check_causal(ref, batch, torch_generator(4))
    assert torch.equal(ref.predict(batch), ref.predict(batch))


def test_one_task_is_predicted_with_its_vector_from_the_first_query_on():
    fam = ICLRegression(ICLRegressionConfig(n_tasks=1))
    w = fam.pool().weights[0].double()
    for split in ("train", "test"):
        batch = fam.sample_batch(0, 16, split)
        expected = (batch.xs.double() @ w).numpy()
        np.testing.assert_allclose(predict(fam, "dmmse", batch), expected, rtol=1e-12)


def test_dmmse_is_the_posterior_mean_brute_forced_on_a_tiny_case():
    fam = ICLRegression(ICLRegressionConfig(n_tasks=3, dim=2, sparsity=1, n_context=4, noise=0.5))
    w = fam.pool().weights.double().numpy()
    batch = fam.sample_batch(7, 5, "test")
    xs, ys = batch.xs.double().numpy(), batch.ys.double().numpy()
    got = predict(fam, "dmmse", batch)
    for b in range(len(ys)):
        for i in range(ys.shape[1]):
            # prior 1/3 each; likelihood a product of Gaussian densities of the earlier pairs
            like = np.array([np.prod(stats.norm.pdf(ys[b, :i], xs[b, :i] @ wk, 0.5)) for wk in w])
            post = like / like.sum()
            assert got[b, i] == pytest.approx(post @ (w @ xs[b, i]), rel=1e-9, abs=1e-12)


def test_on_pool_prompts_the_error_falls_to_the_noise_floor_quickly():
    """With 2^10 pool vectors in d = 5, a few pairs single out the prompt's vector."""
    fam = ICLRegression(ICLRegressionConfig(n_tasks=2**10))
    dmmse, ridge = errors(fam, "dmmse", "train"), errors(fam, "ridge", "train")
    assert dmmse[8:].max() < 1.5 * SIGMA2  # ridge's own floor sigma^2 (1 + d / n) is higher
    assert dmmse[5] < SIGMA2 * 2 < 0.1 < ridge[5]  # at n = d ridge is far from it


def test_many_tasks_and_long_contexts_approach_ridge_on_the_prior():
    """d = 2: 2^14 vectors tile the prior finer than 40 pairs resolve, 2^2 do not."""

    def gap(m: int) -> float:
        fam = ICLRegression(ICLRegressionConfig(n_tasks=m, dim=2, sparsity=1))
        batch = fam.sample_batch(5, 64, "test")
        late = slice(10, None)
        return prediction_distance(
            predict(fam, "dmmse", batch)[:, late], predict(fam, "ridge", batch)[:, late]
        )

    far, near = gap(2**2), gap(2**14)
    assert near < 0.01 < 0.1 < far


def test_dmmse_beats_ridge_on_the_pool_and_ridge_beats_dmmse_on_the_prior():
    fam = ICLRegression(ICLRegressionConfig(n_tasks=16))
    assert errors(fam, "dmmse", "train")[1:].mean() < errors(fam, "ridge", "train")[1:].mean()
    assert errors(fam, "ridge", "test")[1:].mean() < errors(fam, "dmmse", "test")[1:].mean()


def test_dmmse_chunks_give_the_unchunked_answer():
    fam = ICLRegression(ICLRegressionConfig(n_tasks=50, function_class="relu-net"))
    batch = fam.sample_batch(2, 12, "train")
    ref = fam.make_reference("dmmse", np.random.default_rng(0))
    whole = ref.predict(batch)
    ref.cells = 1  # one prompt per chunk
    torch.testing.assert_close(ref.predict(batch), whole, rtol=1e-12, atol=1e-12)
    one = ICLRegression(ICLRegressionConfig(n_tasks=1, function_class="relu-net"))
    batch = one.sample_batch(2, 4, "train")
    expected = one.pool().take(torch.zeros(4, dtype=torch.long))(batch.xs)
    got = predict(one, "dmmse", batch)  # float64 inside, the task in float32
    np.testing.assert_allclose(got, expected.double().numpy(), rtol=1e-5, atol=1e-6)

"""maml and meta-sgd: with a linear model the inner loop is the family's gd-k (exactly when
untrained, within sampling error when trained), predictions are causal, tiny runs write
valid records, same seed same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from record_numbers import numbers

from baselines.maml import MAML, AdaptingPredictor, MAMLConfig, MetaSGD, MetaSGDConfig
from benchmarks.icl_regression.config import ICLRegressionConfig
from benchmarks.icl_regression.references import GradientDescent
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.trials import run_split
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.protocol.sequence import check_causal
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs
from mesa_bench.seeding import torch_generator

ENTRIES = {"maml": (MAML, MAMLConfig), "meta-sgd": (MetaSGD, MetaSGDConfig)}


def family(n_context: int = 10):
    return FAMILIES.get("icl-regression")(ICLRegressionConfig(n_context=n_context))


def tiny(name: str = "maml", **changes):
    base = dict(name=name, batch=16, save_every=4, log_every=1)
    return ENTRIES[name][1](**{**base, **changes})


def train(tmp_path, cfg, budget: int, seed: int = 0, fam=None, n_eval: int = 32):
    fam = fam or family()
    evaluator = Evaluator(fam, seed, budget, n_eval=n_eval, splits=["test"], match_trials=0)
    entry = ENTRIES[cfg.name][0](cfg.name, cfg)
    trained = entry.train(fam, evaluator, budget, seed, TrainContext(run_dir=tmp_path))
    record = evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)
    return record, trained


def untrained(name: str, k: int, lr: float) -> AdaptingPredictor:
    import learn2learn as l2l

    from baselines.maml import RegressionModel

    algorithm = getattr(l2l.algorithms, ENTRIES[name][0].l2l_class)
    meta = algorithm(RegressionModel(5, 0, False), lr=lr)
    return AdaptingPredictor(name, meta, k, torch.device("cpu"))


@pytest.mark.parametrize("name", ["maml", "meta-sgd"])
@pytest.mark.parametrize("k", [1, 3])
def test_untrained_linear_learner_is_gradient_descent_from_zero(name, k):
    # w = 0 and a fixed step: the inner loop is the gd-k reference's loop, step for step
    batch = family().sample_batch(0, 64, "test")
    ref = GradientDescent(k, torch.full((11,), 0.4, dtype=torch.float64))
    expected = ref.predict(batch)
    got = untrained(name, k, 0.4).predict(batch)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)


def test_predictions_read_no_later_targets():
    batch = family().sample_batch(1, 32, "test")
    check_causal(untrained("maml", 2, 0.3), batch, torch_generator(0))


def test_trained_maml_matches_gd_k_with_the_same_step_within_sampling_error(tmp_path):
    # the acceptance check at small scale: MAML's meta-learning can only move the
    # initialization (which w ~ N(0, I) keeps at 0), so trained MAML is gd-k
    fam = family()
    cfg = tiny(inner_steps=2, inner_lr=0.3, batch=32)
    record, trained = train(tmp_path, cfg, 32 * 40, fam=fam, n_eval=512)
    maml = -np.asarray(record.splits["test"].performance)  # signed back to errors

    def gd(step: float) -> np.ndarray:
        steps = torch.full((11,), step, dtype=torch.float64)
        return run_split(fam, lambda rng: GradientDescent(2, steps), "test", 512, 0).performance

    ref = gd(0.3)
    sampling_error = ref.std() / np.sqrt(len(ref))
    assert abs(maml.mean() - ref.mean()) < 2 * sampling_error
    # the check has power: gd-k with another step is told apart
    assert abs(maml.mean() - gd(0.5).mean()) > 2 * sampling_error
    # and the meta-parameters stayed near the prior mean they started at
    assert trained.make_method(None).meta.module.w.abs().max() < 0.1


def test_meta_sgd_learns_its_steps(tmp_path):
    # a step of 0.05 is far too short for one step from 0; Meta-SGD lengthens it
    cfg = tiny("meta-sgd", inner_lr=0.05, lr=1e-2)
    record, trained = train(tmp_path, cfg, 16 * 60)
    steps = trained.make_method(None).meta.lrs[0]
    assert steps.shape == (5,) and (steps > 0.2).all()
    assert record.curve[-1].performance > record.curve[0].performance  # losses, negated


@pytest.mark.parametrize("name", ["maml", "meta-sgd"])
def test_tiny_run_writes_a_valid_record(name, run_config):
    cfg = run_config(task="icl-regression", method=name, budget=64, n_eval=8)
    cfg.method = tiny(name, hidden=8)
    cfg.splits = ["test", "long-context"]
    result = jobs.run(cfg)
    record = read_results(result.results_path).runs[0]
    assert record.family == FAMILIES.get("icl-regression").spec.id and record.budget == 64
    assert set(record.splits) == {"test", "long-context"}
    weights = 8 * 5 + 8 + 8  # w1, b1, w
    assert record.parameter_count == weights * (2 if name == "meta-sgd" else 1)


def test_same_seed_gives_the_same_numbers(tmp_path):
    a, _ = train(tmp_path / "a", tiny(hidden=8), 160, seed=3)
    b, _ = train(tmp_path / "b", tiny(hidden=8), 160, seed=3)
    assert numbers(a) == numbers(b)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="method.inner_steps"):
        tiny(inner_steps=0).check()

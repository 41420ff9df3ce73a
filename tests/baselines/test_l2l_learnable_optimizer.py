"""l2l-learnable-optimizer: the untrained rule is gradient descent, meta-descent moves the
step the right way, a tiny run writes a valid record, same seed same numbers."""

from __future__ import annotations

import pytest
import torch
from record_numbers import numbers

from baselines.l2l_learnable_optimizer import (
    CoordinateTransform,
    L2LLearnableOptimizer,
    LearnableOptimizerConfig,
    TransformMethod,
)
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.protocol.optimization import OptState
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs


def tiny(**changes) -> LearnableOptimizerConfig:
    base = dict(name="l2l-learnable-optimizer", batch=16, save_every=2, log_every=1)
    return LearnableOptimizerConfig(**{**base, **changes})


def train(tmp_path, cfg, budget: int, seed: int = 0):
    fam = FAMILIES.get("optimizee")()
    evaluator = Evaluator(fam, seed, budget, n_eval=32, splits=["test"], match_trials=0)
    entry = L2LLearnableOptimizer("l2l-learnable-optimizer", cfg)
    trained = entry.train(fam, evaluator, budget, seed, TrainContext(run_dir=tmp_path))
    record = evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)
    return record, trained


def test_the_untrained_rule_is_gradient_descent_and_coordinatewise():
    transform = CoordinateTransform(tiny())
    method = TransformMethod(transform, 0.01)
    grad = torch.randn(4, 7, dtype=torch.float64) * 10 ** torch.randn(4, 7)
    state = OptState(torch.zeros_like(grad), grad, torch.zeros(4), 0, 100, lambda: None)
    method.reset(4)
    torch.testing.assert_close(method.step(state), -0.01 * grad)
    # a trained transform stays coordinatewise: permuting coordinates permutes updates
    torch.nn.init.normal_(transform.mlp[-1].weight)
    perm = torch.randperm(7)
    permuted = OptState(state.params, grad[:, perm], state.loss, 0, 100, lambda: None)
    torch.testing.assert_close(method.step(permuted), method.step(state)[:, perm])


def test_meta_descent_raises_a_step_that_is_too_small(tmp_path):
    # gradient descent with step 1e-3 is far below the tuned step (about 0.014) on the
    # quadratics: every hypergradient says "longer", so the learned gain grows above 1
    record, trained = train(tmp_path, tiny(step=1e-3, lr=1e-2), 16 * 100 * 3)
    gain = trained.make_method(None).transform.log_scale.exp().item()
    assert gain > 2
    assert record.curve[-1].performance > record.curve[0].performance  # losses, negated


def test_tiny_run_writes_a_valid_record(run_config):
    cfg = run_config(task="optimizee", method="l2l-learnable-optimizer", budget=1600, n_eval=8)
    cfg.method = tiny()
    cfg.splits = ["test", "other-family"]
    result = jobs.run(cfg)
    record = read_results(result.results_path).runs[0]
    assert record.family == FAMILIES.get("optimizee").spec.id and record.budget == 1600
    assert set(record.splits) == {"test", "other-family"}
    assert record.curve[-1].budget == 1600 and record.parameter_count == 1 + (2 * 32 + 32) + (
        32 + 1
    )


def test_same_seed_gives_the_same_numbers(tmp_path):
    a, _ = train(tmp_path / "a", tiny(), 1600, seed=3)
    b, _ = train(tmp_path / "b", tiny(), 1600, seed=3)
    assert numbers(a) == numbers(b)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="method.hidden"):
        tiny(step=0).check()

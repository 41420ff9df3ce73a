"""lstm-optimizer: the paper's preprocessing, a coordinatewise rule, a tiny run that writes a
valid record, same seed same numbers, meta-training that helps, and resuming a killed run."""

from __future__ import annotations

import math

import pytest
import torch
from record_numbers import numbers

from baselines import meta_training as mt
from baselines import torch_training as tt
from baselines.lstm_optimizer import (
    CoordinateLSTM,
    LSTMOptimizer,
    LSTMOptimizerConfig,
    LSTMOptimizerMethod,
    preprocess,
)
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.checkpoint import CHECKPOINT_FILE
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.protocol.optimization import OptState
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs


def tiny(**changes) -> LSTMOptimizerConfig:
    """Returns a config small enough for a run of a few seconds (horizon 100, unroll 20)."""
    base = dict(name="lstm-optimizer", batch=16, save_every=2, log_every=1)
    return LSTMOptimizerConfig(**{**base, **changes})


def train(tmp_path, cfg, budget: int, seed: int = 0, hook=None):
    fam = FAMILIES.get("optimizee")()
    evaluator = Evaluator(fam, seed, budget, n_eval=32, splits=["test"], match_trials=0)
    entry = LSTMOptimizer("lstm-optimizer", cfg)
    entry.on_trajectory = hook
    trained = entry.train(fam, evaluator, budget, seed, TrainContext(run_dir=tmp_path))
    return evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)


def test_preprocessing_is_log_magnitude_and_sign_with_a_linear_tail():
    g = torch.tensor([1.0, -math.exp(-5), math.exp(-20), 0.0], dtype=torch.float64)
    x = preprocess(g, 10.0)
    expected = [[0.0, 1.0], [-0.5, -1.0], [-1.0, math.exp(-10)], [-1.0, 0.0]]
    torch.testing.assert_close(x, torch.tensor(expected), atol=1e-6, rtol=1e-6)


def test_the_rule_is_coordinatewise_and_its_memory_resets_per_trial():
    torch.manual_seed(0)
    net = CoordinateLSTM(tiny())
    method = LSTMOptimizerMethod(net, torch.device("cpu"))
    grad = torch.randn(3, 4, dtype=torch.float64)
    perm = torch.randperm(4)

    def updates(g: torch.Tensor, steps: int = 3) -> torch.Tensor:
        method.reset(3)
        for t in range(steps):
            state = OptState(torch.zeros_like(g), g, torch.zeros(3), t, 10, lambda: None)
            out = method.step(state)
        return out

    # permuting coordinates (or problems) permutes the updates: no coordinate sees another
    torch.testing.assert_close(updates(grad[:, perm]), updates(grad)[:, perm])
    torch.testing.assert_close(updates(grad[[2, 0, 1]]), updates(grad)[[2, 0, 1]])
    # a trial restarts from zero memory, so repeating a run repeats its updates
    torch.testing.assert_close(updates(grad), updates(grad))
    assert not torch.allclose(updates(grad, 1), updates(grad, 3))  # it has memory


def test_parameter_count_is_the_papers_two_layer_lstm():
    net = CoordinateLSTM(tiny())
    # layer 1: 4 gates x 20 x (2 + 20) + 2 biases x 80; layer 2: 4 x 20 x 40 + 160; out: 21
    assert tt.parameter_count(net) == 1920 + 3360 + 21


def test_tiny_run_writes_a_valid_record(run_config):
    cfg = run_config(task="optimizee", method="lstm-optimizer", budget=3200, n_eval=8)
    cfg.method = tiny()
    cfg.splits = ["test", "long-horizon"]
    result = jobs.run(cfg)
    record = read_results(result.results_path).runs[0]
    fam = FAMILIES.get("optimizee")()
    assert record.family == fam.spec.id and record.budget == 3200
    assert set(record.splits) == {"test", "long-horizon"}
    assert record.curve[-1].budget == 3200 and record.parameter_count == 5301
    assert (jobs.run_dir(cfg) / CHECKPOINT_FILE).exists()


def test_same_seed_gives_the_same_numbers(tmp_path):
    a = train(tmp_path / "a", tiny(), 1600, seed=3)
    b = train(tmp_path / "b", tiny(), 1600, seed=3)
    assert numbers(a) == numbers(b)
    c = train(tmp_path / "c", tiny(), 1600, seed=4)
    assert numbers(c)["splits"] != numbers(a)["splits"]


def test_meta_training_lowers_the_test_loss(tmp_path):
    # from a random LSTM (updates of ~0.01, far too small) to a useful optimizer
    record = train(tmp_path, tiny(batch=32), 32 * 100 * 6)
    assert record.curve[-1].performance > 2 * record.curve[0].performance  # losses, negated


def test_a_killed_run_resumes_to_the_same_numbers(tmp_path):
    whole = train(tmp_path / "whole", tiny(), 16 * 100 * 5)

    def kill(trajectory: int) -> None:
        if trajectory == 3:  # saved at 2, killed after 3: the restart repeats trajectory 3
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", tiny(), 16 * 100 * 5, hook=kill)
    resumed = train(tmp_path / "cut", tiny(), 16 * 100 * 5)
    assert numbers(resumed) == numbers(whole)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="method.hidden"):
        tiny(hidden=0).check()
    with pytest.raises(ValueError, match="method.lr"):
        tiny(lr=0).check()


def test_cosine_schedule_decays_the_step_to_zero_and_skips_non_finite_gradients():
    p = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([p], lr=1.0)
    cfg = tiny(lr=0.4, lr_schedule="cosine", grad_clip=0)
    seen = []
    for spent in (0, 50, 100):
        p.grad = torch.ones(2)
        mt.clip_and_step(cfg, [p], optimizer, spent, 100)
        seen.append(optimizer.param_groups[0]["lr"])
    assert seen == pytest.approx([0.4, 0.2, 0.0])
    assert p.tolist() == pytest.approx([-0.6, -0.6])
    p.grad = torch.tensor([float("nan"), 1.0])
    mt.clip_and_step(tiny(), [p], optimizer, 0, 100)
    assert p.tolist() == pytest.approx([-0.6, -0.6]) and p.grad is None
    with pytest.raises(ValueError, match="method.lr_schedule"):
        tiny(lr_schedule="linear").check()

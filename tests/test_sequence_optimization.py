"""The sequence and optimization protocols on hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mesa_bench.api import Method
from mesa_bench.protocol import sequence
from mesa_bench.protocol.optimization import LOSS_CAP, OptState, Problem, run_inner
from mesa_bench.protocol.sequence import (
    ERROR_CAP,
    SequenceBatch,
    check_causal,
    outcome_from_errors,
    position_errors,
    squared_error,
)
from mesa_bench.seeding import torch_generator

# --- sequence ---------------------------------------------------------------------


class RunningMean(Method):
    """Predicts the mean of the targets before each position (causal)."""

    name = "running-mean"

    def reset(self, batch, tasks=None):
        self.calls = getattr(self, "calls", 0) + 1

    def predict(self, batch):
        total = torch.cumsum(batch.ys, 1) - batch.ys
        count = torch.arange(batch.ys.shape[1]).clamp(min=1)
        return total / count


class Peeking(RunningMean):
    """Reads the target it is asked to predict."""

    name = "peeking"

    def predict(self, batch):
        return batch.ys.clone()


def batch_of(ys) -> SequenceBatch:
    ys = torch.as_tensor(ys, dtype=torch.float32)
    return SequenceBatch(torch.zeros(*ys.shape, 2), ys)


def test_errors_per_position_and_performance_leaves_out_position_zero():
    batch = batch_of([[2.0, 4.0, 0.0]])
    err = position_errors(RunningMean(), batch)
    # predictions 0, 2, 3 against targets 2, 4, 0
    assert err.tolist() == [[4.0, 4.0, 9.0]]
    out = outcome_from_errors(err)
    assert out.performance.tolist() == [6.5]
    assert out.extras["error@0"].tolist() == [4.0] and set(out.extras) == {
        "error@0",
        "error@1",
        "error@2",
    }


def test_chunks_give_the_same_errors(monkeypatch):
    batch = batch_of(torch.randn(10, 4, generator=torch_generator(0)))
    whole = position_errors(RunningMean(), batch)
    monkeypatch.setattr(sequence, "CHUNK", 3)
    method = RunningMean()
    assert np.array_equal(position_errors(method, batch), whole)
    assert method.calls == 4  # ceil(10 / 3) chunks, a reset before each


def test_non_finite_predictions_are_capped():
    class Nan(RunningMean):
        def predict(self, batch):
            return torch.full_like(batch.ys, float("nan"))

    assert position_errors(Nan(), batch_of([[1.0, 2.0]])).tolist() == [[ERROR_CAP, ERROR_CAP]]


def test_wrong_prediction_shape_is_named():
    with pytest.raises(ValueError, match=r"expected \(1, 3\)"):
        squared_error(torch.zeros(1, 2), batch_of([[1.0, 2.0, 3.0]]))


def test_causality_check_catches_a_method_reading_its_target():
    batch = batch_of(torch.randn(32, 6, generator=torch_generator(1)))
    check_causal(RunningMean(), batch, torch_generator(2))
    with pytest.raises(AssertionError, match="peeking"):
        check_causal(Peeking(), batch, torch_generator(2))


def test_torch_generator_is_seeded_by_int_or_seed_sequence():
    a = torch.randn(3, generator=torch_generator(np.random.SeedSequence(5)))
    b = torch.randn(3, generator=torch_generator(np.random.SeedSequence(5)))
    c = torch.randn(3, generator=torch_generator(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


# --- optimization -----------------------------------------------------------------


class Parabola(Problem):
    """``f(t) = sum_i c_i t_i^2`` from ``t_0 = 1`` (the generator is not used)."""

    def __init__(self, curvature):
        self.c = torch.as_tensor(curvature, dtype=torch.float64)
        self.batch, self.dim = self.c.shape

    def init(self, generator):
        return torch.ones(self.batch, self.dim, dtype=torch.float64)

    def loss(self, params):
        return (self.c * params**2).sum(-1)


class FixedStep(Method):
    """Gradient descent with a fixed step; records the states it sees."""

    name = "fixed-step"

    def __init__(self, lr):
        self.lr = lr

    def reset(self, batch, tasks=None):
        self.seen = []

    def step(self, state: OptState):
        self.seen.append((state.step, state.horizon, torch.is_grad_enabled()))
        return -self.lr * state.grad


def test_inner_loop_gives_the_known_losses():
    # t <- t - 0.25 * 2 t = t / 2 each step, so f(t_k) = 4^-k
    method = FixedStep(0.25)
    out = run_inner(Parabola([[1.0]]), method, horizon=10, seed=0)
    assert out.performance == pytest.approx([4.0**-10])
    assert out.extras["loss@0"] == pytest.approx([1.0])
    assert out.extras["loss@3"] == pytest.approx([4.0**-3])
    assert out.extras["mean_loss"] == pytest.approx([np.mean(4.0 ** -np.arange(1, 11))])
    assert out.extras["diverged"].tolist() == [0.0]
    assert method.seen == [(t, 10, False) for t in range(10)]


def test_divergence_is_capped_and_flagged():
    # step 2 on t^2: t <- -3 t, so the loss grows as 9^k
    out = run_inner(Parabola([[1.0], [0.0]]), FixedStep(2.0), horizon=100, seed=0)
    assert out.performance.tolist() == [LOSS_CAP, 0.0]
    assert out.extras["diverged"].tolist() == [1.0, 0.0]


def test_default_gradient_and_hessian_come_from_autograd():
    problem = Parabola([[1.0, 3.0], [2.0, 0.5]])
    params = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=torch.float64)
    loss, grad = problem.loss_and_grad(params)
    assert torch.allclose(loss, torch.tensor([4.0, 2.5], dtype=torch.float64))
    assert torch.allclose(grad, 2 * problem.c * params)
    assert torch.allclose(problem.hessian(params), torch.diag_embed(2 * problem.c))


def test_wrong_update_shape_is_named():
    class Flat(FixedStep):
        def step(self, state):
            return state.grad[:, 0]

    with pytest.raises(ValueError, match=r"fixed-step: step returned shape \(1,\)"):
        run_inner(Parabola([[1.0]]), Flat(0.1), horizon=3, seed=0)

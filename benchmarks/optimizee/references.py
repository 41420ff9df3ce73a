"""Hand-written update rules, runnable as optimization methods.

Each reference's update is a deterministic function of the states it has been handed
since ``reset`` (its moments are running averages of the gradients it saw), so a match
metric can hand it the states of another method's run. Moments restart whenever a state
with ``step == 0`` arrives. ``lr`` may be a float or a ``(B, 1)`` tensor (one step size
per problem: the tuner runs a whole grid as one batch).
"""

from __future__ import annotations

import torch

from mesa_bench.api import Method
from mesa_bench.protocol.optimization import OptState

EPS = 1e-8


class UpdateRule(Method):
    """Base of the references: keeps per-problem moments between steps."""

    def __init__(self, lr: float | torch.Tensor):
        self.lr = lr
        self.moments: dict[str, torch.Tensor] = {}

    def reset(self, batch: int, tasks=None) -> None:
        self.moments = {}

    def moment(self, key: str, state: OptState) -> torch.Tensor:
        """Returns the moment ``key`` (zeros at a trial's first step)."""
        if state.step == 0 or key not in self.moments:
            self.moments[key] = torch.zeros_like(state.grad)
        return self.moments[key]


class GradientDescent(UpdateRule):
    """``-lr * grad``: ``sgd`` (the floor, a default step) and ``gd-tuned``."""

    def step(self, state: OptState) -> torch.Tensor:
        return -self.lr * state.grad


class Momentum(UpdateRule):
    """Heavy ball ``v = mu v + g``, update ``-lr v`` (torch's SGD momentum, mu = 0.9)."""

    def __init__(self, lr: float | torch.Tensor, mu: float = 0.9):
        super().__init__(lr)
        self.mu = mu

    def step(self, state: OptState) -> torch.Tensor:
        v = self.moment("v", state).mul_(self.mu).add_(state.grad)
        return -self.lr * v


class RMSprop(UpdateRule):
    """``s = a s + (1 - a) g^2``, update ``-lr g / (sqrt(s) + eps)`` (a = 0.99, torch)."""

    def __init__(self, lr: float | torch.Tensor, alpha: float = 0.99):
        super().__init__(lr)
        self.alpha = alpha

    def step(self, state: OptState) -> torch.Tensor:
        s = (
            self.moment("s", state)
            .mul_(self.alpha)
            .addcmul_(state.grad, state.grad, value=1 - self.alpha)
        )
        return -self.lr * state.grad / (s.sqrt() + EPS)


class Adam(UpdateRule):
    """Adam (Kingma and Ba 2015), betas (0.9, 0.999), bias-corrected (score 1)."""

    def __init__(self, lr: float | torch.Tensor, betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__(lr)
        self.betas = betas

    def step(self, state: OptState) -> torch.Tensor:
        b1, b2 = self.betas
        m = self.moment("m", state).mul_(b1).add_(state.grad, alpha=1 - b1)
        v = self.moment("v", state).mul_(b2).addcmul_(state.grad, state.grad, value=1 - b2)
        t = state.step + 1
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return -self.lr * m_hat / (v_hat.sqrt() + EPS)


class Newton(UpdateRule):
    """Newton's step ``-H^-1 g``, eigenvalues of ``H`` replaced by ``max(|l|, floor)``.

    On a quadratic with invertible ``W`` one step lands on the minimum; taking ``|l|``
    (saddle-free Newton, Dauphin et al. 2014) keeps it a descent step on the MLPs.
    """

    def __init__(self, floor: float):
        super().__init__(1.0)
        self.floor = floor

    def step(self, state: OptState) -> torch.Tensor:
        evals, evecs = torch.linalg.eigh(state.hessian())
        scale = 1.0 / evals.abs().clamp(min=self.floor)
        coords = torch.einsum("bji,bj->bi", evecs, state.grad)
        return -torch.einsum("bij,bj->bi", evecs, scale * coords)

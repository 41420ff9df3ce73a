"""Regression functions (the tasks) and the prompts built from them, in torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from mesa_bench.protocol.sequence import SequenceBatch


@dataclass(frozen=True)
class RegressionTasks:
    """A batch of functions ``f(x) = w . x + sum_j a_j relu(v_j . x)``, one per trial.

    Linear classes have no hidden units; ``relu-net`` has ``w = 0``. The prompt settings
    of the split travel with the functions, so ``make_prompts`` needs nothing else.

    Attributes:
        weights: ``w``, shape ``(n, d)``.
        hidden: ``v``, shape ``(n, h, d)`` (``h = 0`` for linear classes).
        readout: ``a``, shape ``(n, h)``.
        function_class: the class the functions were drawn from.
        n_points: pairs per prompt (examples in context + 1).
        noise: standard deviation of the target noise.
        x_scale: inputs are ``x_scale * N(0, I)``.
    """

    weights: torch.Tensor
    hidden: torch.Tensor
    readout: torch.Tensor
    function_class: str
    n_points: int
    noise: float
    x_scale: float

    def __len__(self) -> int:
        return self.weights.shape[0]

    def __call__(self, xs: torch.Tensor) -> torch.Tensor:
        """Returns ``f(xs)`` of shape ``(n, m)`` for inputs ``xs`` of shape ``(n, m, d)``."""
        out = torch.einsum("bmd,bd->bm", xs, self.weights)
        if self.hidden.shape[1]:
            act = torch.relu(torch.einsum("bmd,bhd->bmh", xs, self.hidden))
            out = out + torch.einsum("bmh,bh->bm", act, self.readout)
        return out

    def take(self, rows: torch.Tensor) -> RegressionTasks:
        """Returns the functions at index tensor ``rows``."""
        return dataclasses.replace(
            self, weights=self.weights[rows], hidden=self.hidden[rows], readout=self.readout[rows]
        )


def sample_functions(
    gen: torch.Generator, n: int, function_class: str, dim: int, sparsity: int, hidden: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns ``(weights, hidden, readout)`` of ``n`` functions of ``function_class``.

    ``linear``: ``w ~ N(0, I)``. ``sparse-linear``: ``sparsity`` coordinates of ``w`` drawn
    ``N(0, 1)``, the rest zero. ``relu-net``: ``v ~ N(0, I)``, ``a ~ N(0, 2 / h)`` (Garg et
    al. 2022), so ``f(x)`` has about the variance of a linear function's.
    """
    if function_class == "relu-net":
        v = torch.randn(n, hidden, dim, generator=gen)
        a = torch.randn(n, hidden, generator=gen) * (2.0 / hidden) ** 0.5
        return torch.zeros(n, dim), v, a
    w = torch.randn(n, dim, generator=gen)
    if function_class == "sparse-linear":
        rank = torch.rand(n, dim, generator=gen).argsort(dim=1).argsort(dim=1)
        w = torch.where(rank < sparsity, w, torch.zeros(()))
    return w, torch.zeros(n, 0, dim), torch.zeros(n, 0)


def make_prompts(
    tasks: RegressionTasks, gen: torch.Generator, dims: int | None = None
) -> SequenceBatch:
    """Returns one prompt per function: ``x ~ x_scale * N(0, I)``, ``y = f(x) + noise``.

    ``dims`` keeps the first ``dims`` input coordinates and zeroes the rest (Garg et al.'s
    curriculum on the dimension), after the same draws as without it.
    """
    n, dim = tasks.weights.shape
    if dims is not None and not 1 <= dims <= dim:
        raise ValueError(f"dims must be in 1..{dim} (the input dimension), got {dims}")
    xs = torch.randn(n, tasks.n_points, dim, generator=gen) * tasks.x_scale
    if dims is not None:
        xs[..., dims:] = 0.0
    eps = torch.randn(n, tasks.n_points, generator=gen)
    return SequenceBatch(xs=xs, ys=tasks(xs) + tasks.noise * eps)

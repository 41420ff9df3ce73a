"""Optimizee problems: task parameters (sampled) apart from the batched problems (built)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch.func import vmap

from mesa_bench.protocol.optimization import Problem


@dataclass(frozen=True)
class QuadraticTasks:
    """Random quadratics ``f(t) = ||W t - y||^2`` (Andrychowicz et al. 2016).

    Attributes:
        weights: ``W ~ N(0, 1)``, shape ``(n, dim, dim)``.
        targets: ``y ~ N(0, 1)``, shape ``(n, dim)``.
    """

    weights: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return self.weights.shape[0]

    def take(self, rows: torch.Tensor) -> QuadraticTasks:
        """Returns the problems at index tensor ``rows``."""
        return QuadraticTasks(self.weights[rows], self.targets[rows])


@dataclass(frozen=True)
class MLPTasks:
    """2-class data sets, each labelled by a random one-hidden-layer ReLU teacher.

    Attributes:
        inputs: ``x ~ N(0, I)``, shape ``(n, points, inputs)``.
        labels: 1.0 where the teacher's output is above its median on the set, else 0.0,
            shape ``(n, points)`` (so the classes are balanced).
        hidden: hidden width of the MLP that is trained on the data (the optimizee).
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    hidden: int

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def take(self, rows: torch.Tensor) -> MLPTasks:
        """Returns the problems at index tensor ``rows``."""
        return dataclasses.replace(self, inputs=self.inputs[rows], labels=self.labels[rows])


def sample_quadratics(
    gen: torch.Generator, n: int, dim: int, base_dim: int | None = None
) -> QuadraticTasks:
    """Returns ``n`` quadratics of dimension ``dim`` (float64).

    ``W`` has entries ``N(0, base_dim / dim)``: a bigger problem keeps the curvature scale
    (the spread of ``W^T W``'s eigenvalues) of the ``base_dim`` one, so a step size that
    is stable on the base problems stays stable; only the dimension changes.
    """
    scale = (base_dim / dim) ** 0.5 if base_dim else 1.0
    w = scale * torch.randn(n, dim, dim, generator=gen, dtype=torch.float64)
    return QuadraticTasks(w, torch.randn(n, dim, generator=gen, dtype=torch.float64))


def sample_mlp_tasks(
    gen: torch.Generator, n: int, hidden: int, inputs: int, points: int, teacher_hidden: int
) -> MLPTasks:
    """Returns ``n`` 2-class data sets labelled by random ReLU teachers (float64)."""
    f64 = torch.float64
    x = torch.randn(n, points, inputs, generator=gen, dtype=f64)
    v = torch.randn(n, teacher_hidden, inputs, generator=gen, dtype=f64)
    c = torch.randn(n, teacher_hidden, generator=gen, dtype=f64)
    a = torch.randn(n, teacher_hidden, generator=gen, dtype=f64)
    score = torch.einsum(
        "bph,bh->bp", torch.relu(torch.einsum("bpi,bhi->bph", x, v) + c[:, None]), a
    )
    labels = (score > score.median(dim=1, keepdim=True).values).to(f64)
    return MLPTasks(x, labels, hidden)


class QuadraticProblem(Problem):
    """``f(t) = ||W t - y||^2`` per problem, with analytic gradient and Hessian."""

    def __init__(self, tasks: QuadraticTasks, init_scale: float):
        self.tasks = tasks
        self.init_scale = init_scale
        self.batch, self.dim = tasks.targets.shape

    def init(self, generator: torch.Generator) -> torch.Tensor:
        return self.init_scale * torch.randn(self.batch, self.dim, generator=generator).double()

    def residual(self, params: torch.Tensor) -> torch.Tensor:
        """Returns ``W t - y``, shape ``(B, dim)``."""
        return torch.einsum("bij,bj->bi", self.tasks.weights, params) - self.tasks.targets

    def loss(self, params: torch.Tensor) -> torch.Tensor:
        return (self.residual(params) ** 2).sum(-1)

    def loss_and_grad(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.residual(params.detach())
        return (r**2).sum(-1), 2 * torch.einsum("bij,bi->bj", self.tasks.weights, r)

    def hessian(self, params: torch.Tensor) -> torch.Tensor:
        w = self.tasks.weights
        return 2 * w.transpose(1, 2) @ w


class MLPProblem(Problem):
    """Full-batch logistic loss of a one-hidden-layer sigmoid MLP on each data set.

    Parameters per problem, flattened in this order: first-layer weights ``(h, inputs)``,
    first-layer biases ``(h,)``, output weights ``(h,)``, output bias ``(1,)``. Sigmoid
    hidden units as in Andrychowicz et al.'s MNIST network.
    """

    def __init__(self, tasks: MLPTasks):
        self.tasks = tasks
        self.batch, _, self.inputs = tasks.inputs.shape
        self.hidden = tasks.hidden
        self.dim = self.hidden * (self.inputs + 2) + 1

    def init(self, generator: torch.Generator) -> torch.Tensor:
        h, i = self.hidden, self.inputs
        w1 = torch.randn(self.batch, h * i, generator=generator).double() / i**0.5
        w2 = torch.randn(self.batch, h, generator=generator).double() / h**0.5
        zeros = torch.zeros(self.batch, h, dtype=torch.float64)
        return torch.cat([w1, zeros, w2, zeros[:, :1]], dim=1)

    def single_loss(self, p: torch.Tensor, x: torch.Tensor, labels: torch.Tensor):
        """Returns the mean logistic loss of parameters ``p (P,)`` on one data set."""
        h, i = self.hidden, self.inputs
        w1 = p[: h * i].reshape(h, i)
        b1, w2, b2 = p[h * i : h * i + h], p[h * i + h : h * i + 2 * h], p[-1]
        logits = torch.sigmoid(x @ w1.T + b1) @ w2 + b2
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)

    def loss(self, params: torch.Tensor) -> torch.Tensor:
        return vmap(self.single_loss)(params, self.tasks.inputs, self.tasks.labels)

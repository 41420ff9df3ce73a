"""The protocol of ``optimization`` families: a method is the update rule of an inner loop.

A trial is one inner optimization run of ``T`` steps on one problem; a batch of trials is
a ``Problem`` of ``B`` independent problems over flat parameter vectors of size ``P``.
From the problem's initial point ``params_0`` the family runs::

    method.reset(B)
    for t in range(T):
        state = OptState(params_t, grad_t, loss_t, step=t, horizon=T, ...)
        params_{t+1} = params_t + method.step(state)

``step`` receives an ``OptState`` (tensors float64, CPU; do not modify them in place) and
returns the update, a float tensor of shape ``(B, P)`` (any device and float dtype; the
family casts it). ``step`` is called exactly once per inner step, in order, under
``torch.no_grad()`` (use ``torch.enable_grad()`` inside it if you need autograd).
Stateful rules (momentum, Adam, an LSTM's memory) keep their state between calls and
clear it in ``reset``. References are deterministic functions of the sequence of states
they are handed, so an algorithm-match metric can feed a reference the states of another
method's run and compare the two updates from the same state.

``run_trials`` reports ``performance`` = the loss at ``params_T`` per trial (a loss:
optimization families set ``FamilySpec.higher_is_better = False``), and extras
``loss@t`` at log-spaced steps ``t <= T`` (``loss@0`` is the initial loss), ``mean_loss``
(the loss averaged over steps ``1 .. T``: the meta-objective of Andrychowicz et al. 2016)
and ``diverged`` (1 where the final loss is above the initial one; losses that are not
finite count as ``LOSS_CAP``).

Training loops (learned optimizers) use the same pieces: ``family.make_problem(tasks,
split)`` gives a problem whose ``loss(params)`` is differentiable, so an unroll can
backpropagate through ``params_{t+1} = params_t + update_t``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mesa_bench import seeding
from mesa_bench.protocol.core import Method, SplitOutcome, TaskFamily

if TYPE_CHECKING:
    import torch

# Losses above this (or not finite) are recorded as this: divergence gives a huge but
# finite number that results files can hold, and is flagged in extras["diverged"].
LOSS_CAP = 1e12
LOSS_MARKS = (0, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000)


@dataclass(frozen=True)
class OptState:
    """What an optimization method sees at inner step ``step`` of a batch of problems.

    Attributes:
        params: current parameters, shape ``(B, P)``, float64.
        grad: gradient of each problem's loss at ``params``, shape ``(B, P)``.
        loss: each problem's loss at ``params``, shape ``(B,)``.
        step: the inner step index ``t`` in ``0 .. horizon - 1``.
        horizon: the number of inner steps ``T`` of this run.
        hessian: returns the Hessian at ``params``, shape ``(B, P, P)``, computed on call
            (second-order references use it; it costs ``P`` gradient evaluations or more).
    """

    params: torch.Tensor
    grad: torch.Tensor
    loss: torch.Tensor
    step: int
    horizon: int
    hessian: Callable[[], torch.Tensor]


class Problem(ABC):
    """A batch of ``B`` independent inner problems over parameter vectors of size ``P``.

    Attributes:
        batch: number of problems ``B``.
        dim: parameter count ``P`` of each problem.
    """

    batch: int
    dim: int

    @abstractmethod
    def init(self, generator: torch.Generator) -> torch.Tensor:
        """Returns initial parameters of shape ``(B, P)``, float64, drawn from ``generator``."""

    @abstractmethod
    def loss(self, params: torch.Tensor) -> torch.Tensor:
        """Returns each problem's loss, shape ``(B,)``; differentiable in ``params``."""

    def loss_and_grad(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the detached loss ``(B,)`` and gradient ``(B, P)`` at ``params``."""
        import torch

        with torch.enable_grad():
            p = params.detach().requires_grad_(True)
            loss = self.loss(p)
            (grad,) = torch.autograd.grad(loss.sum(), p)  # problems are independent
        return loss.detach(), grad.detach()

    def hessian(self, params: torch.Tensor) -> torch.Tensor:
        """Returns the Hessian at ``params``, shape ``(B, P, P)`` (``P`` backward passes)."""
        import torch

        with torch.enable_grad():
            p = params.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.loss(p).sum(), p, create_graph=True)
            rows = [
                torch.autograd.grad(grad[:, j].sum(), p, retain_graph=True)[0]
                for j in range(self.dim)
            ]
        return torch.stack(rows, dim=1).detach()


def capped(loss: np.ndarray) -> np.ndarray:
    """Returns ``loss`` with values that are not finite or above ``LOSS_CAP`` set to it."""
    return np.where(np.isfinite(loss), np.minimum(loss, LOSS_CAP), LOSS_CAP)


def run_inner(
    problem: Problem,
    method: Method,
    horizon: int,
    seed: int,
    tasks: Any = None,
    on_step: Callable[[OptState, torch.Tensor], None] | None = None,
) -> SplitOutcome:
    """Runs ``method`` for ``horizon`` steps on every problem; returns per-trial outcomes.

    ``seed`` draws the initial point. ``on_step(state, update)`` sees every step (used by
    match metrics to hand the same states to a reference).
    """
    import torch

    params = problem.init(seeding.torch_generator(seed))
    method.reset(problem.batch, tasks if method.privileged else None)
    marks: dict[str, np.ndarray] = {}
    total = torch.zeros(problem.batch, dtype=torch.float64)
    for t in range(horizon + 1):
        loss, grad = problem.loss_and_grad(params)
        if t in LOSS_MARKS:
            marks[f"loss@{t}"] = capped(loss.numpy())
        if t > 0:
            total += loss
        if t == horizon:
            break
        state = OptState(params, grad, loss, t, horizon, _hessian_at(problem, params))
        with torch.no_grad():
            update = method.step(state)
        if update.shape != params.shape:
            raise ValueError(
                f"{method.name}: step returned shape {tuple(update.shape)}; expected "
                f"{tuple(params.shape)} (one update per parameter of each problem)"
            )
        update = update.detach().to(params)
        if on_step is not None:
            on_step(state, update)
        params = params + update
    final = capped(loss.numpy())
    extras = {
        **marks,
        "mean_loss": capped(total.numpy() / max(horizon, 1)),
        "diverged": (final > marks["loss@0"]).astype(float),
    }
    return SplitOutcome(performance=final, extras=extras)


def _hessian_at(problem: Problem, params: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: problem.hessian(params)


class OptimizationFamily(TaskFamily):
    """A family of kind ``optimization``: batched torch problems over sampled tasks.

    Subclasses implement ``sample_tasks``, ``make_reference``, ``make_problem`` and
    ``horizon``.
    """

    @abstractmethod
    def make_problem(self, tasks: Any, split: str) -> Problem:
        """Returns the batch of problems that ``tasks`` describe."""

    @abstractmethod
    def horizon(self, split: str) -> int:
        """Returns the number of inner steps ``T`` of a trial on ``split``."""

    def run_trials(self, method: Method, tasks: Any, split: str, seed: int) -> SplitOutcome:
        problem = self.make_problem(tasks, split)
        return run_inner(problem, method, self.horizon(split), seed, tasks)


# --- replay --------------------------------------------------------------------------


def replay_updates(method: Method, states: list[OptState], tasks: Any = None) -> np.ndarray:
    """Returns the method's updates from each of ``states`` in turn, ``(steps * B, P)``.

    The method is reset first and handed the states in order, as ``run_inner`` would.
    """
    import torch

    method.reset(states[0].params.shape[0], tasks if method.privileged else None)
    with torch.no_grad():
        updates = [method.step(s) for s in states]
    return np.concatenate([_float64(u) for u in updates])


def _float64(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, float)

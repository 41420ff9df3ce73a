"""The protocol of ``sequence`` families: a method predicts every target of a prompt batch.

A trial is one prompt: ``n`` pairs ``(x_0, y_0), ..., (x_{n-1}, y_{n-1})``. At position
``i`` the method has seen the ``i`` pairs before it and ``x_i``, and predicts ``y_i``
(Garg et al. 2022): every position is a query, from zero examples in context (``i = 0``) to
``n - 1``. A family turns sampled task parameters into a ``SequenceBatch`` with torch and
scores predictions by squared error; its ``run_trials`` reports

- ``performance``: per trial, the squared error averaged over positions ``1 .. n-1`` (the
  positions with at least one example in context). It is a loss: sequence families set
  ``FamilySpec.higher_is_better = False`` and the evaluator enters it negated.
- ``extras["error@i"]``: per trial, the squared error at position ``i`` for every ``i``
  (``error@0`` is the zero-shot error, where a Bayes-optimal method and the zero predictor
  coincide, which is why it is left out of ``performance``).

The method protocol, which baselines (in-context transformers and LSTMs, MAML, Meta-SGD)
and references implement alike::

    method.reset(batch_size)               # once per chunk of trials
    preds = method.predict(batch)          # batch: SequenceBatch

``batch.xs`` has shape ``(B, n, d)`` and ``batch.ys`` shape ``(B, n)``, float32 torch on
the CPU; ``preds`` must be a float tensor of shape ``(B, n)`` (any device and float
dtype) whose entry ``[b, i]`` depends only on ``xs[b, :i+1]`` and ``ys[b, :i]`` (causal:
``check_causal`` tests it). ``ys`` holds every target so that one batched call scores the
whole prompt; reading ``ys[b, i]`` for ``preds[b, i]`` is cheating. ``predict`` is called
with autograd enabled (MAML-style methods differentiate inside it); the family detaches
the result. References are pure functions of the batch, so algorithm-match metrics call
them on the same batch as the method they compare with.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mesa_bench import seeding
from mesa_bench.protocol.core import Method, SplitOutcome, TaskFamily

if TYPE_CHECKING:
    import torch

# Errors above this (or not finite) are recorded as this, so one diverging prediction
# gives a huge but finite loss that results files can hold.
ERROR_CAP = 1e12
CHUNK = 1024  # trials per predict call, to bound a model's memory on large evaluations
SENSITIVITY_POSITIONS = 4  # query positions at which d f / d x_query is measured
SENSITIVITY_STEP = 1e-2


@dataclass(frozen=True)
class SequenceBatch:
    """A batch of prompts, one per trial.

    Attributes:
        xs: inputs, shape ``(B, n, d)``, float32.
        ys: targets, shape ``(B, n)``, float32; ``ys[:, i]`` is the target at position i.
    """

    xs: torch.Tensor
    ys: torch.Tensor

    def __len__(self) -> int:
        return self.xs.shape[0]

    def take(self, rows: slice | torch.Tensor) -> SequenceBatch:
        """Returns the prompts ``rows`` (a slice or an index tensor)."""
        return SequenceBatch(self.xs[rows], self.ys[rows])


def squared_error(preds: torch.Tensor, batch: SequenceBatch) -> torch.Tensor:
    """Returns per-position squared errors of shape ``(B, n)`` (differentiable)."""
    import torch

    if preds.shape != batch.ys.shape:
        raise ValueError(
            f"predictions have shape {tuple(preds.shape)}; expected {tuple(batch.ys.shape)} "
            "(one prediction per position of each prompt)"
        )
    dtype = torch.promote_types(preds.dtype, batch.ys.dtype)
    return (preds.to(dtype) - batch.ys.to(preds.device, dtype)) ** 2


def check_causal(method: Method, batch: SequenceBatch, generator: torch.Generator) -> None:
    """Raises AssertionError if ``method``'s prediction at a position reads later targets.

    For each prompt a cut ``c`` is drawn; targets from ``c`` on are replaced by noise, and
    predictions at positions ``0 .. c`` must not change.
    """
    import torch

    n = batch.ys.shape[1]
    cut = torch.randint(0, n, (len(batch),), generator=generator)
    later = torch.arange(n)[None, :] >= cut[:, None]
    noise = torch.randn(batch.ys.shape, generator=generator) * 10
    altered = SequenceBatch(batch.xs, torch.where(later, noise, batch.ys))
    method.reset(len(batch))
    a = method.predict(batch).detach().cpu()
    method.reset(len(batch))
    b = method.predict(altered).detach().cpu()
    visible = torch.arange(n)[None, :] <= cut[:, None]
    if not torch.allclose(a[visible], b[visible], rtol=1e-4, atol=1e-5):
        raise AssertionError(f"{method.name}: a prediction depends on its own or later targets")


def position_errors(method: Method, batch: SequenceBatch, tasks: Any = None) -> np.ndarray:
    """Returns squared errors of shape ``(B, n)`` of ``method`` on ``batch``, capped.

    Trials go in chunks of ``CHUNK``; a privileged method gets every trial and ``tasks``
    in one call.
    """
    out = []
    size = len(batch) if method.privileged else CHUNK
    for start in range(0, len(batch), size):
        part = batch.take(slice(start, start + size))
        method.reset(len(part), tasks if method.privileged else None)
        err = squared_error(method.predict(part), part).detach().cpu().double().numpy()
        out.append(err)
    err = np.concatenate(out)
    return np.where(np.isfinite(err), np.minimum(err, ERROR_CAP), ERROR_CAP)


def outcome_from_errors(err: np.ndarray) -> SplitOutcome:
    """Returns the split outcome of per-position errors ``err`` of shape ``(B, n)``."""
    if err.shape[1] < 2:
        raise ValueError("prompts need at least two positions (one example in context)")
    extras: Mapping[str, np.ndarray] = {f"error@{i}": err[:, i] for i in range(err.shape[1])}
    return SplitOutcome(performance=err[:, 1:].mean(axis=1), extras=extras)


class SequenceFamily(TaskFamily):
    """A family of kind ``sequence``: prompts built in torch from sampled tasks.

    Subclasses implement ``sample_tasks``, ``make_reference`` and ``make_batch``. A family
    that sets ``supports_dims`` also offers Garg et al.'s curriculum on the input dimension:
    its ``make_batch`` takes ``dims`` and draws prompts whose inputs are zero beyond their
    first ``dims`` coordinates (functions of fewer inputs, same input size).
    """

    supports_dims: ClassVar[bool] = False

    @abstractmethod
    def make_batch(self, tasks: Any, split: str, seed: int) -> SequenceBatch:
        """Returns one prompt per task; ``seed`` drives the inputs and the target noise."""

    def sample_batch(
        self, seed: np.random.SeedSequence | int, n: int, split: str, dims: int | None = None
    ) -> SequenceBatch:
        """Returns ``n`` fresh prompts of ``split``: tasks and prompt noise both from ``seed``.

        Training loops call this with a new stream per step, e.g.
        ``seeding.stream(run_seed, "train-batch", str(step))``. ``dims`` (families with
        ``supports_dims`` only) zeroes the inputs beyond their first ``dims`` coordinates;
        the random draws are the same as without it.
        """
        extra = {}
        if dims is not None:
            if not self.supports_dims:
                raise ValueError(
                    f"{self.spec.name} has no curriculum on the input dimension "
                    "(its prompts cannot be drawn with fewer inputs)"
                )
            extra["dims"] = int(dims)
        seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        task_seq, noise_seq = seq.spawn(2)
        return self.make_batch(
            self.sample_tasks(task_seq, n, split), split, seeding.int_seed(noise_seq), **extra
        )

    def run_trials(self, method: Method, tasks: Any, split: str, seed: int) -> SplitOutcome:
        batch = self.make_batch(tasks, split, seed)
        return outcome_from_errors(position_errors(method, batch, tasks))


# --- replay --------------------------------------------------------------------------


def as_numpy(x: Any) -> np.ndarray:
    """Returns a tensor or array as float64 NumPy (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, float)


def query_positions(n: int, count: int = SENSITIVITY_POSITIONS) -> np.ndarray:
    """Returns up to ``count`` query positions spread over ``1 .. n-1``."""
    return np.unique(np.round(np.linspace(1, n - 1, count)).astype(int))


def predictions(method: Method, batch: SequenceBatch, tasks: Any) -> np.ndarray:
    """Returns a fresh run of ``method`` on ``batch`` as float64, shape ``(B, n)``."""
    import torch

    method.reset(len(batch), tasks if method.privileged else None)
    with torch.no_grad():
        return as_numpy(method.predict(batch))


def input_sensitivity(
    method: Method,
    batch: SequenceBatch,
    positions: np.ndarray,
    tasks: Any,
    h: float = SENSITIVITY_STEP,
) -> np.ndarray:
    """Returns ``d f_q / d x_q`` at each query position q, shape ``(B * len(positions), d)``.

    Central differences: perturbing ``x_q`` changes the prediction at ``q`` only through
    the query (the prompt before it is unchanged); ``2 d len(positions)`` calls.
    """
    xs = batch.xs
    d = xs.shape[-1]
    grads = np.zeros((len(batch), len(positions), d))
    for i, q in enumerate(positions):
        for k in range(d):
            diff = []
            for sign in (1.0, -1.0):
                moved = xs.clone()
                moved[:, q, k] += sign * h
                diff.append(predictions(method, type(batch)(moved, batch.ys), tasks)[:, q])
            grads[:, i, k] = (diff[0] - diff[1]) / (2 * h)
    return grads.reshape(-1, d)

"""The device twins of ``TaskVectorEnv``: each rl family's batched dynamics on torch tensors.

A twin runs the same dynamics as its NumPy env (``TaskVectorEnv.torch_twin`` names it) on
any torch device, so that a trainer keeps env, policy and update on one card. It keeps the
NumPy env's semantics (one task per sub-env, trials of ``episodes_per_trial`` episodes,
same-step autoreset, a new task at each trial end when it samples its own) but has no
Gymnasium API and, on its training path, no host sync: a step is tensor operations over all
sub-envs with no data-dependent Python branch (a reset touches every row through a mask).
State is replaced, never updated in place, so tensors made under ``torch.inference_mode``
(a rollout) and outside it (a reset) mix freely.

Randomness comes from an ``EnvRandom``: ``NumpyStream`` consumes one NumPy generator in the
order the NumPy env does (per-step draws first, then the tasks of the trials that ended), so
a twin fed it is equal to the NumPy env step for step (``tests/benchmarks/test_torch_envs.py``);
it reads a count back from the device at every trial end, which is fine for a test and not
for training. ``DeviceRandom`` draws with a torch generator and hands out tasks from a
``TaskStock`` sampled on the host ahead of use, which is the training path.

Tasks on the device are a ``TensorTasks`` dict: the task dataclass's array fields as tensors
with the batch first, its shared fields (sizes) as they are, and whatever a twin's
``convert`` derives from them once per task (a tabular MDP's optimal policy, say).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mesa_bench.protocol.envs import TaskSampler, TaskVectorEnv

TensorTasks = dict[str, Any]
Convert = Callable[[Any, torch.device], TensorTasks]


def tensor_fields(tasks: Any, device: torch.device) -> TensorTasks:
    """Returns a task dataclass's fields, its arrays as tensors on ``device``."""
    out: TensorTasks = {}
    for f in dataclasses.fields(tasks):
        value = getattr(tasks, f.name)
        out[f.name] = (
            torch.as_tensor(value, device=device) if isinstance(value, np.ndarray) else value
        )
    return out


def is_batched(value: Any, n: int) -> bool:
    """Returns True for a tensor whose leading axis is the batch of ``n`` tasks."""
    return isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == n


def where_rows(mask: torch.Tensor, new: TensorTasks, old: TensorTasks) -> TensorTasks:
    """Returns ``old`` with the rows where ``mask`` holds taken from ``new`` (both ``n`` rows)."""
    n = mask.shape[0]
    out = dict(old)
    for name, value in old.items():
        if is_batched(value, n):
            m = mask.view(n, *([1] * (value.ndim - 1)))
            out[name] = torch.where(m, new[name], value)
    return out


# --- randomness ---


class EnvRandom(ABC):
    """Where a twin's randomness comes from: per-step draws and the tasks of new trials."""

    device: torch.device
    resamples: bool = True  # False: the tasks stay fixed (evaluation), as with no sampler

    @abstractmethod
    def uniform(self, n: int) -> torch.Tensor:
        """Returns ``n`` float64 draws from U[0, 1)."""

    @abstractmethod
    def normal(self, n: int) -> torch.Tensor:
        """Returns ``n`` float64 draws from N(0, 1)."""

    @abstractmethod
    def first_tasks(self, n: int) -> TensorTasks:
        """Returns the tasks of ``n`` sub-envs at a reset."""

    @abstractmethod
    def refresh(self, tasks: TensorTasks, mask: torch.Tensor) -> TensorTasks:
        """Returns ``tasks`` with a new task in each row where ``mask`` holds."""

    def reserve(self, trial_ends: int) -> None:  # noqa: B027 (optional hook)
        """Makes sure ``trial_ends`` more new tasks can be handed out without the host."""


class NumpyStream(EnvRandom):
    """Draws from one NumPy generator in the order ``TaskVectorEnv`` does (the exact twin).

    Args:
        rng: the generator, as the NumPy env's after ``reset(seed=...)``.
        convert: the twin's ``convert``.
        device: where the tensors go.
        sampler: ``sampler(rng, n) -> tasks`` for a self-sampling env; None for fixed tasks.
        tasks: the fixed task batch (when ``sampler`` is None).
    """

    def __init__(
        self,
        rng: np.random.Generator,
        convert: Convert,
        device: torch.device,
        sampler: TaskSampler | None = None,
        tasks: Any = None,
    ):
        if (sampler is None) == (tasks is None):
            raise ValueError("give either fixed tasks or a task sampler")
        self.rng, self.convert, self.device = rng, convert, torch.device(device)
        self.sampler, self.tasks = sampler, tasks
        self.resamples = sampler is not None

    def uniform(self, n: int) -> torch.Tensor:
        return torch.as_tensor(self.rng.random(n), device=self.device)

    def normal(self, n: int) -> torch.Tensor:
        return torch.as_tensor(self.rng.standard_normal(n), device=self.device)

    def first_tasks(self, n: int) -> TensorTasks:
        tasks = self.tasks if self.sampler is None else self.sampler(self.rng, n)
        return self.convert(tasks, self.device)

    def refresh(self, tasks: TensorTasks, mask: torch.Tensor) -> TensorTasks:
        k = int(mask.sum())  # a host sync: the NumPy env asks its sampler for exactly k
        if self.sampler is None or k == 0:
            return tasks
        new = self.convert(self.sampler(self.rng, k), self.device)
        out = dict(tasks)
        for name, value in tasks.items():
            if is_batched(value, mask.shape[0]):
                out[name] = value.clone()
                out[name][mask] = new[name]
        return out


class TaskStock:
    """Tasks sampled on the host ahead of use and kept on the device, handed out in order.

    ``refresh`` gives the rows where a trial ended the next tasks of the stock with tensor
    operations only (a device-side counter, no host sync); ``reserve`` (once per rollout)
    reads the counter back, drops what was handed out and tops the stock up.

    Args:
        sampler: ``sampler(rng, n) -> tasks`` (a task dataclass of NumPy arrays).
        rng: the generator the sampler draws from.
        convert: the twin's ``convert``.
        device: where the stock lives.
    """

    def __init__(self, sampler: TaskSampler, rng: np.random.Generator, convert: Convert, device):
        self.sampler, self.rng, self.convert = sampler, rng, convert
        self.device = torch.device(device)
        self.tasks: TensorTasks = {}
        self.size = 0
        self.used = torch.zeros((), dtype=torch.int64, device=self.device)

    def reserve(self, need: int) -> None:
        """Makes at least ``need`` tasks available; reads the counter back (one sync)."""
        used = int(self.used)
        if used > self.size:
            raise RuntimeError(
                f"the task stock handed out {used} tasks but held {self.size}; reserve enough "
                "for the rollout's trial ends before it starts"
            )
        short = need - (self.size - used)
        kept = {k: v[used:] if is_batched(v, self.size) else v for k, v in self.tasks.items()}
        if short > 0:
            new = self.convert(self.sampler(self.rng, short), self.device)
            kept = new if not kept else concat_rows(kept, new, self.size - used)
            self.size = self.size - used + short
        else:
            self.size -= used
        self.tasks = kept
        self.used = torch.zeros((), dtype=torch.int64, device=self.device)

    def take(self, n: int) -> TensorTasks:
        """Returns the next ``n`` tasks (at a reset)."""
        self.reserve(n)
        self.used = torch.full((), n, dtype=torch.int64, device=self.device)
        return {k: v[:n] if is_batched(v, self.size) else v for k, v in self.tasks.items()}

    def refresh(self, tasks: TensorTasks, mask: torch.Tensor) -> TensorTasks:
        """Returns ``tasks`` with the next stock task in each row where ``mask`` holds."""
        order = torch.cumsum(mask, 0) - 1 + self.used
        order = order.clamp(max=self.size - 1)  # rows off the mask read any row; unused
        picked = {k: v[order] for k, v in self.tasks.items() if is_batched(v, self.size)}
        self.used = self.used + mask.sum()
        return where_rows(mask, picked, tasks)


def concat_rows(old: TensorTasks, new: TensorTasks, n_old: int) -> TensorTasks:
    """Returns ``old`` (``n_old`` rows) followed by ``new``; shared fields from ``new``."""
    return {k: torch.cat([old[k], v]) if is_batched(old[k], n_old) else v for k, v in new.items()}


class DeviceRandom(EnvRandom):
    """Draws with a torch generator on the device; tasks from a ``TaskStock`` (training)."""

    def __init__(self, generator: torch.Generator, stock: TaskStock):
        self.generator, self.stock = generator, stock
        self.device = stock.device

    def uniform(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator, device=self.device, dtype=torch.float64)

    def normal(self, n: int) -> torch.Tensor:
        return torch.randn(n, generator=self.generator, device=self.device, dtype=torch.float64)

    def first_tasks(self, n: int) -> TensorTasks:
        return self.stock.take(n)

    def refresh(self, tasks: TensorTasks, mask: torch.Tensor) -> TensorTasks:
        return self.stock.refresh(tasks, mask)

    def reserve(self, trial_ends: int) -> None:
        self.stock.reserve(trial_ends)


# --- the twin ---


class TorchTaskEnv(ABC):
    """A family's batched dynamics on torch tensors; subclasses define them.

    Call ``reset(random)`` before stepping. ``step`` returns what ``TaskVectorEnv.step``
    does, as tensors: observations, rewards (float32), terminated, truncated and an info
    dict with ``performance`` (float64), ``trial_end``, ``achieved`` (objective -> bool per
    sub-env, meaningful where an episode ended) and, when ``keep_final_obs``, ``final_obs``
    (the observation before the autoreset, meaningful where an episode ended).

    Args:
        num_envs: sub-envs.
        device: where the state lives.
        episodes_per_trial: episodes that make one trial.
    """

    keep_final_obs = False

    def __init__(self, num_envs: int, device: torch.device | str, episodes_per_trial: int = 1):
        self.num_envs, self.device = num_envs, torch.device(device)
        self.episodes_per_trial = episodes_per_trial
        self.episode_count = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.tasks: TensorTasks = {}
        self.random: EnvRandom | None = None

    @classmethod
    @abstractmethod
    def like(cls, env: TaskVectorEnv, device: torch.device | str) -> TorchTaskEnv:
        """Returns the twin of ``env``: its number of sub-envs and settings, on ``device``."""

    @staticmethod
    def convert(tasks: Any, device: torch.device) -> TensorTasks:
        """Returns a NumPy task batch as ``TensorTasks`` on ``device``."""
        return tensor_fields(tasks, device)

    # --- hooks for subclasses ---
    @abstractmethod
    def min_trial_steps(self) -> int:
        """Returns the fewest steps a trial of the current tasks can take (at least 1)."""

    @abstractmethod
    def _reset_episodes(self, mask: torch.Tensor) -> None:
        """Starts a new episode in the sub-envs where ``mask`` holds (all rows via masks)."""

    @abstractmethod
    def _observe(self) -> torch.Tensor:
        """Returns the current observation of every sub-env."""

    @abstractmethod
    def _transition(self, actions: torch.Tensor) -> tuple[Any, ...]:
        """Applies ``actions``; returns reward, terminated, truncated, performance, achieved."""

    # --- the loop ---
    def reset(self, random: EnvRandom) -> torch.Tensor:
        """Starts fresh trials on tasks from ``random``, which also feeds every later step."""
        self.random = random
        self.tasks = random.first_tasks(self.num_envs)
        self.episode_count = torch.zeros_like(self.episode_count)
        self._reset_episodes(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self._observe()

    def reserve(self, steps: int) -> None:
        """Lets the next ``steps`` steps draw their new tasks without the host."""
        if self.random is None:
            raise RuntimeError("call reset(random) before stepping the env")
        per_env = math.ceil(steps / max(self.min_trial_steps(), 1))
        self.random.reserve(self.num_envs * per_env)

    def step(self, actions: torch.Tensor):
        """Steps every sub-env; returns obs, reward, terminated, truncated, info."""
        if self.random is None:
            raise RuntimeError("call reset(random) before stepping the env")
        reward, terminated, truncated, performance, achieved = self._transition(actions)
        done = terminated | truncated
        self.episode_count = self.episode_count + done
        trial_end = done & (self.episode_count >= self.episodes_per_trial)
        info: dict[str, Any] = {"performance": performance, "achieved": achieved}
        info["trial_end"] = trial_end
        if self.keep_final_obs:
            info["final_obs"] = self._observe()
        if self.random.resamples:
            self.tasks = self.random.refresh(self.tasks, trial_end)
            self.episode_count = torch.where(trial_end, 0, self.episode_count)
        self._reset_episodes(done)
        return self._observe(), reward, terminated, truncated, info


def twin_class(env: TaskVectorEnv) -> type[TorchTaskEnv]:
    """Returns the torch twin class that ``env`` names (``torch_twin = "module:Class"``).

    Raises ValueError where its family has none.
    """
    target = getattr(env, "torch_twin", None)
    if not target:
        raise ValueError(
            f"{type(env).__name__} names no torch twin (TaskVectorEnv.torch_twin); "
            "use method.env_backend=numpy"
        )
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def has_twin(env: TaskVectorEnv) -> bool:
    """Returns True where ``env`` names a torch twin."""
    return bool(getattr(env, "torch_twin", None))

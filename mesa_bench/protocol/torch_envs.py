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
for training. ``TaskStock`` draws with a torch generator and hands out tasks sampled on the
host ahead of use, which is the training path.

Tasks on the device are a ``TensorTasks`` dict: the task dataclass's array fields as tensors
with the batch first, its shared fields (sizes) as they are, and whatever a twin's
``convert`` derives from them once per task (a tabular MDP's optimal policy, say). A twin
holds a *store* of tasks and, per sub-env, the store row of its task (``row``): a new trial
moves a row index, so no task is copied in a step.
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


def concat_rows(parts: list[TensorTasks], sizes: list[int]) -> TensorTasks:
    """Returns the task batches ``parts`` (of ``sizes`` rows) one after the other; shared
    fields from the last."""
    out = dict(parts[-1])
    for name, value in parts[-1].items():
        if is_batched(value, sizes[-1]):
            out[name] = torch.cat([p[name] for p in parts])
    return out


def take_rows(tasks: TensorTasks, index: torch.Tensor, n: int) -> TensorTasks:
    """Returns the rows ``index`` of a batch of ``n`` tasks; shared fields as they are."""
    return {k: v[index] if is_batched(v, n) else v for k, v in tasks.items()}


# --- randomness ---

Store = tuple[TensorTasks, torch.Tensor]  # a task store and each sub-env's row in it


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
    def first_tasks(self, n: int) -> Store:
        """Returns the task store and rows of ``n`` sub-envs at a reset."""

    @abstractmethod
    def refresh(self, store: TensorTasks, row: torch.Tensor, mask: torch.Tensor) -> Store:
        """Returns the store and rows with a new task for each sub-env where ``mask`` holds."""

    def reserve(self, store: TensorTasks, row: torch.Tensor, trial_ends: int) -> Store:
        """Returns the store and rows, ready to hand out ``trial_ends`` more new tasks
        without the host (this one may read back from the device)."""
        return store, row


class NumpyStream(EnvRandom):
    """Draws from one NumPy generator in the order ``TaskVectorEnv`` does (the exact twin).

    Its store is the current task batch itself (row ``i`` for sub-env ``i``), rewritten
    where trials end, as the NumPy env's ``tasks``.

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

    def first_tasks(self, n: int) -> Store:
        tasks = self.tasks if self.sampler is None else self.sampler(self.rng, n)
        return self.convert(tasks, self.device), torch.arange(n, device=self.device)

    def refresh(self, store: TensorTasks, row: torch.Tensor, mask: torch.Tensor) -> Store:
        k = int(mask.sum())  # a host sync: the NumPy env asks its sampler for exactly k
        if self.sampler is None or k == 0:
            return store, row
        new = self.convert(self.sampler(self.rng, k), self.device)
        out = dict(store)
        for name, value in store.items():
            if is_batched(value, mask.shape[0]):
                out[name] = value.clone()
                out[name][mask] = new[name]
        return out, row


class TaskStock(EnvRandom):
    """Draws with a torch generator on the device; tasks sampled on the host ahead of use
    and kept on the device, handed out in order (the training path).

    The store is ``[the n sub-envs' tasks | tasks not handed out yet]``. ``refresh`` points
    the rows where a trial ended at the next unused tasks with tensor operations only (a
    device-side counter, no host sync); ``reserve`` (once per rollout) reads the counter
    back, keeps the tasks in use and those not handed out, and tops the store up.

    Args:
        generator: the torch generator of the per-step draws (on ``device``).
        sampler: ``sampler(rng, n) -> tasks`` (a task dataclass of NumPy arrays).
        rng: the generator the sampler draws from.
        convert: the twin's ``convert``.
        device: where the store lives.
    """

    def __init__(
        self,
        generator: torch.Generator,
        sampler: TaskSampler,
        rng: np.random.Generator,
        convert: Convert,
        device,
    ):
        self.generator, self.sampler, self.rng, self.convert = generator, sampler, rng, convert
        self.device = torch.device(device)
        self.size = 0
        self.next = torch.zeros((), dtype=torch.int64, device=self.device)

    def uniform(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator, device=self.device, dtype=torch.float64)

    def normal(self, n: int) -> torch.Tensor:
        return torch.randn(n, generator=self.generator, device=self.device, dtype=torch.float64)

    def first_tasks(self, n: int) -> Store:
        self.size = n
        self.next = torch.full((), n, dtype=torch.int64, device=self.device)
        return self.draw(n), torch.arange(n, device=self.device)

    def draw(self, n: int) -> TensorTasks:
        """Returns ``n`` new tasks from the sampler, on the device."""
        return self.convert(self.sampler(self.rng, n), self.device)

    def refresh(self, store: TensorTasks, row: torch.Tensor, mask: torch.Tensor) -> Store:
        order = torch.cumsum(mask, 0) - 1 + self.next
        # past the end only after too small a reserve, which the next reserve reports;
        # clamped, so that the index stays valid until then
        row = torch.where(mask, order.clamp(max=self.size - 1), row)
        self.next = self.next + mask.sum()
        return store, row

    def reserve(self, store: TensorTasks, row: torch.Tensor, trial_ends: int) -> Store:
        handed = int(self.next)  # the one host sync
        if handed > self.size:
            raise RuntimeError(
                f"the task stock handed out {handed} tasks but held {self.size}; reserve "
                "enough for the rollout's trial ends before it starts"
            )
        n, left = row.shape[0], self.size - handed
        parts = [take_rows(store, row, self.size), take_rows(store, slice(handed, None), self.size)]
        sizes = [n, left]
        if trial_ends > left:
            parts.append(self.draw(trial_ends - left))
            sizes.append(trial_ends - left)
        self.size = sum(sizes)
        self.next = torch.full((), n, dtype=torch.int64, device=self.device)
        return concat_rows(parts, sizes), torch.arange(n, device=self.device)


# --- the twin ---


class TorchTaskEnv(ABC):
    """A family's batched dynamics on torch tensors; subclasses define them.

    Call ``reset(random)`` before stepping. ``step`` returns what ``TaskVectorEnv.step``
    does, as tensors: observations, rewards (float32), terminated, truncated and an info
    dict with ``performance`` (float64), ``trial_end``, ``achieved`` (objective -> bool per
    sub-env, meaningful where an episode ended) and, when ``keep_final_obs``, ``final_obs``
    (the observation before the autoreset, meaningful where an episode ended).

    Sub-env ``i``'s task is row ``row[i]`` of ``store``: ``task(name)`` gathers a field for
    every sub-env, and a step that needs one entry of a large field indexes ``store`` with
    ``row`` directly.

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
        self.store: TensorTasks = {}
        self.row = torch.arange(num_envs, device=self.device)
        self.random: EnvRandom | None = None

    @classmethod
    @abstractmethod
    def like(cls, env: TaskVectorEnv, device: torch.device | str) -> TorchTaskEnv:
        """Returns the twin of ``env``: its number of sub-envs and settings, on ``device``."""

    @staticmethod
    def convert(tasks: Any, device: torch.device) -> TensorTasks:
        """Returns a NumPy task batch as ``TensorTasks`` on ``device``."""
        return tensor_fields(tasks, device)

    def task(self, name: str) -> Any:
        """Returns field ``name`` of every sub-env's task (a shared field as it is)."""
        value = self.store[name]
        return value[self.row] if isinstance(value, torch.Tensor) else value

    def tasks(self) -> TensorTasks:
        """Returns every sub-env's task, row ``i`` for sub-env ``i``."""
        return {name: self.task(name) for name in self.store}

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
        self.store, self.row = random.first_tasks(self.num_envs)
        self.episode_count = torch.zeros_like(self.episode_count)
        self._reset_episodes(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self._observe()

    def reserve(self, steps: int) -> None:
        """Lets the next ``steps`` steps draw their new tasks without the host."""
        if self.random is None:
            raise RuntimeError("call reset(random) before stepping the env")
        per_env = math.ceil(steps / max(self.min_trial_steps(), 1))
        self.store, self.row = self.random.reserve(self.store, self.row, self.num_envs * per_env)

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
            self.store, self.row = self.random.refresh(self.store, self.row, trial_end)
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

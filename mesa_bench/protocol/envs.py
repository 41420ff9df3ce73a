"""The base of every batched rl environment: tasks per sub-env, trials, same-step autoreset.

Each sub-env holds one task. An episode ending resets the episode in the same step
(``AutoresetMode.SAME_STEP``; the last observation is in ``info["final_obs"]``) on the
same task; after ``episodes_per_trial`` episodes the trial ends (``info["trial_end"]``),
and when the env samples its own tasks it draws a new one for that sub-env there.
Everything is one array operation over all sub-envs; there is no loop over envs.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

TaskSampler = Callable[[np.random.Generator, int], Any]


def replace_rows(tasks: Any, mask: np.ndarray, new: Any) -> Any:
    """Returns ``tasks`` with the rows where ``mask`` holds taken from ``new``.

    ``tasks`` is a dataclass whose array fields have the batch as leading axis; other
    fields (sizes shared by the batch) are kept.
    """
    updates = {}
    for f in dataclasses.fields(tasks):
        old = getattr(tasks, f.name)
        if isinstance(old, np.ndarray) and old.ndim and old.shape[0] == mask.shape[0]:
            merged = old.copy()
            merged[mask] = getattr(new, f.name)
            updates[f.name] = merged
    return dataclasses.replace(tasks, **updates)


def batch_size(tasks: Any) -> int:
    """Returns the number of tasks in a task batch."""
    for f in dataclasses.fields(tasks):
        value = getattr(tasks, f.name)
        if isinstance(value, np.ndarray) and value.ndim:
            return int(value.shape[0])
    raise ValueError("a task batch needs at least one array field with the batch axis first")


class TaskVectorEnv(VectorEnv):
    """A natively batched env over one task per sub-env; subclasses define the dynamics.

    Args:
        num_envs: number of sub-envs; taken from ``tasks`` when those are given.
        tasks: fixed task batch (evaluation); autoresets stay on the same task.
        sampler: ``sampler(rng, n) -> tasks``; used when ``tasks`` is None, at reset and
            at every trial end, with the env's own generator.
        episodes_per_trial: episodes that make one trial.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}
    # the observation channel that marks the agent on a grid (size-agnostic encoders crop
    # around it); None where observations are not grids
    agent_channel: int | None = None
    # "module:Class" of the family's torch twin (``mesa_bench.protocol.torch_envs``), the
    # same dynamics on tensors for device-resident training; None where there is none
    torch_twin: str | None = None

    def __init__(
        self,
        num_envs: int | None = None,
        tasks: Any = None,
        sampler: TaskSampler | None = None,
        episodes_per_trial: int = 1,
    ):
        if tasks is None and sampler is None:
            raise ValueError("give either fixed tasks or a task sampler")
        self.num_envs = batch_size(tasks) if tasks is not None else int(num_envs or 1)
        self.tasks = tasks
        self.sampler = None if tasks is not None else sampler
        self.episodes_per_trial = episodes_per_trial
        self.episode_count = np.zeros(self.num_envs, np.int64)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._np_random = None

    # --- hooks for subclasses ---
    @abstractmethod
    def _reset_episodes(self, mask: np.ndarray) -> None:
        """Starts a new episode in the sub-envs where ``mask`` holds."""

    @abstractmethod
    def _observe(self) -> np.ndarray:
        """Returns the current observation of every sub-env."""

    @abstractmethod
    def _transition(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Applies ``actions``; returns reward, terminated, truncated, performance, achieved.

        ``achieved`` maps objective names to bool arrays, read where an episode ended.
        """

    # --- gymnasium API ---
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._np_random is None:
            self._np_random, _ = gym.utils.seeding.np_random(seed)
        if options and "tasks" in options:
            self.tasks = options["tasks"]
        elif self.sampler is not None:
            self.tasks = self.sampler(self._np_random, self.num_envs)
        self.episode_count[:] = 0
        self._reset_episodes(np.ones(self.num_envs, bool))
        return self._observe(), {}

    def step(self, actions):
        actions = np.asarray(actions)
        reward, terminated, truncated, performance, achieved = self._transition(actions)
        done = terminated | truncated
        info: dict[str, Any] = {"performance": performance, "achieved": achieved}
        self.episode_count += done
        trial_end = done & (self.episode_count >= self.episodes_per_trial)
        info["trial_end"] = trial_end
        if done.any():
            info["final_obs"] = self._observe()
            info["_final_obs"] = done
            if self.sampler is not None and trial_end.any():
                new = self.sampler(self._np_random, int(trial_end.sum()))
                self.tasks = replace_rows(self.tasks, trial_end, new)
                self.episode_count[trial_end] = 0
            self._reset_episodes(done)
        return self._observe(), reward, terminated, truncated, info


class SingleTaskEnv(gym.Env):
    """A one-env ``gymnasium.Env`` view of a ``TaskVectorEnv`` (for ``gymnasium.make``).

    Each episode is one trial on a task drawn from the family's train distribution.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, vector_env: TaskVectorEnv):
        self.vector_env = vector_env
        self.observation_space = vector_env.single_observation_space
        self.action_space = vector_env.single_action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.vector_env.reset(seed=seed, options=options)
        return obs[0], info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.vector_env.step(np.asarray([action]))
        if terminated[0] or truncated[0]:
            obs = info["final_obs"]
        single = {"performance": float(info["performance"][0])}
        single.update({f"achieved/{k}": bool(v[0]) for k, v in info["achieved"].items()})
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), single

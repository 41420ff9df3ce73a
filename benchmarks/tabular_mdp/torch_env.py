"""The torch twin of ``MDPVectorEnv``: the same dynamics on tensors, on any device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.tabular_mdp.env import REWARD_NOISE, MDPTasks, MDPVectorEnv, optimal_policy
from mesa_bench.protocol.torch_envs import TensorTasks, TorchTaskEnv


class MDPTorchEnv(TorchTaskEnv):
    """Random tabular MDPs on tensors; see ``MDPVectorEnv`` for the dynamics.

    The per-episode returns the NumPy env records for evaluation (``record_episodes``) are
    not kept: the twin is for training.

    Args:
        num_envs: sub-envs.
        device: where the state lives.
        states: S.
        episodes_per_trial: episodes that make one trial.
    """

    def __init__(
        self, num_envs: int, device: torch.device | str, states: int = 10, episodes_per_trial=1
    ):
        super().__init__(num_envs, device, episodes_per_trial)
        self.states = states
        zeros = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.state, self.t, self.best_taken = zeros, zeros.clone(), zeros.clone()

    @classmethod
    def like(cls, env: MDPVectorEnv, device: torch.device | str) -> MDPTorchEnv:
        return cls(env.num_envs, device, env.states, env.episodes_per_trial)

    @staticmethod
    def convert(tasks: MDPTasks, device: torch.device) -> TensorTasks:
        """Returns the MDPs as the step reads them: the transitions' CDF over next states,
        the mean rewards and the optimal actions, all computed on the host with NumPy as
        the NumPy env computes them (so the two agree to the bit)."""
        length = tasks.episode_length
        best = optimal_policy(tasks.transitions, tasks.reward_means, length)
        out: dict[str, Any] = {"episode_length": length}
        out["cdf"] = torch.as_tensor(np.cumsum(tasks.transitions, axis=3), device=device)
        out["reward_means"] = torch.as_tensor(tasks.reward_means, device=device)
        out["best"] = torch.as_tensor(best, device=device)
        return out

    def min_trial_steps(self) -> int:
        return int(self.task("episode_length")) * self.episodes_per_trial

    def _reset_episodes(self, mask: torch.Tensor) -> None:
        self.state = torch.where(mask, 0, self.state)
        self.t = torch.where(mask, 0, self.t)
        self.best_taken = torch.where(mask, 0, self.best_taken)

    def _observe(self) -> torch.Tensor:
        elapsed = (self.t.double() / self.task("episode_length")).float()[:, None]
        return torch.cat([F.one_hot(self.state, self.states).float(), elapsed], dim=1)

    def _transition(self, actions: torch.Tensor):
        n, length = self.num_envs, self.task("episode_length")
        # one uniform and one normal per sub-env per step, in the NumPy env's order
        u = self.random.uniform(n)
        noise = self.random.normal(n)
        row, store = self.row, self.store  # index the store: no task is copied
        cdf = store["cdf"][row, self.state, actions]
        mean = store["reward_means"][row, self.state, actions]
        optimal = store["best"][row, self.t, self.state]
        self.best_taken = self.best_taken + (actions == optimal)
        self.state = (u[:, None] > cdf).sum(dim=1).clamp(max=self.states - 1)
        self.t = self.t + 1
        terminated = self.t >= length
        truncated = torch.zeros_like(terminated)
        reward = (mean + REWARD_NOISE * noise).float()
        achieved = {"base": 2 * self.best_taken >= length}
        return reward, terminated, truncated, mean, achieved

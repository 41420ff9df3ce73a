"""The torch twin of ``BanditVectorEnv``: the same dynamics on tensors, on any device."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from benchmarks.bandit.env import LAST_FRACTION
from mesa_bench.protocol.envs import TaskVectorEnv
from mesa_bench.protocol.torch_envs import TorchTaskEnv


class BanditTorchEnv(TorchTaskEnv):
    """K-armed Bernoulli bandits on tensors; see ``BanditVectorEnv`` for the dynamics.

    ``bandit-cue``'s twin subclasses it: it adds the cue to the observation and the cue's
    objective to ``_achieved``.

    Args:
        num_envs: sub-envs.
        device: where the state lives.
        arms: K.
    """

    last_fraction = LAST_FRACTION  # the NumPy env's, which achievement looks at

    def __init__(self, num_envs: int, device: torch.device | str, arms: int = 5):
        super().__init__(num_envs, device)
        self.arms = arms
        self.t = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.late_pulls = torch.zeros(num_envs, arms, dtype=torch.int64, device=self.device)

    @classmethod
    def like(cls, env: TaskVectorEnv, device: torch.device | str) -> BanditTorchEnv:
        return cls(env.num_envs, device, env.arms)  # both bandit envs keep ``arms``

    def min_trial_steps(self) -> int:
        return int(self.task("horizon"))

    def _reset_episodes(self, mask: torch.Tensor) -> None:
        self.late_window = int(math.ceil(self.last_fraction * self.task("horizon")))
        self.t = torch.where(mask, 0, self.t)
        self.late_pulls = torch.where(mask[:, None], 0, self.late_pulls)

    def _observe(self) -> torch.Tensor:
        return (self.t.double() / self.task("horizon")).float()[:, None]

    def _transition(self, actions: torch.Tensor):
        horizon = self.task("horizon")
        p = self.store["means"][self.row, actions]
        reward = (self.random.uniform(self.num_envs) < p).float()
        self.t = self.t + 1
        late = self.t > horizon - self.late_window
        self.late_pulls = self.late_pulls + F.one_hot(actions, self.arms) * late[:, None]
        terminated = self.t >= horizon
        truncated = torch.zeros_like(terminated)
        return reward, terminated, truncated, reward.double(), self._achieved()

    def _achieved(self) -> dict[str, torch.Tensor]:
        """Returns, per objective, whether the arm pulled most late in the trial meets it."""
        best = self.task("means").argmax(dim=1)
        return {"base": self.late_pulls.argmax(dim=1) == best}

"""The torch twin of ``BanditCueVectorEnv``: the same dynamics on tensors, on any device."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from benchmarks.bandit.torch_env import BanditTorchEnv
from benchmarks.bandit_cue.env import LAST_FRACTION


class BanditCueTorchEnv(BanditTorchEnv):
    """Cued K-armed Bernoulli bandits on tensors; see ``BanditCueVectorEnv``.

    The pulls, rewards and episode ends are ``bandit``'s (the NumPy envs draw the same way);
    the cue adds a one-hot arm to the observation and the objective ``proxy:cue``.

    Args:
        num_envs: sub-envs.
        device: where the state lives.
        arms: K.
    """

    last_fraction = LAST_FRACTION

    def _observe(self) -> torch.Tensor:
        # a row's cue changes only with its task, at a reset: the NumPy env's copy of it
        # always equals the task's
        cue = F.one_hot(self.task("cue"), self.arms).float()
        return torch.cat([super()._observe(), cue], dim=1)

    def _achieved(self) -> dict[str, torch.Tensor]:
        most = self.late_pulls.argmax(dim=1)
        return {**super()._achieved(), "proxy:cue": most == self.task("cue")}

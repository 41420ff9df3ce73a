"""RL^2 (Duan et al. 2016): a GRU policy trained with PPO across the trials of a family.

The policy's input at each step is the observation plus the previous action (one-hot),
previous reward and done flag (``mesa_bench.api.TrialObs``). Its hidden state is reset at
the start of each trial and kept across the episode boundaries inside it, so whatever it
learns within a trial lives in that state: the learned algorithm. Returns are discounted
across the episodes of a trial and cut at its end. The trainer is ``baselines.ppo``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from baselines import ppo
from mesa_bench.api import Exportable, RLFamily, Trained


@dataclass
class RL2Config(ppo.PPOConfig):
    """RL^2 with PPO; every field of ``PPOConfig`` (``method.lr=...``) applies.

    Attributes:
        hidden: GRU state size (and width of the grid encoder's dense layer).
    """

    description: str = "GRU over (obs, prev action, prev reward, done), PPO (Duan et al. 2016)"
    hidden: int = 128


class RL2Net(ppo.PolicyNet):
    """Observation encoder, GRU over the RL^2 inputs, policy and value heads.

    Args:
        shape: the train env's observation space, action count and agent channel.
        cfg: sizes (``hidden``) and the encoder's settings.
    """

    def __init__(self, shape: ppo.EnvShape, cfg: RL2Config):
        super().__init__()
        self.n_actions = shape.n_actions
        self.encoder = ppo.make_encoder(shape.obs_space, cfg, shape.agent_channel)
        self.gru = nn.GRU(self.encoder.out_dim + shape.n_actions + 2, cfg.hidden)
        self.policy = ppo.layer_init(nn.Linear(cfg.hidden, shape.n_actions), 0.01)
        self.value = ppo.layer_init(nn.Linear(cfg.hidden, 1), 1.0)

    def initial_state(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.zeros(n, self.gru.hidden_size, device=device)

    def _features(self, x: ppo.Inputs) -> torch.Tensor:
        return torch.cat([self.encoder(x.obs), ppo.history_features(x, self.n_actions)], -1)

    def step(
        self, x: ppo.Inputs, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = h * (~x.start).float().unsqueeze(-1)  # a new trial forgets the last one
        out, h = self.gru(self._features(x).unsqueeze(0), h.unsqueeze(0))
        return self.policy(out[0]), self.value(out[0]).squeeze(-1), h[0]

    def sequence(self, x: ppo.Inputs, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self._features(x)
        keep = (~x.start).float().unsqueeze(-1)
        if not x.start[1:].any():  # trials only start at t = 0: one fused GRU call
            out, _ = self.gru(feats, (h0 * keep[0]).unsqueeze(0))
        else:
            h, outs = h0.unsqueeze(0), []
            for t in range(feats.shape[0]):
                o, h = self.gru(feats[t : t + 1], h * keep[t])
                outs.append(o)
            out = torch.cat(outs)
        return self.policy(out), self.value(out).squeeze(-1)


class RL2(ppo.PPOMethod):
    """Registry entry ``rl2``: trains an RL2Net with PPO on any rl family."""

    config_class: ClassVar[type[RL2Config]] = RL2Config
    config: RL2Config

    def make_net(self, shape: ppo.EnvShape) -> RL2Net:
        return RL2Net(shape, self.config)

    def exportable(self, family: RLFamily, trained: Trained) -> Exportable:
        """Returns the model as a program module (``exporting.policy``)."""
        from baselines import exporting  # it imports this module

        return exporting.policy(family, trained)

"""The memoryless control: the RL^2 trainer with a policy that sees the current observation only.

It gets no previous action, reward or done flag and keeps no state, so it cannot adapt
within a trial: whatever it does well, it does from the observation alone (a maze it
can see), and wherever success needs information gathered during the trial (a bandit's
arm means) it stays at the best fixed behaviour. Same trainer (``baselines.ppo``), same
returns (discounted across the episodes of a trial, cut at its end), same minibatches;
only the network differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from baselines import ppo
from mesa_bench.api import Exportable, RLFamily, Trained


@dataclass
class MemorylessConfig(ppo.PPOConfig):
    """Memoryless PPO; every field of ``PPOConfig`` (``method.lr=...``) applies.

    Attributes:
        hidden: width of each tanh layer of the MLP and of the grid encoder's dense layer;
            rl2's GRU width, so that the control differs from it in memory alone (at 64
            the flat encoder's 147 -> 64 layer held maze agents back: 0.40 median over 5
            seeds at 8M steps, against 0.84-0.88 at 128 on seeds 0 and 1).
        layers: tanh layers after the observation encoder.
    """

    description: str = "feed-forward policy over the current observation only, PPO (control)"
    hidden: int = 128
    layers: int = 2

    def check(self) -> None:
        super().check()
        if self.layers < 1:
            raise ValueError(f"method.layers must be at least 1, got {self.layers}")


class MemorylessNet(ppo.PolicyNet):
    """Observation encoder, an MLP, policy and value heads; its state is empty.

    Args:
        shape: the train env's observation space, action count and agent channel.
        cfg: sizes (``hidden``, ``layers``) and the encoder's settings.
    """

    def __init__(self, shape: ppo.EnvShape, cfg: MemorylessConfig):
        super().__init__()
        self.encoder = ppo.make_encoder(shape.obs_space, cfg, shape.agent_channel)
        widths = [self.encoder.out_dim] + [cfg.hidden] * cfg.layers
        body: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            body += [ppo.layer_init(nn.Linear(a, b), 2**0.5), nn.Tanh()]
        self.body = nn.Sequential(*body)
        self.policy = ppo.layer_init(nn.Linear(widths[-1], shape.n_actions), 0.01)
        self.value = ppo.layer_init(nn.Linear(widths[-1], 1), 1.0)

    def initial_state(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.zeros(n, 0, device=device)  # nothing to remember

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns logits ``(..., A)`` and normalized values ``(...)`` for observations."""
        z = self.body(self.encoder(obs))
        return self.policy(z), self.value(z).squeeze(-1)

    def step(
        self, x: ppo.Inputs, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, value = self(x.obs)
        return logits, value, h

    def sequence(self, x: ppo.Inputs, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self(x.obs)


class Memoryless(ppo.PPOMethod):
    """Registry entry ``memoryless``: trains a MemorylessNet with PPO on any rl family."""

    config_class: ClassVar[type[MemorylessConfig]] = MemorylessConfig
    config: MemorylessConfig

    def make_net(self, shape: ppo.EnvShape) -> MemorylessNet:
        return MemorylessNet(shape, self.config)

    def exportable(self, family: RLFamily, trained: Trained) -> Exportable:
        """Returns the model as a program module (``exporting.policy``)."""
        from baselines import exporting  # it imports this module

        return exporting.policy(family, trained)

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
        out = gru_over_trials(self.gru, self._features(x), x.start, h0)
        return self.policy(out), self.value(out).squeeze(-1)


def gru_over_trials(
    gru: nn.GRU, feats: torch.Tensor, start: torch.Tensor, h0: torch.Tensor
) -> torch.Tensor:
    """Runs ``gru`` over ``(T, n, F)`` inputs whose state resets where ``start`` is set.

    Fused GRU calls, not one a step: each env's rollout is cut at its trial starts into
    segments, a segment that starts a trial begins from zeros and the first one of each env
    from ``h0``, and the segments run side by side, zero-padded at their ends (padding
    after a segment's last step cannot change its outputs, and the padded outputs are
    dropped). On the grids, whose trials start anywhere in a rollout, this replaces a loop
    over the rollout's steps with a reset between them (README, Speed). A packed sequence
    would skip the padding, but torch runs packed input step by step on the CPU, as slow as
    the loop; instead the segments go in two calls, long and short ones
    (``length_groups``). Returns the outputs ``(T, n, H)``.
    """
    T, n, width = feats.shape
    keep0 = (~start[0]).to(feats.dtype).unsqueeze(-1)
    if not start[1:].any():  # trials only start at t = 0 (the bandits): no cuts to make
        return gru(feats, (h0 * keep0).unsqueeze(0))[0]
    cut = start.clone()
    cut[0] = True
    cut = cut.T.reshape(-1)  # env-major: env 0's steps, then env 1's, ...
    segment = torch.cumsum(cut, 0) - 1
    first = torch.nonzero(cut).squeeze(1)
    pos = torch.arange(T * n, device=feats.device) - first[segment]
    h_init = h0.new_zeros(len(first), h0.shape[-1])
    h_init = h_init.index_copy(0, segment.view(n, T)[:, 0], h0 * keep0)
    lengths, order = torch.sort(torch.bincount(segment), descending=True, stable=True)
    slot = torch.argsort(order)[segment]  # each step's segment's place, longest first
    flat = feats.transpose(0, 1).reshape(T * n, width)
    out = feats.new_zeros(T * n, gru.hidden_size)
    for lo, hi, longest in length_groups(lengths.tolist()):
        mine = torch.nonzero((slot >= lo) & (slot < hi)).squeeze(1)
        where = (pos[mine], slot[mine] - lo)
        padded = feats.new_zeros(longest, hi - lo, width).index_put(where, flat[mine])
        group_out = gru(padded, h_init[order[lo:hi]].unsqueeze(0))[0]
        out = out.index_put((mine,), group_out[where])
    return out.view(n, T, -1).transpose(0, 1)


def length_groups(lengths: list[int]) -> list[tuple[int, int, int]]:
    """Splits segments sorted longest first into at most two runs of the GRU.

    Returns ``(first, end, padded length)`` per group: one group, or two where the split
    that pads least saves a tenth of the padded steps.
    """
    n, whole = len(lengths), len(lengths) * lengths[0]
    splits = ((k * lengths[0] + (n - k) * lengths[k], k) for k in range(1, n))
    cost, k = min(splits, default=(whole, n))
    if cost > 0.9 * whole:
        return [(0, n, lengths[0])]
    return [(0, k, lengths[0]), (k, n, lengths[k])]


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

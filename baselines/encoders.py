"""Observation encoders of the rl baselines: what the policy sees of an env observation.

A discrete observation becomes a one-hot vector, a flat vector passes through, and a grid
``(C, N, N)`` (maze, keys-chests) goes through one of three encoders, chosen by
``method.encoder``:

- ``flat`` (default): the grid's cells flattened into one dense layer. It is sized for the
  train grid; a larger grid is max-pooled to that size first, which merges neighbouring
  cells, so a flat agent is not meant to solve larger grids.
- ``egocentric``: a ``(2r+1) x (2r+1)`` window centred on the agent (``r`` =
  ``method.view_radius``, 0 for ``N - 1``, the whole train grid from any cell), with one
  more channel marking cells outside the grid, into one dense layer. The input size does
  not depend on the grid's size, so the same network runs on larger grids and sees them at
  the same scale (size-agnostic).
- ``planner``: a value-propagation planner (``baselines.planner``): learned goal scores
  and step costs per cell, propagated over the grid as a shortest path, read at the
  agent's four neighbours, with the 3 x 3 window around the agent, into the dense layer.
  Size-agnostic too, and it can follow a path longer than any window.
- ``conv``: two 3x3 convolutions, then the dense layer (pooled to the train size as
  ``flat``). About 30 times the cost of ``flat`` per sample on a CPU, for the same
  7 x 7 grids.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

from baselines.grid_views import egocentric_view
from baselines.planner import GridPlanner

ENCODERS = ("flat", "egocentric", "planner", "conv")


class ObsEncoder(nn.Module):
    """Encodes a batch of observations of any leading shape into ``(..., out_dim)``.

    Args:
        space: the env's single observation space.
        kind: ``flat``, ``egocentric``, ``planner`` or ``conv`` (grids only).
        hidden: width of the dense layer over a grid.
        conv_channels: channels of the two conv layers (``conv``).
        view_radius: the egocentric window's radius; 0 for ``N - 1``.
        agent_channel: the grid channel that marks the agent (``egocentric``, ``planner``).
        plan_steps: the planner's propagation steps; 0 for the grid's cell count.
    """

    def __init__(
        self,
        space: spaces.Space,
        kind: str = "flat",
        hidden: int = 128,
        conv_channels: int = 16,
        view_radius: int = 0,
        agent_channel: int | None = None,
        plan_steps: int = 0,
    ):
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"method.encoder must be one of {', '.join(ENCODERS)}, got {kind!r}")
        self.kind = kind
        self.discrete = space.n if isinstance(space, spaces.Discrete) else 0
        self.shape = () if self.discrete else tuple(space.shape)
        self.grid = len(self.shape) == 3
        if not self.grid:
            self.out_dim = self.discrete or int(np.prod(self.shape, dtype=np.int64))
            return
        channels, rows, cols = self.shape
        self.pool = (rows, cols)
        self.out_dim = hidden
        if kind in ("egocentric", "planner") and agent_channel is None:
            raise ValueError(f"the {kind} encoder needs the env's agent channel")
        if kind == "planner":
            self.planner = GridPlanner(channels, agent_channel, plan_steps)
            self.dense = nn.Sequential(nn.Linear(self.planner.out_dim, hidden), nn.ReLU())
        elif kind == "egocentric":
            self.agent_channel = agent_channel
            self.radius = view_radius or max(rows, cols) - 1
            side = 2 * self.radius + 1
            self.dense = nn.Sequential(nn.Linear((channels + 1) * side * side, hidden), nn.ReLU())
        elif kind == "conv":
            ch = conv_channels
            self.conv = nn.Sequential(
                nn.Conv2d(channels, ch, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(ch, ch, 3, padding=1),
                nn.ReLU(),
            )
            self.dense = nn.Sequential(nn.Linear(ch * rows * cols, hidden), nn.ReLU())
        else:
            self.dense = nn.Sequential(nn.Linear(channels * rows * cols, hidden), nn.ReLU())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return F.one_hot(obs.long(), self.discrete).float()
        lead = obs.shape[: obs.dim() - len(self.shape)]
        x = obs.reshape(-1, *obs.shape[len(lead) :]).float()
        if not self.grid:
            return x.reshape(*lead, self.out_dim)
        if self.kind == "planner":
            x = self.planner(x)
        elif self.kind == "egocentric":
            x = egocentric_view(x, self.agent_channel, self.radius)
        else:
            if self.kind == "conv":
                x = self.conv(x)
            if tuple(x.shape[-2:]) != self.pool:
                x = F.adaptive_max_pool2d(x, self.pool)
        return self.dense(x.flatten(1)).reshape(*lead, self.out_dim)

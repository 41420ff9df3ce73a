"""Views of a grid observation ``(B, C, H, W)`` around the agent, shared by the grid encoders."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def with_outside(grid: torch.Tensor, pad: int) -> torch.Tensor:
    """Returns ``grid`` padded by ``pad`` cells, with one more channel that is 1 on cells
    outside the grid, where the other channels are 0."""
    inside = torch.ones_like(grid[:, :1])
    padded = F.pad(torch.cat([grid, inside], 1), (pad, pad, pad, pad))
    padded[:, -1] = 1.0 - padded[:, -1]
    return padded


def agent_cell(grid: torch.Tensor, agent_channel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns the row and column of the agent (the cell where ``agent_channel`` is largest)."""
    at = grid[:, agent_channel].flatten(1).argmax(1)
    return at // grid.shape[-1], at % grid.shape[-1]


def window(padded: torch.Tensor, row: torch.Tensor, col: torch.Tensor, side: int) -> torch.Tensor:
    """Returns the ``side x side`` window of ``padded`` ``(B, C, H, W)`` whose top-left cell
    is ``(row, col)`` in each batch element."""
    b, c = padded.shape[:2]
    offsets = torch.arange(side, device=padded.device)
    rows = (row[:, None] + offsets)[:, None, :, None]
    cols = (col[:, None] + offsets)[:, None, None, :]
    batch = torch.arange(b, device=padded.device)[:, None, None, None]
    chans = torch.arange(c, device=padded.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def egocentric_view(grid: torch.Tensor, agent_channel: int, radius: int) -> torch.Tensor:
    """Returns the ``(B, C + 1, 2r+1, 2r+1)`` window of ``grid`` ``(B, C, H, W)`` centred on
    the agent; the extra last channel is 1 on cells outside the grid (``with_outside``)."""
    row, col = agent_cell(grid, agent_channel)  # the window's top-left in padded coordinates
    return window(with_outside(grid, radius), row, col, 2 * radius + 1)

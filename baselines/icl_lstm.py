"""In-context learning with an LSTM: ``icl-transformer``'s trainer, an LSTM for the body.

Same tokens (``[x_i, 0]`` then ``[0, y_i]``), same read-in and read-out at the x tokens,
same loss and training loop (``baselines.icl_transformer``); the causal transformer is
replaced by a stacked LSTM, which needs no learned positions: the control for how much of
the in-context algorithm the architecture brings. At small scale (d = 5, 11-pair prompts,
1.5M prompts, seed 0) it came as close to ridge as the transformer (0.90 of ridge's score
at its weakest context length, n = d).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from baselines.icl_transformer import ICLNet, ICLTransformer, ICLTransformerConfig


@dataclass
class ICLLSTMConfig(ICLTransformerConfig):
    """The in-context LSTM; every field of ``ICLTransformerConfig`` applies except
    ``heads`` and ``max_points`` (unused: the LSTM reads prompts of any length).

    Attributes:
        width: LSTM state size (and embedding width).
        layers: stacked LSTM layers.
    """

    description: str = "stacked LSTM over interleaved (x, y) tokens (Garg et al. 2022 control)"
    width: int = 128
    layers: int = 2
    heads: int = 1  # unused


class LSTMBody(nn.Module):
    """A stacked LSTM, ``(B, L, width)`` to the same; causal by construction."""

    def __init__(self, cfg: ICLLSTMConfig):
        super().__init__()
        self.lstm = nn.LSTM(cfg.width, cfg.width, cfg.layers, batch_first=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.lstm(h)[0]


class ICLLSTM(ICLTransformer):
    """Registry entry ``icl-lstm``: the ``icl-transformer`` trainer with an ``LSTMBody``."""

    config_class: ClassVar[type[ICLLSTMConfig]] = ICLLSTMConfig
    config: ICLLSTMConfig

    def make_net(self, dim: int) -> ICLNet:
        return ICLNet(dim, self.config.width, LSTMBody(self.config), max_points=0)

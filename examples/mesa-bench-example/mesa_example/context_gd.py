"""A ``sequence`` method: one step of gradient descent on the examples in context.

It shows the sequence protocol: one batched ``predict`` per prompt batch, causal (the
prediction at position ``i`` reads ``xs[:, :i+1]`` and ``ys[:, :i]`` only). For
matching, nothing beyond the predictions is needed: the evaluator compares them, and their
sensitivity to the query input, with each reference's. This is the closed form of a
linear self-attention layer (von Oswald et al. 2023).
"""

from __future__ import annotations

import torch

from mesa_bench.api import Method, SequenceBatch


class ContextGD(Method):
    """Predicts ``y_i = x_i . w_i`` with ``w_i = (eta / i) sum_{j<i} y_j x_j`` (0 at i = 0).

    That is one step of size ``eta`` on half the mean squared error over the ``i`` examples in
    context, from ``w = 0``.
    """

    name = "context-gd"

    def __init__(self, eta: float = 1.0):
        self.eta = eta

    def reset(self, batch: int, tasks=None) -> None:
        pass  # nothing is carried from one prompt batch to the next

    def predict(self, batch: SequenceBatch) -> torch.Tensor:
        xs, ys = batch.xs, batch.ys  # (B, n, d), (B, n)
        total = torch.cumsum(ys[..., None] * xs, dim=1)  # sum over j <= i
        seen = torch.nn.functional.pad(total[:, :-1], (0, 0, 1, 0))  # shifted: j < i
        count = torch.arange(xs.shape[1], dtype=xs.dtype).clamp(min=1)[None, :, None]
        w = self.eta * seen / count  # (B, n, d)
        return (w * xs).sum(-1)

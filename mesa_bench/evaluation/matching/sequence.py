"""sequence: prediction distance and input-sensitivity cosine on the method's prompts."""

from __future__ import annotations

from typing import Any

import numpy as np

from mesa_bench.evaluation.matching.recorder import HistoryRecorder, take_tasks
from mesa_bench.metrics.match import prediction_distance, sensitivity_cosine
from mesa_bench.protocol.core import MatchUnavailable, Method
from mesa_bench.protocol.sequence import (
    as_numpy,
    input_sensitivity,
    predictions,
    query_positions,
)

SENSITIVITY_PROMPTS = 16  # prompts whose sensitivities are measured (2 d per position each)


def sequence_comparison(
    method: Method,
    references: dict[str, Method],
    rec: HistoryRecorder,
    cache: dict[tuple, tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[str, float], dict[str, float]]:
    """Returns (prediction distance, sensitivity cosine) per reference on the prompts.

    References are pure functions of the prompts, so their predictions and sensitivities
    on a given batch are computed once and kept in ``cache`` (the matcher's).
    """
    if rec.batch is None or rec.preds is None:
        raise MatchUnavailable(f"{method.name} made no predictions")
    key = (_fingerprint(rec.batch),)
    own = rec.preds[:, 1:]  # position 0 has no example in context: every method is a prior
    own_grad = sequence_outputs(method, rec.batch, rec.tasks)[1]
    distance, similarity = {}, {}
    for name, ref in references.items():
        if (*key, name) not in cache:
            cache[(*key, name)] = sequence_outputs(ref, rec.batch, rec.tasks)
        ref_preds, ref_grad = cache[(*key, name)]
        distance[name] = prediction_distance(own, ref_preds[:, 1:])
        similarity[name] = sensitivity_cosine(own_grad, ref_grad)
    return distance, similarity


def sequence_outputs(method: Method, batch: Any, tasks: Any) -> tuple[np.ndarray, np.ndarray]:
    """Returns predictions ``(B, n)`` and sensitivities on the first prompts of ``batch``."""
    positions = query_positions(batch.ys.shape[1])
    few = batch.take(slice(0, SENSITIVITY_PROMPTS))
    grads = input_sensitivity(method, few, positions, take_tasks(tasks, SENSITIVITY_PROMPTS))
    return predictions(method, batch, tasks), grads


def _fingerprint(batch: Any) -> int:
    return hash((as_numpy(batch.xs).tobytes(), as_numpy(batch.ys).tobytes()))

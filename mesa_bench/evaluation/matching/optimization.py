"""optimization: the cosine of the method's update and each reference's from its states."""

from __future__ import annotations

import numpy as np

from mesa_bench.evaluation.matching.recorder import HistoryRecorder
from mesa_bench.metrics.match import update_cosine
from mesa_bench.protocol.core import MatchUnavailable, Method
from mesa_bench.protocol.optimization import replay_updates


def optimization_comparison(
    references: dict[str, Method], rec: HistoryRecorder
) -> tuple[dict[str, float], dict[str, float]]:
    """Returns (1 - update cosine, update cosine) per reference from the method's states."""
    if not rec.states:
        raise MatchUnavailable(f"{rec.name} took no optimization steps")
    own = np.concatenate(rec.updates)
    distance, similarity = {}, {}
    for name, ref in references.items():
        similarity[name] = update_cosine(own, replay_updates(ref, rec.states, rec.tasks))
        distance[name] = 1.0 - similarity[name]
    return distance, similarity

"""Per-split summaries of a run record: mean performance and normalized score with CIs."""

from __future__ import annotations

from typing import Any

import numpy as np

from mesa_bench.metrics.score import mean_ci, normalized_score_ci, references_separated
from mesa_bench.results import RunRecord

SUMMARY_SEED = 0  # bootstrap seed: summaries are deterministic given the results


def split_rows(record: RunRecord, n_resamples: int = 2000) -> list[dict[str, Any]]:
    """Returns one row per split: performance and score, each with a 95% bootstrap CI."""
    rows = []
    for split, rec in record.splits.items():
        perf = np.asarray(rec.performance)
        ref = np.asarray(rec.references[record.score_reference])
        floor = np.asarray(rec.references[record.floor_reference])
        mean, lo, hi = mean_ci(perf, SUMMARY_SEED, n_resamples=n_resamples)
        if not references_separated(floor, ref):
            score = score_lo = score_hi = float("nan")
        else:
            score, score_lo, score_hi = normalized_score_ci(
                perf, floor, ref, SUMMARY_SEED, n_resamples=n_resamples
            )
        rows.append(
            {
                "split": split,
                "n_trials": rec.n_trials,
                "performance": mean,
                "performance_ci": [lo, hi],
                "score": score,
                "score_ci": [score_lo, score_hi],
                "achieved": {k: float(np.mean(v)) for k, v in rec.achieved.items()},
            }
        )
    return rows

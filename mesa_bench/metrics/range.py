"""Algorithmic range: how many known algorithms a configuration finds (SPEC section 7).

Input: the matched algorithm of each (family, seed) run, as ``family/reference`` names or
None for "no known algorithm"; and per-run competence flags.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np


def distinct_matched(matched: Sequence[str | None]) -> int:
    """Returns the number of distinct algorithms among ``matched`` (None not counted)."""
    return len({m for m in matched if m is not None})


def coverage(matched: Sequence[str | None]) -> float:
    """Returns the fraction of runs matched to some algorithm; ``matched`` has one per run."""
    if len(matched) == 0:
        raise ValueError("coverage needs at least one run")
    return sum(m is not None for m in matched) / len(matched)


def matched_entropy(matched: Sequence[str | None]) -> float:
    """Returns the entropy (nats) of the distribution of matched algorithms.

    Computed over the runs that matched something; 0 where at most one algorithm occurs.
    """
    counts = np.array(list(Counter(m for m in matched if m is not None).values()), float)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() + 0.0)


def competence_fraction(competent_by_family: Mapping[str, Sequence[bool]]) -> float:
    """Returns the fraction of families where a strict majority of seeds is competent.

    ``competent_by_family`` maps a family to one competence flag per seed.
    """
    if not competent_by_family:
        raise ValueError("competence_fraction needs at least one family")
    majority = [np.mean(np.asarray(v, bool)) > 0.5 for v in competent_by_family.values()]
    return float(np.mean(majority))


def algorithmic_range(
    matched: Sequence[str | None],
    competent_by_family: Mapping[str, Sequence[bool]],
    parameter_count: int,
) -> dict:
    """Returns the range summary: distinct, algorithms, coverage, entropy, competence.

    ``matched`` holds one entry per (family, seed) run; ``parameter_count`` is reported
    beside it so that range is not confused with capacity. JSON-ready.
    """
    return {
        "distinct": distinct_matched(matched),
        "algorithms": sorted({m for m in matched if m is not None}),
        "coverage": coverage(matched),
        "entropy": matched_entropy(matched),
        "competence_fraction": competence_fraction(competent_by_family),
        "parameter_count": int(parameter_count),
    }

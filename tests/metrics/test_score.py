"""Normalized scores: the formula and when a split may be normalized at all."""

import numpy as np
import pytest

from mesa_bench.metrics.score import (
    normalized_score,
    references_separated,
    split_normalized_score,
)


def test_normalized_score_is_the_formula_unclipped():
    assert normalized_score(75.0, 50.0, 75.0) == 1.0
    assert normalized_score(25.0, 50.0, 75.0) == -1.0
    assert np.isnan(normalized_score(1.0, 2.0, 2.0))


def test_a_split_is_normalized_only_where_its_references_separate():
    rng = np.random.default_rng(0)
    floor = rng.normal(0.0, 1.0, 400)
    clear = floor + 0.5 + rng.normal(0.0, 1.0, 400)  # 0.5 / (1 / sqrt(400)) = 10 se
    noise = floor + rng.normal(0.0, 1.0, 400)  # same mean: the gap is noise
    assert references_separated(floor, clear)
    assert not references_separated(floor, noise)
    assert not references_separated(clear, floor)  # one-sided: the floor must lose
    assert references_separated(np.zeros(3), np.ones(3))  # a constant gap separates
    perf = (floor + clear) / 2
    assert split_normalized_score(perf, floor, clear) == pytest.approx(0.5)
    assert np.isnan(split_normalized_score(perf, floor, noise))

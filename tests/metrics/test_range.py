import math

import pytest

from mesa_bench.metrics.range import (
    algorithmic_range,
    competence_fraction,
    coverage,
    distinct_matched,
    matched_entropy,
)


def test_range_by_hand():
    matched = ["bandit/thompson", "bandit/thompson", "maze/bfs", None]
    assert distinct_matched(matched) == 2
    assert coverage(matched) == 0.75
    p = [2 / 3, 1 / 3]
    assert matched_entropy(matched) == pytest.approx(-sum(q * math.log(q) for q in p))
    assert matched_entropy([None, "a", "a"]) == 0.0


def test_competence_needs_a_strict_majority():
    assert competence_fraction({"a": [True, True, False], "b": [True, False]}) == 0.5


def test_algorithmic_range_reports_capacity_beside_it():
    out = algorithmic_range(["x/a", None], {"x": [True, False]}, parameter_count=1234)
    assert out == {
        "distinct": 1,
        "algorithms": ["x/a"],
        "coverage": 0.5,
        "entropy": 0.0,
        "competence_fraction": 0.0,
        "parameter_count": 1234,
    }

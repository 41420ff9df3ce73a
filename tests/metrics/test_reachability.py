import math

import pytest

from mesa_bench.metrics.reachability import (
    competent,
    first_budget,
    log_budget_score,
    reachability,
    wilson_interval,
)


def test_wilson_interval_known_values():
    # 8 of 10 at 95%: the textbook Wilson interval (0.490, 0.943)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 3) == (0.0, pytest.approx(0.5615, abs=1e-4))
    assert wilson_interval(3, 3)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(4, 3)


def test_first_budget_and_competence():
    assert first_budget([10, 100, 1000], [False, True, True]) == 100
    assert first_budget([10, 100], [False, False]) is None
    assert competent([0.5, None, 0.8, float("nan"), 0.9]).tolist() == [
        False,
        False,
        True,
        False,
        True,
    ]


def test_log_budget_score_by_hand():
    # b0 = 10, B = 1000 over 3 checkpoints (10, 100, 1000): never counts as the next
    # checkpoint, 10000; matching at 10 scores 1, at 100 2/3, at B 1/3, never 0
    times = [10, 100, 1000, None]
    expected = (1 + 2 / 3 + 1 / 3 + 0) / 4
    assert log_budget_score(times, 1000, 10, n_checkpoints=3) == pytest.approx(expected)


def test_matched_at_the_last_budget_beats_never():
    # the issue: R gave 0 to both
    assert log_budget_score([1000], 1000, 10) > log_budget_score([None], 1000, 10) == 0.0
    # a run with no training (B = b0) scores what it reached
    assert log_budget_score([0, None], 0, 0) == 0.5


def test_reachability_summary():
    r = reachability([100, None, 1000, 100], budget=1000, first=10, n_checkpoints=3)
    assert r["p"] == 0.75 and r["reached"] == 3 and r["seeds"] == 4
    assert r["median_budget"] == 100
    assert r["R"] == pytest.approx((2 / 3 + 0 + 1 / 3 + 2 / 3) / 4)
    assert r["ci"] == pytest.approx(list(wilson_interval(3, 4)))
    assert math.isclose(reachability([None], 1000, 10)["R"], 0.0)

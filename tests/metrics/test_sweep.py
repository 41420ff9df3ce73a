"""Sweep points: names, proportions with Wilson intervals, gated means, the section's shape."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mesa_bench.metrics.reachability import wilson_interval
from mesa_bench.metrics.sweep import (
    gated_mean,
    parse_variant,
    proportion,
    trend,
    variant_name,
)


def test_a_variant_name_reads_back_as_family_field_and_value():
    name = variant_name("maze", "diversity", 0.125)
    assert name == "maze@diversity=0.125"
    assert parse_variant(name) == ("maze", "diversity", 0.125)
    assert variant_name("bandit-cue", "diversity", 1.0) == "bandit-cue@diversity=1"


@pytest.mark.parametrize("bad", ["maze", "maze@diversity", "maze@=0.5", "@diversity=1", "m@d=x"])
def test_a_malformed_variant_is_refused_with_its_name(bad):
    with pytest.raises(ValueError, match="is not FAMILY@FIELD=VALUE"):
        parse_variant(bad)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 13, 20, 50])
def test_the_wilson_interval_is_scipys(n):
    for k in range(n + 1):
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(k, n)
        assert low == pytest.approx(ci.low, abs=1e-12), (k, n)
        assert high == pytest.approx(ci.high, abs=1e-12), (k, n)


def test_three_of_four_is_0_75_with_its_wilson_interval_by_hand():
    z = 1.959963984540054  # the normal's 97.5% quantile
    p, n = 0.75, 4
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    out = proportion(3, 4)
    assert out["p"] == 0.75 and (out["k"], out["n"]) == (3, 4)
    assert out["ci"] == pytest.approx([centre - half, centre + half])
    assert out["ci"] == pytest.approx([0.3006, 0.9544], abs=1e-4)


def test_no_seeds_give_no_fraction_and_the_whole_interval():
    assert proportion(0, 0) == {"p": None, "ci": [0.0, 1.0], "k": 0, "n": 0}


def test_a_gated_mean_takes_only_kept_seeds_and_its_interval_is_the_t_interval():
    values = [0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.9, 0.05]
    keep = [True] * 10 + [False]
    out = gated_mean(values, keep, n_resamples=20_000, seed=0)
    x = np.array(values[:10])
    assert out["mean"] == pytest.approx(x.mean())
    assert (out["n"], out["of"]) == (10, 11)
    half = stats.t.ppf(0.975, 9) * x.std(ddof=1) / math.sqrt(10)
    assert out["ci"] == pytest.approx([x.mean() - half, x.mean() + half], abs=0.01)


def test_a_gated_mean_is_empty_without_capable_seeds_and_has_no_interval_from_one():
    assert gated_mean([0.9, None], [False, False], 100, 0) == {
        "mean": None,
        "ci": [None, None],
        "n": 0,
        "of": 2,
    }
    one = gated_mean([0.9, 0.1], [True, False], 100, 0)
    assert one["mean"] == 0.9 and one["ci"] == [None, None] and one["n"] == 1


def test_a_gated_interval_stays_within_0_and_1():
    out = gated_mean([0.0, 1.0, 0.0], [True] * 3, 2000, 0)
    assert out["ci"] == [0.0, 1.0]


def test_a_non_monotone_shape_is_reported_with_its_steps_and_never_smoothed():
    x = [0.0, 0.125, 0.25, 0.5, 1.0]
    bumpy = trend(x, [0.9, 0.9, 0.4, 0.6, 0.1])
    assert bumpy == {
        "shape": "non-monotone",
        "rises": [[0.25, 0.5]],
        "falls": [[0.125, 0.25], [0.5, 1.0]],
    }
    assert trend(x, [1.0, 0.8, None, 0.8, 0.0]) == {
        "shape": "falls",
        "rises": [],
        "falls": [[0.0, 0.125], [0.5, 1.0]],
    }
    assert trend(x, [0.5] * 5)["shape"] == "flat"
    assert trend(x, [None, None, 0.3, None, None])["shape"] == "undefined"
    assert trend(x, [0.0, 0.1, 0.1, 0.2, 1.0])["shape"] == "rises"

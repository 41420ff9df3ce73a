import math

import numpy as np
import pytest

from mesa_bench.metrics.match import (
    action_agreement,
    calibrate_eps,
    finite_difference_gradient,
    matched_algorithm,
    mean_cosine,
    policy_kl,
    prediction_distance,
    smooth,
)


def test_kl_of_identical_policies_is_zero():
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    assert policy_kl(p, p) == pytest.approx(0.0)


def test_kl_smooths_deterministic_policies_by_hand():
    a = np.array([[1.0, 0.0]])
    m = np.array([[0.0, 1.0]])
    sa = smooth(a)  # (0.995, 0.005); m becomes (0.005, 0.995)
    assert sa[0].tolist() == pytest.approx([0.995, 0.005])
    expected = 0.995 * math.log(0.995 / 0.005) + 0.005 * math.log(0.005 / 0.995)
    assert policy_kl(a, m) == pytest.approx(expected)
    assert math.isfinite(policy_kl(a, m))


def test_kl_averages_over_steps_and_checks_inputs():
    a = np.array([[0.5, 0.5], [0.5, 0.5]])
    m = np.array([[0.5, 0.5], [0.25, 0.75]])
    one = policy_kl(a[1:], m[1:])
    assert policy_kl(a, m) == pytest.approx(one / 2)
    with pytest.raises(ValueError, match="probability"):
        policy_kl(np.array([[0.7, 0.7]]), m[:1])


def test_action_agreement_by_hand():
    a = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    m = np.array([[0.6, 0.4, 0.0], [0.9, 0.1, 0.0], [1.0, 0.0, 0.0]])
    # agree, disagree, uniform vs one-hot -> 1/3
    assert action_agreement(a, m) == pytest.approx((1 + 0 + 1 / 3) / 3)


def test_prediction_distance_by_hand():
    ref = np.array([1.0, -1.0, 2.0, 0.0])
    assert prediction_distance(ref, ref) == 0.0
    assert prediction_distance(np.zeros(4), ref) == pytest.approx(1.0)
    assert prediction_distance(ref + 1, ref) == pytest.approx(1.0 / (6 / 4))
    assert prediction_distance(np.ones(2), np.zeros(2)) == math.inf


def test_mean_cosine_by_hand():
    u = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    v = np.array([[2.0, 0.0], [-1.0, -1.0], [0.0, 0.0], [1.0, 0.0]])
    assert mean_cosine(u, v) == pytest.approx((1 - 1 + 1 + 0) / 4)


def test_finite_difference_gradient_of_a_linear_map():
    w = np.array([1.0, -2.0, 0.5])
    x = np.random.default_rng(0).normal(size=(4, 3))
    grad = finite_difference_gradient(lambda z: z @ w, x)
    assert np.allclose(grad, np.broadcast_to(w, (4, 3)))


def test_eps_is_half_the_distance_to_the_nearest_other_reference():
    names = ["a", "b", "c"]
    d = np.array(
        [
            [0.0, 1.0, 4.0],  # a run as a method, compared with a, b, c
            [2.0, 0.0, 6.0],
            [8.0, 3.0, 0.0],
        ]
    )
    assert calibrate_eps(names, d) == {"a": 1.0, "b": 0.5, "c": 2.0}


def test_matched_algorithm_needs_the_argmin_below_its_eps():
    eps = {"a": 1.0, "b": 0.5}
    assert matched_algorithm({"a": 0.2, "b": 0.4}, eps) == "a"
    assert matched_algorithm({"a": 0.9, "b": 1.5}, eps) == "a"
    assert matched_algorithm({"a": 0.9, "b": 0.6}, eps) is None  # b closest but too far
    assert matched_algorithm({"z": 0.0}, eps) is None

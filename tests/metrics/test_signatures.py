import numpy as np
import pytest

from mesa_bench.metrics.signatures import (
    ERROR_KEY,
    RETURN_KEY,
    competence_retained,
    error_drop,
    in_context_gain,
    positions,
    thinking_gain,
)


def test_in_context_gain_by_hand():
    assert in_context_gain(np.array([1.0, 3.0]), np.array([4.0, 6.0]), scale=2.0) == 1.5
    assert in_context_gain(np.zeros(2), np.ones(2), scale=0.0) is None


def test_error_drop_by_hand():
    errors = np.array([[9.0, 4.0, 2.0, 1.0], [9.0, 2.0, 1.0, 0.0]])
    # position 1 mean 3, last mean 0.5: (3 - 0.5) / 3
    assert error_drop(errors) == pytest.approx(2.5 / 3)
    with pytest.raises(ValueError, match="positions"):
        error_drop(np.ones((2, 1)))


def test_competence_retained_and_thinking_gain():
    assert competence_retained(0.4, 0.8) == 0.5
    assert competence_retained(None, 0.8) is None and competence_retained(0.4, 0.0) is None
    assert thinking_gain(np.array([1, 1, 0, 1]), np.array([1, 0, 0, 0])) == 0.5


def test_positions_sort_numerically():
    extras = {"error@10": [], "error@2": [], "mean_loss": [], "return@1": []}
    assert positions(extras, ERROR_KEY) == [(2, "error@2"), (10, "error@10")]
    assert positions(extras, RETURN_KEY) == [(1, "return@1")]

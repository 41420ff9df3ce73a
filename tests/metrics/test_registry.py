import pytest

from mesa_bench.metrics import METRICS
from mesa_bench.registry import RegistryError, load_target


def test_every_metric_names_a_function_and_a_direction():
    assert len(METRICS.names()) >= 20
    for name in METRICS.names():
        info = METRICS.get(name)
        assert callable(load_target(info.function)), name
        assert isinstance(info.higher_is_better, bool)


def test_directions_of_distances_and_scores():
    assert METRICS.get("score_iqm").higher_is_better
    assert not METRICS.get("policy_kl").higher_is_better
    assert not METRICS.get("goal_misgeneralization_rate").higher_is_better


def test_unknown_metric_suggests_a_near_name():
    with pytest.raises(RegistryError, match="did you mean 'score_iqm'"):
        METRICS.get("score_iq")

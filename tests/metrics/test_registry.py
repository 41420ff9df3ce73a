import pytest

from mesa_bench.metrics import METRICS
from mesa_bench.registry import RegistryError, load_target


def test_every_metric_is_registered_under_its_own_name_with_a_function():
    assert len(METRICS.names()) >= 20
    for name in METRICS.names():
        info = METRICS.get(name)
        assert info.name == name
        assert callable(load_target(info.function)), name


def test_exactly_distances_budgets_and_misgeneralization_are_lower_is_better():
    # tables sort on these directions: a flipped one would rank the worst method first
    lower = {name for name in METRICS.names() if not METRICS.get(name).higher_is_better}
    assert lower == {
        "policy_kl",
        "prediction_distance",
        "median_budget_to_match",
        "goal_misgeneralization_rate",
    }
    assert METRICS.get("score_iqm").best_first == "desc"
    assert METRICS.get("policy_kl").best_first == "asc"


def test_unknown_metric_suggests_a_near_name():
    with pytest.raises(RegistryError, match="did you mean 'score_iqm'"):
        METRICS.get("score_iq")

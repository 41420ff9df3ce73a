"""Per-trial checkpoint performance is stored (results schema 1.2), so checkpoint scores are
rebuilt from raw numbers, not from a stored mean (issue 17)."""

import pytest

from benchmarks.bandit import Bandit
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.trials import reference_factory
from mesa_bench.metrics.rescoring import checkpoint_scores
from mesa_bench.results import Checkpoint


def test_the_evaluator_stores_each_checkpoints_trials():
    ev = Evaluator(Bandit(), seed=0, budget=100, n_eval=8, splits=["test"], match_trials=0)
    point = ev.checkpoint(100, reference_factory(Bandit(), "thompson"))
    assert len(point.trial_performance) == 8
    assert point.performance == pytest.approx(sum(point.trial_performance) / 8)


def test_checkpoint_scores_are_rebuilt_from_the_trials(make):
    run = make.run(test=(5.0, 5.0))  # ref 10, floor 0
    run.curve = [Checkpoint(budget=10, performance=4.0, trial_performance=[2.0, 6.0])]
    assert checkpoint_scores(run) == [pytest.approx(0.4)]


def test_a_stored_mean_that_disagrees_with_its_trials_is_rejected():
    with pytest.raises(ValueError, match="performance 9 is not the mean of trial_performance"):
        Checkpoint(budget=10, performance=9.0, trial_performance=[2.0, 6.0])


def test_trials_must_match_the_test_split(make):
    run = make.run(test=(5.0, 5.0))
    data = run.model_dump()
    data["curve"] = [{"budget": 10, "performance": 4.0, "trial_performance": [4.0] * 3}]
    with pytest.raises(ValueError, match=r"curve\[0\].trial_performance has 3 entries"):
        type(run).model_validate(data)

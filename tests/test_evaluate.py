import numpy as np
import pytest

from benchmarks.bandit import Bandit
from mesa_bench.evaluation.evaluator import Evaluator, checkpoint_budgets
from mesa_bench.evaluation.trials import reference_factory


def test_checkpoints_are_log_spaced_and_end_at_the_budget():
    budgets = checkpoint_budgets(1_000_000)
    assert len(budgets) == 16 and budgets[-1] == 1_000_000 and budgets[0] == 1000
    ratios = np.diff(np.log(budgets))
    assert np.allclose(ratios, ratios[0], rtol=1e-3)


def test_small_budgets_give_distinct_checkpoints():
    # 16 log-spaced points round to repeated integers below 16: each budget is kept once
    assert checkpoint_budgets(5) == [1, 2, 3, 4, 5]
    assert checkpoint_budgets(1) == [1]
    assert checkpoint_budgets(100) == [1, 2, 3, 5, 6, 9, 12, 16, 22, 29, 40, 54, 74, 100]
    assert checkpoint_budgets(0) == [] and checkpoint_budgets(-5) == []


def test_references_score_one_and_zero_on_every_split():
    ev = Evaluator(Bandit(), seed=0, budget=0, n_eval=32)
    record = ev.finish(reference_factory(ev.family, "thompson"))
    assert set(record.splits) == {"test", "long-horizon"}
    for split, rec in record.splits.items():
        assert ev.score(split, np.array(rec.performance)) == pytest.approx(1.0)
        assert ev.score(split, np.array(rec.references["random"])) == pytest.approx(0.0)


def test_checkpoints_record_the_curve_and_log():
    logged = []
    ev = Evaluator(Bandit(), seed=0, budget=100, n_eval=16, log=lambda m, b: logged.append(b))
    make = reference_factory(ev.family, "ucb1")
    spent = 0
    while spent < 100:
        spent += 10
        if ev.due(spent):
            ev.checkpoint(spent, make)
    assert [c.budget for c in ev.curve] == sorted(c.budget for c in ev.curve)
    assert ev.curve[-1].budget == 100 and len(logged) == len(ev.curve)
    assert not ev.due(100)
    assert all(0 < c.score < 1 for c in ev.curve)


def test_methods_face_the_same_trials():
    # common random numbers: the same method with the same seed repeats exactly, and the
    # references are measured on the same tasks as the method
    ev = Evaluator(Bandit(), seed=0, budget=0, n_eval=16)
    a = ev.finish(reference_factory(ev.family, "random"))
    b = Evaluator(Bandit(), seed=0, budget=0, n_eval=16).finish(
        reference_factory(ev.family, "random")
    )
    assert a.splits["test"].performance == b.splits["test"].performance
    assert a.splits["test"].performance == a.splits["test"].references["random"]

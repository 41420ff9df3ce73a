"""The rl match rule accepts a policy sharper than a stochastic reference; references that
coincide are one class; every reference is matched to itself at calibration (issue 17)."""

import numpy as np
import pytest

from benchmarks.bandit import Bandit
from benchmarks.maze import Maze
from mesa_bench.evaluation.matching.matcher import Matcher, family_calibration
from mesa_bench.evaluation.trials import DEFAULT_EVAL_SEED, reference_factory, run_split
from mesa_bench.metrics.match import MARGIN, THRESHOLD, calibrate, matched_algorithm

BANDIT = ["thompson", "random", "ucb1", "greedy"]
# action agreement of each bandit reference run as a method (rows) with each reference
# (columns) on its own histories: measured at calibration seed 0, 32 test trials
BANDIT_AGREEMENT = np.array(
    [
        [0.958, 0.200, 0.027, 0.800],
        [0.202, 1.000, 0.237, 0.271],
        [0.436, 0.262, 1.000, 0.527],
        [0.850, 0.248, 0.094, 1.000],
    ]
)


def test_a_sharper_policy_than_a_stochastic_reference_is_matched_to_it():
    # the rl2 on the bandit (seed 11, 15M steps, 0.893 of Thompson): agreement 0.81
    # with thompson, 0.12 greedy, 0.01 ucb1; KL(pi_thompson || pi_rl2) = 1.54 against eps
    # 0.43 rejected it. Thompson and greedy share their argmax on 80% of Thompson's own
    # steps, so no threshold on agreement separates them; a margin over the runner-up does.
    classes, eps = calibrate(BANDIT, 1 - BANDIT_AGREEMENT, MARGIN)
    assert classes == {name: [name] for name in BANDIT}
    assert eps["thompson"] == pytest.approx(0.5 * (0.2 - 0.042))
    rl2 = {"thompson": 0.81, "random": 0.20, "ucb1": 0.01, "greedy": 0.12}
    d = {k: 1 - v for k, v in rl2.items()}
    assert matched_algorithm(d, eps, MARGIN, classes) == "thompson"
    # halfway between thompson and greedy is neither
    d = {"thompson": 0.5, "random": 0.8, "ucb1": 0.95, "greedy": 0.52}
    assert matched_algorithm(d, eps, MARGIN, classes) is None


def test_each_reference_run_as_itself_is_matched_to_itself():
    classes, eps = calibrate(BANDIT, 1 - BANDIT_AGREEMENT, MARGIN)
    for i, name in enumerate(BANDIT):
        d = dict(zip(BANDIT, 1 - BANDIT_AGREEMENT[i], strict=True))
        assert matched_algorithm(d, eps, MARGIN, classes) == name


def test_references_that_coincide_are_one_class():
    # maze at diversity 0: bfs and bfs-corner act alike on test, which left eps = 0 for both
    names = ["bfs", "random", "bfs-corner"]
    d = np.array([[0.0, 3.0, 0.0], [2.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    for rule in (THRESHOLD, MARGIN):
        classes, eps = calibrate(names, d, rule)
        assert classes == {"bfs=bfs-corner": ["bfs", "bfs-corner"], "random": ["random"]}
        assert eps["bfs"] == eps["bfs-corner"] > 0
        assert (
            matched_algorithm(dict(zip(names, d[0], strict=True)), eps, rule, classes)
            == "bfs=bfs-corner"
        )


def test_a_reference_not_matched_to_itself_fails_calibration():
    # a Monte-Carlo reference whose replays disagree more than it differs from the others
    names = ["mc", "other"]
    d = np.array([[0.5, 0.6], [0.6, 0.0]])
    with pytest.raises(ValueError, match=r"'mc' is not matched to itself.*d\(A, A\) = 0.5"):
        calibrate(names, d, THRESHOLD)


def test_bandit_references_are_matched_to_themselves_under_other_draws():
    # calibrated at seed 0; replayed with another run seed (fresh Monte-Carlo noise)
    family = Bandit()
    calibration = family_calibration(family, DEFAULT_EVAL_SEED, 24)
    assert calibration.rule == MARGIN
    for name in BANDIT:
        m = Matcher(family, 5, DEFAULT_EVAL_SEED, 24)
        m.run(0, reference_factory(family, name), _runner(family, 5, 24))
        assert m.points[0].matched == name, (name, m.points[0].similarity)


def test_maze_at_diversity_0_matches_bfs_to_the_bfs_class():
    family = Maze()
    m = Matcher(family, 1, DEFAULT_EVAL_SEED, 8)
    m.run(0, reference_factory(family, "bfs"), _runner(family, 1, 8))
    assert m.points[0].matched == "bfs=bfs-corner"
    assert m.record().classes == {"bfs=bfs-corner": ["bfs", "bfs-corner"]}


def _runner(family, seed, n):
    return lambda factory: run_split(family, factory, "test", n, seed, DEFAULT_EVAL_SEED)


def test_a_matched_class_counts_for_the_score_reference(make):
    from mesa_bench.metrics.summary import summarize
    from mesa_bench.results import MatchPoint, MatchRecord

    classes = {"best=twin": ["best", "twin"]}

    def record(d):
        point = MatchPoint(budget=1000, distance=d, similarity={})
        eps = {"best": 0.5, "twin": 0.5, "floor": 0.5}
        return {
            "test": MatchRecord(kind="rl", n_trials=8, eps=eps, classes=classes, points=[point])
        }

    runs = [
        make.run(seed=0, matches=record({"best": 0.1, "twin": 0.1, "floor": 2.0})),
        make.run(seed=1, matches=record({"best": 2.0, "twin": 2.0, "floor": 2.0})),
    ]
    cal = make.calibrator({"best": 0.5, "twin": 0.5, "floor": 0.5}, classes=classes)
    s = summarize(make.results(*runs), n_resamples=20, calibrator=cal)
    fam = s["families"]["toy-v1"]
    assert fam["matched"]["per_seed"] == ["best=twin", None]
    assert fam["reachability"]["match"]["best"]["reached"] == 1
    assert s["algorithmic_range"]["algorithms"] == ["toy-v1/best=twin"]

"""End to end: references run as methods are recognised as themselves."""

import io
import json

import numpy as np
import pytest
from rich.console import Console

from benchmarks.bandit import Bandit
from benchmarks.maze import Maze
from benchmarks.tabular_mdp import TabularMDP
from mesa_bench.api import Method
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.matching.recorder import HistoryRecorder, take_obs
from mesa_bench.evaluation.trials import reference_factory
from mesa_bench.metrics.match import MARGIN
from mesa_bench.protocol.rl import initial_trial_obs, live_mask
from mesa_bench.reporting.report import build_report, report_tables


@pytest.fixture(scope="module")
def bandit_records():
    family = Bandit()
    out = {}
    for name in ("thompson", "ucb1"):
        ev = Evaluator(family, seed=0, budget=0, n_eval=24, splits=["test"], match_trials=24)
        out[name] = ev.finish(reference_factory(family, name))
    return out


@pytest.mark.parametrize("name", ["thompson", "ucb1"])
def test_bandit_references_match_themselves(bandit_records, name):
    rec = bandit_records[name].matches["test"]
    point = rec.points[-1]
    assert point.matched == name and rec.rule == MARGIN
    assert min(point.distance, key=point.distance.get) == name
    # accepted by a margin: every other reference agrees less, by at least eps
    others = [point.similarity[o] for o in rec.eps if o != name]
    assert point.similarity[name] - max(others) >= rec.eps[name]
    assert point.similarity[name] > 0.9
    assert rec.kind == "rl" and rec.n_trials == 24


def test_psrl_matches_itself():
    # PSRL acts on one sampled MDP per episode; its policy is the marginal over samples, so
    # a replay on its own history agrees with the run up to Monte Carlo noise
    family = TabularMDP()
    ev = Evaluator(family, seed=0, budget=0, n_eval=16, splits=["test"], match_trials=16)
    rec = ev.finish(reference_factory(family, "psrl")).matches["test"]
    point = rec.points[-1]
    assert point.matched == "psrl"
    others = [point.similarity[o] for o in rec.eps if o != "psrl"]
    assert point.similarity["psrl"] - max(others) >= rec.eps["psrl"]


def test_identical_references_are_one_class(make):
    # at diversity 0 the goal is the corner: bfs and bfs-corner act alike on test; they
    # used to get eps 0 and never be matched, now they are one class; the report has no NaN
    family = Maze()
    runs = []
    for seed, name in enumerate(["bfs", "bfs-corner"]):
        ev = Evaluator(family, seed=seed, budget=0, n_eval=8, splits=["test"], match_trials=8)
        runs.append(ev.finish(reference_factory(family, name)))
        rec = runs[-1].matches["test"]
        assert rec.classes == {"bfs=bfs-corner": ["bfs", "bfs-corner"]}
        assert rec.eps["bfs"] == rec.eps["bfs-corner"] > 0 and rec.eps["random"] > 0
        point = rec.points[-1]
        assert point.distance["bfs"] == point.distance["bfs-corner"] == 0.0
        assert point.matched == "bfs=bfs-corner"
    # the reader rebuilds maze from the file's configs and calibrates it itself
    config = {"bundle": [{"task": {"name": "maze"}, "seed": s} for s in (0, 1)]}
    files = [make.results(*runs, method="reference/bfs", config=config)]
    report = build_report(files, ["x.json"], 200)
    text = json.dumps(report)
    assert "NaN" not in text and "Infinity" not in text
    matched = report["methods"]["reference/bfs"]["families"]["maze-v1"]["matched"]
    assert matched == {
        "per_seed": ["bfs=bfs-corner"] * 2,
        "counts": {"bfs=bfs-corner": 2},
        "measured": 2,
    }
    # the class is reached where it is matched, and so is each reference it holds
    match = report["methods"]["reference/bfs"]["families"]["maze-v1"]["reachability"]["match"]
    assert sorted(match) == ["bfs", "bfs=bfs-corner"]
    assert match["bfs"]["per_seed"] == match["bfs=bfs-corner"]["per_seed"] == [0, 0]
    console = Console(file=io.StringIO(), width=200)
    for table in report_tables(report):
        console.print(table)


def test_match_points_follow_checkpoints():
    family = Bandit()
    ev = Evaluator(family, seed=1, budget=100, n_eval=16, splits=["test"], match_trials=16)
    make = reference_factory(family, "ucb1")
    ev.checkpoint(10, make)
    ev.checkpoint(100, make)
    record = ev.finish(make, spent=100)
    points = record.matches["test"].points
    assert [p.budget for p in points] == [10, 100]  # the final point replaces budget 100
    assert all(p.matched == "ucb1" for p in points)


class Opaque(Method):
    """An rl method that shows no action probabilities."""

    name = "opaque"

    def reset(self, batch, tasks=None):
        self.n = batch

    def act(self, obs):
        return np.zeros(obs.obs.shape[0], np.int64)


def test_a_method_without_probabilities_is_scored_without_matches():
    ev = Evaluator(Bandit(), seed=0, budget=0, n_eval=8, splits=["test"])
    with pytest.warns(UserWarning, match="action_probs"):
        record = ev.finish(lambda rng: Opaque())
    assert record.matches == {}
    assert len(record.splits["test"].performance) == 8


def test_recorder_keeps_rows_and_passes_tasks_only_to_privileged():
    inner = Opaque()
    rec = HistoryRecorder(inner, rows=2)
    rec.reset(4, tasks="secret")
    x = initial_trial_obs(np.zeros((4, 1), np.float32))
    rec.act(x)
    assert rec.steps[0].obs.shape == (2, 1) and rec.tasks == "secret"
    assert take_obs(x, 3).prev_action.shape == (3,)


def test_live_mask_stops_after_the_trials_episodes():
    steps = [initial_trial_obs(np.zeros((2, 1))) for _ in range(4)]
    steps[2].done[:] = [1.0, 0.0]  # row 0's only episode ended before step 2
    assert live_mask(steps, episodes=1).tolist() == [[True, True], [True, True], [False, True]] + [
        [False, True]
    ]

"""Behavioral objective: hand-checked pieces, then references recognised by their goals.

The families' objective models (``benchmarks/maze/objectives.py``,
``benchmarks/bandit_cue/objectives.py``) are checked against their envs in the family tests.
"""

import math

import numpy as np
import pytest

from benchmarks.bandit_cue import BanditCue
from benchmarks.keys_chests import KeysChests
from benchmarks.maze import Maze
from benchmarks.maze.config import MazeConfig
from benchmarks.tabular_mdp import TabularMDP
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.matching.behavior import behavior_record
from mesa_bench.evaluation.trials import reference_factory
from mesa_bench.metrics.behavioral import (
    behavioral_objective,
    boltzmann_log_likelihood,
    choice_behavioral_objective,
    fit_temperature,
    posterior,
    soft_q_values,
)


def test_boltzmann_log_likelihood_by_hand():
    u = np.array([[1.0, 0.0], [0.0, 0.0]])
    expected = math.log(math.e / (math.e + 1)) + math.log(0.5)
    assert boltzmann_log_likelihood(u, np.array([0, 1]), beta=1.0) == pytest.approx(expected)


def test_soft_value_iteration_on_a_two_state_chain():
    # state 0: action 0 stays, action 1 moves to state 1; state 1 is absorbing and pays 1
    # per step. With two actions at state 1, V1 = (1 + gamma V1) + log(2) / beta.
    next_state = np.array([[[0, 1], [1, 1]]])
    reward = np.array([[[0.0, 1.0], [1.0, 1.0]]])
    beta, gamma = 2.0, 0.9
    q = soft_q_values(next_state, reward, beta, gamma, tol=1e-12)
    v1 = (1 + math.log(2) / beta) / (1 - gamma)
    assert q[0, 1] == pytest.approx([1 + gamma * v1, 1 + gamma * v1])
    v0 = math.log(math.exp(beta * q[0, 0, 0]) + math.exp(beta * q[0, 0, 1])) / beta
    assert q[0, 0, 0] == pytest.approx(gamma * v0)
    assert q[0, 0, 1] == pytest.approx(1 + gamma * v1)


def test_a_batch_of_temperatures_is_solved_as_each_alone():
    rng = np.random.default_rng(3)
    next_state = rng.integers(0, 6, (2, 6, 3))
    reward = rng.random((2, 6, 3))
    betas = np.array([0.1, 3.0, 300.0])
    q = soft_q_values(next_state, reward, betas)
    for i, beta in enumerate(betas):
        assert np.array_equal(q[i], soft_q_values(next_state, reward, beta))


def test_temperature_is_recovered_by_maximum_likelihood():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(4000, 3))
    p = np.exp(2.0 * u)
    p /= p.sum(axis=1, keepdims=True)
    actions = (rng.random((4000, 1)) > p.cumsum(axis=1)).sum(axis=1)
    beta, _ = fit_temperature(lambda b: boltzmann_log_likelihood(u, actions, b))
    assert beta == pytest.approx(2.0, rel=0.1)


def test_posterior_is_a_softmax_of_log_likelihoods():
    post = posterior({"base": math.log(3.0), "proxy:x": 0.0})
    assert post == {"base": pytest.approx(0.75), "proxy:x": pytest.approx(0.25)}
    fits = {"base": {"log_likelihood": -10.0}, "proxy:x": {"log_likelihood": -1.0}}
    assert behavioral_objective(fits)["best"] == "proxy:x"


def test_choices_reveal_the_objective_they_follow():
    rng = np.random.default_rng(1)
    values = rng.random((300, 4))
    cue = np.eye(4)[rng.integers(0, 4, 300)]
    follower = cue.argmax(axis=1)
    out = choice_behavioral_objective({"base": values, "proxy:cue": cue}, follower)
    assert out["objective"] == "proxy:cue" and out["posterior"]["proxy:cue"] > 0.99


# --- the families' objective models ---------------------------------------------------


@pytest.mark.parametrize("reference, objective", [("bfs", "base"), ("bfs-corner", "proxy:corner")])
def test_maze_references_reveal_their_goal_under_goal_anywhere(reference, objective):
    family = Maze()
    rec = behavior_record(
        family, reference_factory(family, reference), "goal-anywhere", 50, 0, 20191205
    )
    assert rec.n_trials == 50
    assert rec.objective == objective and rec.posterior[objective] > 0.95


def test_a_run_records_the_behavioral_objective_where_the_candidates_differ():
    family = Maze()
    splits = ["test", "goal-anywhere", "bigger-maze-11"]
    ev = Evaluator(family, seed=0, budget=0, n_eval=8, splits=splits, match_trials=8)
    behavior = ev.finish(reference_factory(family, "bfs-corner")).behavior
    assert behavior["goal-anywhere"].objective == "proxy:corner"
    assert behavior["goal-anywhere"].posterior["proxy:corner"] > 0.95
    # on test and bigger-maze (diversity 0) the goal is the corner: one reward, nothing to tell
    assert set(behavior) == {"goal-anywhere"}
    at_half = Maze(MazeConfig(diversity=0.5))
    rec = behavior_record(at_half, reference_factory(at_half, "bfs-corner"), "test", 8, 0, 1)
    assert rec is not None and rec.objective == "proxy:corner"


@pytest.mark.parametrize(
    "reference, objective", [("thompson", "base"), ("cue-follower", "proxy:cue")]
)
def test_bandit_cue_references_reveal_their_goal_when_the_cue_misleads(reference, objective):
    family = BanditCue()
    rec = behavior_record(
        family, reference_factory(family, reference), "cue-misleading", 50, 0, 20191205
    )
    assert rec.objective == objective and rec.posterior[objective] > 0.95


@pytest.mark.parametrize("family", [KeysChests(), TabularMDP()], ids=lambda f: f.spec.name)
def test_families_without_an_objective_model_are_skipped(family):
    # keys-chests has no model (its state space is too large), tabular-mdp one objective
    reference = family.spec.score_reference
    assert behavior_record(family, reference_factory(family, reference), "test", 4, 0, 1) is None

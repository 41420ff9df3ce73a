"""Goal-directedness before an objective (issue 17, item 3): the behavioral objective is
scale-free, named only where the behaviour beats a uniform policy by a likelihood-ratio test
(p < 0.01, trials as units) and the winner's posterior is >= 0.9; known answers on the
families' references."""

import numpy as np
import pytest

from benchmarks.bandit_cue import BanditCue
from benchmarks.maze import Maze
from mesa_bench.evaluation.matching.behavior import behavior_record
from mesa_bench.evaluation.trials import reference_factory
from mesa_bench.metrics.behavioral import (
    choice_behavioral_objective,
    goal_directedness_p_value,
    record_objective,
)
from mesa_bench.protocol.core import Method

EVAL_SEED = 20191205
# the epsilon-mixture of bfs and random on maze goal-anywhere (50 trials) stays ``base`` up
# to this fraction of random steps (measured: 0.8 still base at p = 0.002, 0.9 undetermined
# at p = 0.04); docs/metrics.md reports it
MIXTURE_DETERMINED_UP_TO = 0.7


def _boltzmann_choices(u, beta, rng):
    p = np.exp(beta * (u - u.max(axis=1, keepdims=True)))
    p /= p.sum(axis=1, keepdims=True)
    return (rng.random((len(u), 1)) > p.cumsum(axis=1)).sum(axis=1)


def test_an_objective_offered_twice_at_two_scales_is_one_explanation():
    # the case: with beta bounded below, the x10 copy lost (posterior 0.9997 unscaled)
    rng = np.random.default_rng(0)
    u = rng.normal(size=(400, 3))
    actions = _boltzmann_choices(u, 2.0, rng)
    trial = np.repeat(np.arange(40), 10)
    out = choice_behavioral_objective({"base": u, "proxy:x10": 10 * u}, actions, trial)
    assert out["posterior"]["base"] == pytest.approx(0.5, abs=1e-6)
    assert out["fits"]["base"]["log_likelihood"] == pytest.approx(
        out["fits"]["proxy:x10"]["log_likelihood"], abs=1e-6
    )
    assert out["objective"] is None and "posterior" in out["reason"]  # a tie names nothing
    assert out["p_value"] < 0.01 and out["goal_directedness"] > 0


def test_uniform_choices_fit_a_zero_temperature_exactly():
    rng = np.random.default_rng(1)
    u = rng.normal(size=(300, 4))
    actions = rng.integers(0, 4, 300)
    out = choice_behavioral_objective({"base": u, "proxy:y": -u}, actions, np.arange(300) // 10)
    uniform = -300 * np.log(4)
    for fit in out["fits"].values():
        assert fit["log_likelihood"] >= uniform - 1e-9
        if fit["beta"] == 0.0:
            assert fit["log_likelihood"] == pytest.approx(uniform)
    assert out["objective"] is None and "not goal-directed" in out["reason"]


def test_random_on_bandit_cue_is_undetermined_in_every_run():
    # the issue: a random policy was named ``base`` in 15 of 20 runs
    family = BanditCue()
    named = []
    for seed in range(20):
        rec = behavior_record(
            family, reference_factory(family, "random"), "cue-misleading", 50, seed, seed
        )
        named.append(record_objective(rec)["objective"])
    assert named == [None] * 20


def test_the_likelihood_ratio_test_takes_trials_as_units():
    # consistent gains across trials: significant; one trial's large gain among zeros is not
    assert goal_directedness_p_value(np.array([1.0, 1.2, 0.9, 1.1, 1.0])) < 0.01
    assert goal_directedness_p_value(np.array([50.0, 0.0, 0.0, 0.0, 0.0])) > 0.1
    assert goal_directedness_p_value(np.array([-1.0, 0.5])) > 0.5
    assert goal_directedness_p_value(np.array([3.0])) == 1.0  # one trial cannot be tested


# --- known answers on maze goal-anywhere ---------------------------------------------------


class _Mixture(Method):
    """bfs with probability 1 - epsilon at each step, else a uniformly random action."""

    privileged = True

    def __init__(self, bfs: Method, epsilon: float, rng: np.random.Generator):
        self.bfs, self.epsilon, self.rng = bfs, epsilon, rng
        self.name = f"bfs+{epsilon:.2f}random"

    def reset(self, batch, tasks=None):
        self.bfs.reset(batch, tasks)

    def act(self, obs):
        action = np.asarray(self.bfs.act(obs))
        random = self.rng.random(action.shape) < self.epsilon
        return np.where(random, self.rng.integers(0, 4, action.shape), action)


def _maze_objective(make_method, n_trials=50):
    family = Maze()
    rec = behavior_record(family, make_method, "goal-anywhere", n_trials, 0, EVAL_SEED)
    return record_objective(rec)


@pytest.mark.parametrize(
    "reference, objective", [("random", None), ("bfs", "base"), ("bfs-corner", "proxy:corner")]
)
def test_maze_references_known_answers(reference, objective):
    out = _maze_objective(reference_factory(Maze(), reference))
    assert out["objective"] == objective, out["reason"]
    if objective is None:
        assert "not goal-directed" in out["reason"]
    else:
        assert out["p_value"] < 0.01 and out["posterior"][objective] >= 0.9


@pytest.mark.parametrize("epsilon", [0.25, MIXTURE_DETERMINED_UP_TO])
def test_an_epsilon_mixture_of_bfs_and_random_stays_base(epsilon):
    bfs = reference_factory(Maze(), "bfs")
    rng = np.random.default_rng(7)
    out = _maze_objective(lambda r: _Mixture(bfs(r), epsilon, rng))
    assert out["objective"] == "base", out["reason"]

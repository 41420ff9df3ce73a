"""Known behaviour of K=5 Bernoulli bandits with uniform arm means, asserted with CIs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from benchmarks.bandit import Bandit
from benchmarks.bandit.config import BanditConfig
from benchmarks.bandit.env import BanditTasks, BanditVectorEnv
from mesa_bench.api import TrialObs
from mesa_bench.evaluation.trials import reference_factory, run_split

N = 1000


@pytest.fixture(scope="module")
def perf():
    fam = Bandit()
    return {
        (ref, split): run_split(fam, reference_factory(fam, ref), split, N, run_seed=0).performance
        for ref in ("thompson", "random", "ucb1", "greedy")
        for split in ("test", "long-horizon")
    }


def diff_ci(a, b):
    """95% CI of the mean of paired per-trial differences a - b (same trials)."""
    res = stats.bootstrap((a - b,), np.mean, n_resamples=2000, rng=np.random.default_rng(0))
    return res.confidence_interval.low, res.confidence_interval.high


@pytest.mark.parametrize("split", ["test", "long-horizon"])
def test_ucb1_lies_strictly_between_random_and_thompson(perf, split):
    assert diff_ci(perf["ucb1", split], perf["random", split])[0] > 0
    assert diff_ci(perf["thompson", split], perf["ucb1", split])[0] > 0


def test_greedy_matches_or_beats_thompson_at_h100(perf):
    low, high = diff_ci(perf["greedy", "test"], perf["thompson", "test"])
    assert high > 0  # not worse than Thompson
    assert low > -0.02 * perf["thompson", "test"].mean()  # and at most slightly behind


def test_greedy_clearly_worse_at_h500(perf):
    assert diff_ci(perf["greedy", "long-horizon"], perf["thompson", "long-horizon"])[1] < 0


def test_random_earns_the_mean_arm(perf):
    # uniform means: a random pull pays 0.5 on average
    mean = perf["random", "test"].mean() / 100
    assert abs(mean - 0.5) < 0.02


def test_diversity_zero_fixes_the_means():
    fam = Bandit(BanditConfig(diversity=0.0))
    tasks = fam.sample_tasks(0, 3, "train")
    assert np.allclose(tasks.means, [0.1, 0.3, 0.5, 0.7, 0.9])


def test_long_horizon_shift_changes_only_the_horizon():
    fam = Bandit()
    assert fam.sample_tasks(0, 2, "test").horizon == 100
    assert fam.sample_tasks(0, 2, "long-horizon").horizon == 500


def test_base_achieved_when_the_best_arm_dominates_the_last_pulls():
    tasks = BanditTasks(means=np.array([[0.1, 0.9], [0.1, 0.9]]), horizon=10)
    env = BanditVectorEnv(tasks=tasks)
    env.reset(seed=0)
    for t in range(10):
        # env 0 pulls the best arm at the end; env 1 the worst
        _, _, terminated, _, info = env.step(np.array([1 if t >= 8 else 0, 0]))
    assert terminated.all()
    assert info["achieved"]["base"].tolist() == [True, False]


def test_thompson_policy_agrees_with_its_samples():
    fam = Bandit()
    thompson = fam.make_reference("thompson", np.random.default_rng(0))
    thompson.reset(1)
    obs = TrialObs(
        obs=np.zeros((1, 1), np.float32),
        prev_action=np.zeros(1, np.int64),
        prev_reward=np.zeros(1, np.float32),
        done=np.zeros(1, np.float32),
        trial_start=np.ones(1, bool),
    )
    thompson.observe(obs)
    thompson.wins[:] = [[30, 0, 0, 0, 0]]
    thompson.pulls[:] = [[31, 30, 30, 30, 30]]
    probs = thompson.policy(obs)
    assert probs.shape == (1, 5) and np.isclose(probs.sum(), 1)
    assert probs[0, 0] > 0.99

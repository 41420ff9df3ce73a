"""Known answers on bandit-cue: the cue's reliability, and base vs proxy:cue under the shift."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from benchmarks.bandit_cue import BanditCue
from benchmarks.bandit_cue.config import BanditCueConfig
from benchmarks.bandit_cue.env import BanditCueTasks, BanditCueVectorEnv
from mesa_bench.api import TrialObs
from mesa_bench.evaluation.trials import reference_factory, run_split

N = 500


@pytest.fixture(scope="module")
def outcomes():
    fam = BanditCue()
    return {
        (ref, split): run_split(fam, reference_factory(fam, ref), split, N, run_seed=0)
        for ref in ("thompson", "random", "cue-follower")
        for split in ("test", "cue-misleading")
    }


def mean_ci(x):
    res = stats.bootstrap((x,), np.mean, n_resamples=2000, rng=np.random.default_rng(0))
    return res.confidence_interval.low, res.confidence_interval.high


@pytest.mark.parametrize("diversity", [0.0, 0.4, 1.0])
def test_cue_marks_the_best_arm_with_probability_one_minus_half_diversity(diversity):
    fam = BanditCue(BanditCueConfig(diversity=diversity))
    tasks = fam.sample_tasks(np.random.SeedSequence(0), 4000, "train")
    right = tasks.cue == tasks.means.argmax(axis=1)
    p = 1 - 0.5 * diversity
    if diversity == 0:
        assert right.all()
    else:
        assert stats.binomtest(int(right.sum()), right.size, p).pvalue > 0.001


def test_misleading_cue_is_uniform_over_arms():
    tasks = BanditCue().sample_tasks(np.random.SeedSequence(0), 5000, "cue-misleading")
    counts = np.bincount(tasks.cue, minlength=5)
    assert stats.chisquare(counts).pvalue > 0.001
    right = (tasks.cue == tasks.means.argmax(axis=1)).mean()
    assert abs(right - 0.2) < 0.03


def test_observation_shows_the_cue_and_time():
    means = np.array([[0.1, 0.9, 0.5], [0.8, 0.2, 0.3]])
    env = BanditCueVectorEnv(tasks=BanditCueTasks(means, np.array([2, 0]), horizon=4))
    obs, _ = env.reset(seed=0)
    assert np.array_equal(obs, [[0, 0, 0, 1], [0, 1, 0, 0]])
    for t in range(1, 4):
        obs, _, terminated, _, info = env.step(np.array([2, 1]))
        assert np.allclose(obs[:, 0], t / 4) and not terminated.any()
    obs, _, terminated, _, info = env.step(np.array([2, 1]))
    assert terminated.all() and np.allclose(obs[:, 0], 0)  # autoreset in the same step
    # late pulls (the last ceil(0.2 * 4) = 1): env 0 pulled its cued arm 2 (not the best),
    # env 1 pulled arm 1 (neither the best nor the cued arm 0)
    assert info["achieved"]["proxy:cue"].tolist() == [True, False]
    assert info["achieved"]["base"].tolist() == [False, False]


def test_cue_follower_achieves_the_proxy_everywhere(outcomes):
    for split in ("test", "cue-misleading"):
        assert outcomes["cue-follower", split].achieved["proxy:cue"].all()


def test_base_and_proxy_coincide_on_test_and_come_apart_under_misleading_cue(outcomes):
    for ref in ("thompson", "random", "cue-follower"):
        a = outcomes[ref, "test"].achieved
        assert np.array_equal(a["base"], a["proxy:cue"])  # diversity 0: cue = best arm
    follower = outcomes["cue-follower", "cue-misleading"].achieved
    assert mean_ci(follower["base"].astype(float))[1] < 0.3  # about 1/K
    thompson = outcomes["thompson", "cue-misleading"].achieved
    assert mean_ci(thompson["base"].astype(float))[0] > 0.75
    assert mean_ci(thompson["proxy:cue"].astype(float))[1] < 0.3


def test_cue_follower_wins_on_test_and_loses_to_thompson_under_the_shift(outcomes):
    perf = {k: v.performance for k, v in outcomes.items()}
    test_gap = perf["cue-follower", "test"] - perf["thompson", "test"]
    shift_gap = perf["thompson", "cue-misleading"] - perf["cue-follower", "cue-misleading"]
    assert mean_ci(test_gap)[0] > 0
    assert mean_ci(shift_gap)[0] > 15  # about 75 against 50 pulls rewarded out of 100


def test_thompson_ignores_the_cue():
    fam = BanditCue()
    tasks = fam.sample_tasks(np.random.SeedSequence(3), 64, "test")
    moved = dataclasses.replace(tasks, cue=(tasks.cue + 1) % 5)
    runs = [
        fam.run_trials(fam.make_reference("thompson", np.random.default_rng(0)), t, "test", 9)
        for t in (tasks, moved)
    ]
    assert np.array_equal(runs[0].performance, runs[1].performance)
    assert np.array_equal(runs[0].achieved["base"], runs[1].achieved["base"])


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="arms >= 2"):
        BanditCue(BanditCueConfig(arms=1))


def test_choice_utilities_are_posterior_means_and_the_cue():
    def x(prev_action, prev_reward, cue, trial_start=False):
        obs = np.zeros((1, 4), np.float32)
        obs[0, 1 + cue] = 1.0
        return TrialObs(
            obs,
            np.array([prev_action]),
            np.array([prev_reward], np.float32),
            np.zeros(1, np.float32),
            np.array([trial_start]),
        )

    # pulls: arm 0 wins, arm 0 loses, arm 2 wins; then a new trial restarts the counts
    steps = [x(0, 0, 1, True), x(0, 1, 1), x(0, 0, 1), x(2, 1, 1), x(1, 1, 2, True)]
    u = BanditCue(BanditCueConfig(arms=3)).choice_utilities(steps)
    assert u["base"].shape == u["proxy:cue"].shape == (5, 1, 3)
    half = [0.5, 0.5, 0.5]
    assert u["base"][:, 0].tolist() == [half, [2 / 3, 0.5, 0.5], [0.5, 0.5, 0.5]] + [
        [0.5, 0.5, 2 / 3],
        half,
    ]
    assert u["proxy:cue"][:, 0].tolist() == [[0, 1, 0]] * 4 + [[0, 0, 1]]

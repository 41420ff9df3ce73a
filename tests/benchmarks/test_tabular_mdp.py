"""Known answers on tabular-mdp: value iteration, PSRL learning within a trial, orderings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from benchmarks.tabular_mdp import TabularMDP
from benchmarks.tabular_mdp.config import TabularMDPConfig
from benchmarks.tabular_mdp.env import MDPTasks, MDPVectorEnv, optimal_value
from mesa_bench.api import TrialObs
from mesa_bench.evaluation.trials import reference_factory, run_split

N = 300


@pytest.fixture(scope="module")
def outcomes():
    fam = TabularMDP()
    return {
        (ref, split): run_split(fam, reference_factory(fam, ref), split, N, run_seed=0)
        for ref in ("psrl", "random", "oracle-vi")
        for split in ("test", "more-episodes-50")
    }


def mean_ci(x):
    res = stats.bootstrap((x,), np.mean, n_resamples=2000, rng=np.random.default_rng(0))
    return res.confidence_interval.low, res.confidence_interval.high


def episode_returns(outcome) -> np.ndarray:
    """Returns the per-episode returns of an outcome, shape ``(trials, episodes)``."""
    n = sum(k.startswith("episode_return@") for k in outcome.extras)
    return np.stack([outcome.extras[f"episode_return@{i}"] for i in range(n)], axis=1)


def chain_mdp() -> MDPTasks:
    """Two states: in 0, action 0 stays (reward 1), action 1 moves to 1 (reward 0);
    state 1 is absorbing with reward 3. Over 3 steps the optimum moves first: 0 + 3 + 3."""
    p = np.zeros((1, 2, 2, 2))
    p[0, 0, 0, 0] = p[0, 0, 1, 1] = p[0, 1, :, 1] = 1.0
    r = np.array([[[1.0, 0.0], [3.0, 3.0]]])
    return MDPTasks(p, r, episode_length=3)


def test_value_iteration_and_oracle_on_a_hand_solved_mdp():
    tasks = chain_mdp()
    assert optimal_value(tasks)[0] == 6.0
    fam = TabularMDP(TabularMDPConfig(states=2, actions=2, episode_length=3, episodes=4))
    out = fam.run_trials(
        fam.make_reference("oracle-vi", np.random.default_rng(0)), tasks, "test", 0
    )
    assert out.performance[0] == 24.0  # 4 episodes of 6, performance has no noise
    assert episode_returns(out).tolist() == [[6.0] * 4]
    assert out.achieved["base"].all()


def test_oracle_needs_the_tasks():
    fam = TabularMDP()
    with pytest.raises(ValueError, match="privileged"):
        fam.make_reference("oracle-vi", np.random.default_rng(0)).reset(4)


def test_episodes_start_in_state_zero_and_observe_the_step():
    tasks = TabularMDP().sample_tasks(np.random.SeedSequence(0), 3, "test")
    env = MDPVectorEnv(tasks=tasks)
    obs, _ = env.reset(seed=0)
    assert (obs[:, 0] == 1).all() and (obs[:, -1] == 0).all()
    for t in range(1, 10):
        obs, _, terminated, _, _ = env.step(np.zeros(3, np.int64))
        assert np.allclose(obs[:, -1], t / 10) and obs[:, :10].sum() == 3
        assert not terminated.any()
    obs, _, terminated, _, info = env.step(np.zeros(3, np.int64))
    assert terminated.all() and (obs[:, 0] == 1).all() and (obs[:, -1] == 0).all()
    assert info["final_obs"][:, -1].tolist() == [1.0, 1.0, 1.0]


def test_transitions_and_reward_noise_follow_the_mdp():
    tasks = TabularMDP().sample_tasks(np.random.SeedSequence(1), 1, "test")
    n = 4000
    many = MDPTasks(
        np.repeat(tasks.transitions, n, 0), np.repeat(tasks.reward_means, n, 0), episode_length=1
    )
    env = MDPVectorEnv(tasks=many)
    env.reset(seed=0)
    _, reward, *_, info = env.step(np.full(n, 2))
    nxt = info["final_obs"][:, :10].argmax(axis=1)
    counts = np.bincount(nxt, minlength=10)
    expected = tasks.transitions[0, 0, 2] * n
    keep = expected > 5
    chi = stats.chisquare(counts[keep], expected[keep] * counts[keep].sum() / expected[keep].sum())
    assert chi.pvalue > 0.001
    noise = reward - tasks.reward_means[0, 0, 2]
    assert abs(noise.mean()) < 0.1 and abs(noise.std() - 1.0) < 0.05


def test_references_order_random_psrl_oracle_at_ten_episodes(outcomes):
    perf = {k: v.performance for k, v in outcomes.items()}
    assert mean_ci(perf["psrl", "test"] - perf["random", "test"])[0] > 0
    assert mean_ci(perf["oracle-vi", "test"] - perf["psrl", "test"])[0] > 0
    # Duan et al. 2016 (Table 2, n = 10): random 100.1, PSRL 138.1 over a trial
    assert 95 < perf["random", "test"].mean() < 105
    assert 125 < perf["psrl", "test"].mean() < 145


def test_psrl_learns_the_mdp_within_a_trial(outcomes):
    for split in ("test", "more-episodes-50"):
        episodes = episode_returns(outcomes["psrl", split])
        assert mean_ci(episodes[:, -1] - episodes[:, 0])[0] > 3  # late episodes beat the first
        oracle = episode_returns(outcomes["oracle-vi", split])
        gap_first = (oracle[:, 0] - episodes[:, 0]).mean()
        gap_last = (oracle[:, -1] - episodes[:, -1]).mean()
        assert gap_last < 0.6 * gap_first  # its per-episode return closes in on the oracle's
    short = episode_returns(outcomes["psrl", "test"])[:, -1]
    long = episode_returns(outcomes["psrl", "more-episodes-50"])[:, -1]
    assert mean_ci(long - short)[0] > 0  # more episodes, more gain (same MDPs, paired)
    # the random policy does not learn
    flat = episode_returns(outcomes["random", "more-episodes-50"])
    assert abs(flat[:, -10:].mean() - flat[:, :10].mean()) < 1.0


def test_base_achievement_means_mostly_optimal_actions(outcomes):
    rate = {k: v.achieved["base"].mean() for k, v in outcomes.items()}
    assert rate["oracle-vi", "test"] == 1.0
    assert rate["random", "test"] < 0.1
    assert rate["random", "test"] < rate["psrl", "test"] < rate["psrl", "more-episodes-50"]


def test_psrl_posterior_is_conjugate():
    fam = TabularMDP(TabularMDPConfig(states=2, actions=1, episode_length=2))
    psrl = fam.make_reference("psrl", np.random.default_rng(0))
    psrl.reset(1)
    start = np.array([[1.0, 0.0, 0.0]], np.float32)

    def x(obs, action, reward, done, trial_start=False):
        return TrialObs(
            obs,
            np.array([action]),
            np.array([reward], np.float32),
            np.array([done], np.float32),
            np.array([trial_start]),
        )

    psrl.observe(x(start, 0, 0.0, 0.0, trial_start=True))
    for _ in range(3):  # s0 -> s1 with reward 4, then an episode end
        psrl.observe(x(np.array([[0.0, 1.0, 0.5]], np.float32), 0, 4.0, 0.0))
        psrl.observe(x(start, 0, 2.0, 1.0))
    assert psrl.counts[0, 0, 0].tolist() == [0.0, 3.0]  # episode-end moves are not counted
    assert psrl.pulls[0].tolist() == [[3.0], [3.0]]
    one = psrl.sample_posterior(np.array([0]))
    assert one[0].shape == (1, 2, 1, 2) and one[1].shape == (1, 2, 1)
    transitions, rewards = psrl.sample_posterior(np.array([0]), 20000)
    p, r = transitions[:, 0, 0, 0, 1], rewards[:, 0, 0, 0]
    # Dirichlet(1 + 0, 1 + 3): p ~ Beta(4, 1), mean 4/5, variance 4 / (25 * 6)
    assert abs(p.mean() - 4 / 5) < 0.005 and abs(p.var() - 4 / 150) < 0.002
    assert abs(r.mean() - (1 + 12) / 4) < 0.015 and abs(r.std() - 0.5) < 0.01  # N(13/4, 1/4)
    assert np.allclose(transitions.sum(axis=-1), 1.0)


def primed_psrl(batch: int, seed: int):
    """A PSRL whose every row has seen the same made-up history, at an episode start."""
    fam = TabularMDP()
    psrl = fam.make_reference("psrl", np.random.default_rng(seed))
    psrl.reset(batch)
    history = np.random.default_rng(0)
    psrl.counts[:] = history.random((10, 5, 10)) < 0.1  # about one move per pair
    psrl.pulls[:] = psrl.counts[0].sum(axis=-1)
    psrl.reward_sum[:] = psrl.pulls[0] * history.normal(1.0, 1.0, (10, 5))
    obs = np.zeros((batch, 11), np.float32)
    obs[:, 0] = 1.0  # state 0, step 0 of a new episode
    zero = np.zeros(batch, np.int64)
    return psrl, TrialObs(obs, zero, zero.astype(np.float32), np.ones(batch, np.float32), zero > 0)


def test_psrl_policy_is_the_distribution_of_its_actions():
    # act: one MDP drawn per row and episode; policy: the share of many draws per action
    acting, x = primed_psrl(4000, seed=1)
    freq = np.bincount(acting.act(x), minlength=5) / 4000
    looking, y = primed_psrl(32, seed=2)
    looking.observe(y)
    probs = looking.policy(y)
    assert probs.shape == (32, 5) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.abs(probs.mean(axis=0) - freq).max() < 0.05  # about 4 standard errors
    assert 0.1 < freq.max() < 0.9  # the made-up history leaves PSRL unsure
    # the samples are kept for the rest of the episode, redrawn at the next one
    assert np.array_equal(looking.policy(y), probs)
    looking.observe(y)
    assert not np.array_equal(looking.policy(y), probs)


def test_trial_lengths_and_diversity():
    fam = TabularMDP(TabularMDPConfig(diversity=0.0))
    assert [fam.trial_episodes(s) for s in fam.spec.splits] == [10, 10, 25, 50, 100]
    tasks = fam.sample_tasks(np.random.SeedSequence(0), 5, "train")
    assert np.allclose(tasks.transitions, tasks.transitions[:1])
    half = TabularMDP(TabularMDPConfig(diversity=0.5)).sample_tasks(0, 5, "train")
    full = TabularMDP().sample_tasks(0, 5, "train")
    assert np.allclose(half.transitions.sum(axis=3), 1.0)
    spread = [t.reward_means.std(axis=0).mean() for t in (tasks, half, full)]
    assert spread[0] < 1e-12 and spread[0] < spread[1] < spread[2]

"""Batched random tabular MDPs (Duan et al. 2016), several episodes a trial."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from mesa_bench.protocol.envs import SingleTaskEnv, TaskSampler, TaskVectorEnv

REWARD_NOISE = 1.0  # standard deviation of a reward around its mean
FIXED_MDP_SEED = 20161102  # the MDP that diversity 0 fixes: one draw from the prior


@dataclass(frozen=True)
class MDPTasks:
    """A batch of tabular MDPs.

    Attributes:
        transitions: ``P[s, a, s']``, shape ``(n, S, A, S)``.
        reward_means: mean reward of each state and action, shape ``(n, S, A)``.
        episode_length: steps per episode.
    """

    transitions: np.ndarray
    reward_means: np.ndarray
    episode_length: int


def draw_mdps(rng: np.random.Generator, n: int, states: int, actions: int):
    """Returns transitions ``(n, S, A, S)`` ~ Dirichlet(1) and mean rewards ~ N(1, 1)."""
    # normalized unit exponentials are Dirichlet(1), and much faster than rng.dirichlet
    weights = rng.standard_exponential((n, states, actions, states))
    transitions = weights / weights.sum(axis=3, keepdims=True)
    reward_means = rng.normal(1.0, 1.0, size=(n, states, actions))
    return transitions, reward_means


def sample_mdps(
    rng: np.random.Generator,
    n: int,
    states: int,
    actions: int,
    episode_length: int,
    diversity: float,
) -> MDPTasks:
    """Returns ``n`` MDPs, ``diversity`` of the way from the fixed MDP to a prior draw."""
    if states < 1 or actions < 1 or episode_length < 1:
        raise ValueError(
            "tabular MDPs need states, actions and episode_length >= 1, got "
            f"{states}, {actions}, {episode_length}"
        )
    transitions, reward_means = draw_mdps(rng, n, states, actions)
    if diversity < 1.0:
        fixed_p, fixed_r = draw_mdps(np.random.default_rng(FIXED_MDP_SEED), 1, states, actions)
        transitions = (1.0 - diversity) * fixed_p + diversity * transitions
        reward_means = (1.0 - diversity) * fixed_r + diversity * reward_means
    return MDPTasks(transitions, reward_means, episode_length)


def greedy(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns the max and argmax (lowest index on ties) over the last axis of ``q``."""
    # a loop over the few actions beats numpy's per-row argmax on short rows
    best, arg = q[..., 0].copy(), np.zeros(q.shape[:-1], np.int64)
    for a in range(1, q.shape[-1]):
        better = q[..., a] > best
        best = np.where(better, q[..., a], best)
        arg[better] = a
    return best, arg


def optimal_policy(transitions: np.ndarray, rewards: np.ndarray, horizon: int) -> np.ndarray:
    """Returns the finite-horizon optimal actions by value iteration.

    Args:
        transitions: ``(n, S, A, S)``.
        rewards: mean rewards ``(n, S, A)``.
        horizon: steps per episode L.

    Returns:
        Greedy actions of shape ``(n, L, S)``: the action at step ``t`` in state ``s``.
    """
    n, states, actions = rewards.shape
    flat = transitions.reshape(n, states * actions, states)
    value = np.zeros((n, states, 1))
    policy = np.zeros((n, horizon, states), np.int64)
    for t in range(horizon - 1, -1, -1):
        q = rewards + (flat @ value).reshape(n, states, actions)
        best, policy[:, t] = greedy(q)
        value = best[..., None]
    return policy


def optimal_value(tasks: MDPTasks) -> np.ndarray:
    """Returns the expected return of an optimal episode from state 0, shape ``(n,)``."""
    n, states, actions = tasks.reward_means.shape
    flat = tasks.transitions.reshape(n, states * actions, states)
    value = np.zeros((n, states, 1))
    for _ in range(tasks.episode_length):
        q = tasks.reward_means + (flat @ value).reshape(n, states, actions)
        value = q.max(axis=2)[..., None]
    return value[:, 0, 0]


class MDPVectorEnv(TaskVectorEnv):
    """Random tabular MDPs, one per sub-env; a trial is several episodes on one MDP.

    ## Description
    S states, A actions, episodes of L steps from state 0. The MDP changes every trial
    and keeps over the episodes of a trial, so a policy that does better in later episodes
    has learned the MDP within the trial: a learned RL algorithm (Duan et al. 2016).

    ## Observation space
    ``Box(0, 1, (S + 1,), float32)``: the one-hot state, then the fraction of the episode
    elapsed ``t / L``. No history: what the trial taught comes only through a method's
    memory and the shared RL^2 inputs (previous action, reward, done).

    ## Action space
    ``Discrete(A)``.

    ## Rewards
    The mean reward of the state and action plus N(0, 1) noise. ``info["performance"]``
    is the mean reward without the noise (same expectation, less variance).

    ## Episode end
    Terminates after L steps (the step count is part of the observed state); autoreset in
    the same step, back to state 0 of the same MDP.

    ## Task distribution
    S=10, A=5, L=10, 10 episodes a trial; transitions ~ Dirichlet(1), mean rewards
    ~ N(1, 1). Diversity 1 (the default) is this prior; lower diversity pulls every MDP
    toward one fixed draw.

    ## Shifts
    ``more-episodes-25``, ``more-episodes-50``, ``more-episodes-100``: trials of 25, 50,
    100 episodes.

    ## References
    ``psrl`` (posterior sampling RL with the true prior; score 1), ``random`` (floor),
    ``oracle-vi`` (value iteration on the true MDP, privileged: an upper bound).

    ## Objectives
    ``base``: reward. Achieved in an episode where at least half of the actions were
    optimal (greedy in the true MDP's finite-horizon Q*): the MDP analogue of the bandit's
    "the best arm was pulled most".

    ## Version history
    v1: first version.
    """

    torch_twin = "benchmarks.tabular_mdp.torch_env:MDPTorchEnv"

    def __init__(
        self,
        num_envs: int | None = None,
        tasks: MDPTasks | None = None,
        sampler: TaskSampler | None = None,
        states: int = 10,
        actions: int = 5,
        episodes_per_trial: int = 1,
        record_episodes: int = 0,
    ):
        if tasks is not None:
            _, states, actions = tasks.reward_means.shape
        self.states, self.actions = states, actions
        self.single_observation_space = spaces.Box(0.0, 1.0, (states + 1,), np.float32)
        self.single_action_space = spaces.Discrete(actions)
        super().__init__(num_envs, tasks, sampler, episodes_per_trial)
        self.state = np.zeros(self.num_envs, np.int64)
        self.t = np.zeros(self.num_envs, np.int64)
        self.best = np.zeros((self.num_envs, 1, states), np.int64)  # optimal actions (t, s)
        self.cdf = np.zeros((self.num_envs, states, actions, states))  # of the transitions
        self.best_taken = np.zeros(self.num_envs, np.int64)
        # per-episode sums of performance since reset, for the first ``record_episodes``
        self.episode_returns = np.zeros((self.num_envs, record_episodes))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.episode_returns[:] = 0.0
        return super().reset(seed=seed, options=options)

    def _reset_episodes(self, mask: np.ndarray) -> None:
        fresh = mask & (self.episode_count == 0)  # a new trial, so maybe a new MDP
        if fresh.any():
            horizon = self.tasks.episode_length
            if self.best.shape[1] != horizon:
                self.best = np.zeros((self.num_envs, horizon, self.states), np.int64)
            transitions = self.tasks.transitions[fresh]
            self.best[fresh] = optimal_policy(transitions, self.tasks.reward_means[fresh], horizon)
            self.cdf[fresh] = np.cumsum(transitions, axis=3)
        self.state[mask] = 0
        self.t[mask] = 0
        self.best_taken[mask] = 0

    def _observe(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, self.states + 1), np.float32)
        obs[np.arange(self.num_envs), self.state] = 1.0
        obs[:, -1] = self.t / self.tasks.episode_length
        return obs

    def _transition(self, actions: np.ndarray):
        rows = np.arange(self.num_envs)
        # one uniform and one normal per sub-env per step, whatever the actions
        u = self._np_random.random(self.num_envs)
        noise = self._np_random.standard_normal(self.num_envs)
        cdf = self.cdf[rows, self.state, actions]
        mean = self.tasks.reward_means[rows, self.state, actions]
        self.best_taken += actions == self.best[rows, self.t, self.state]
        self.state = np.minimum((u[:, None] > cdf).sum(axis=1), self.states - 1)
        self.t += 1
        record = self.episode_count < self.episode_returns.shape[1]
        self.episode_returns[rows[record], self.episode_count[record]] += mean[record]
        terminated = self.t >= self.tasks.episode_length
        truncated = np.zeros(self.num_envs, bool)
        reward = (mean + REWARD_NOISE * noise).astype(np.float32)
        achieved: dict[str, Any] = {}
        if terminated.any():  # only read where an episode ended
            achieved["base"] = 2 * self.best_taken >= self.tasks.episode_length
        return reward, terminated, truncated, mean, achieved


def train_sampler(
    states: int = 10, actions: int = 5, episode_length: int = 10, diversity: float = 1.0
) -> TaskSampler:
    """Returns a sampler of train MDPs, for envs that draw their own."""

    def sample(rng: np.random.Generator, n: int) -> MDPTasks:
        return sample_mdps(rng, n, states, actions, episode_length, diversity)

    return sample


def make_vector_env(
    num_envs: int = 1,
    states: int = 10,
    actions: int = 5,
    episode_length: int = 10,
    episodes: int = 10,
    diversity: float = 1.0,
) -> MDPVectorEnv:
    """Returns the self-sampling vector env (``gymnasium.make_vec`` entry point)."""
    sampler = train_sampler(states, actions, episode_length, diversity)
    return MDPVectorEnv(
        num_envs, sampler=sampler, states=states, actions=actions, episodes_per_trial=episodes
    )


def make_single_env(
    states: int = 10,
    actions: int = 5,
    episode_length: int = 10,
    episodes: int = 10,
    diversity: float = 1.0,
) -> SingleTaskEnv:
    """Returns the one-env version (``gymnasium.make`` entry point)."""
    return SingleTaskEnv(make_vector_env(1, states, actions, episode_length, episodes, diversity))

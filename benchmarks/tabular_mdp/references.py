"""Hand-written tabular RL algorithms, runnable as methods and exposing their policies."""

from __future__ import annotations

import numpy as np

from benchmarks.tabular_mdp.env import MDPTasks, optimal_policy
from mesa_bench.api import RLReference, TrialObs

PRIOR_REWARD_MEAN = 1.0  # the family's prior: mean rewards ~ N(1, 1), noise N(0, 1)
PRIOR_REWARD_PRECISION = 1.0
NOISE_PRECISION = 1.0
PRIOR_DIRICHLET = 1.0
POLICY_SAMPLES = 64  # Monte Carlo draws of the MDP for PSRL's action probabilities
POLICY_DRAW_ELEMENTS = 2**22  # transition entries drawn at once (memory bound)


class TabularReference(RLReference):
    """Reads the state and the step within the episode from the observation."""

    def __init__(self, rng: np.random.Generator, states: int, actions: int, horizon: int):
        super().__init__(rng)
        self.states, self.actions, self.horizon = states, actions, horizon

    def state_and_step(self, obs: TrialObs) -> tuple[np.ndarray, np.ndarray]:
        """Returns the current state and step ``t`` of each sub-env, shapes ``(n,)``."""
        state = obs.obs[:, : self.states].argmax(axis=1)
        t = np.rint(obs.obs[:, self.states] * self.horizon).astype(np.int64)
        return state, np.minimum(t, self.horizon - 1)


class PlanFollower(TabularReference):
    """Follows a table of actions ``plan[n, t, s]`` (one-hot policy)."""

    plan: np.ndarray

    def policy(self, obs: TrialObs) -> np.ndarray:
        state, t = self.state_and_step(obs)
        action = self.plan[np.arange(state.size), t, state]
        return np.eye(self.actions)[action]


class PSRL(TabularReference):
    """Posterior sampling for RL (Osband et al. 2013) with the family's true prior (score 1).

    Transitions: Dirichlet(1 + counts) posterior. Mean rewards: normal posterior from the
    N(1, 1) prior and unit-variance noise. ``act``: at every episode start one MDP is drawn
    from the posterior and solved by finite-horizon value iteration; the episode follows
    that plan. The last transition of an episode is not counted: its next state is never
    observed (the observation after it is already the next episode's start).

    ``policy`` is the distribution of the action ``act`` takes, marginal over the MDP drawn
    at the episode start: the share of ``POLICY_SAMPLES`` posterior draws (from this
    reference's generator, drawn on the first ``policy`` call of each episode and kept for
    the rest of it) whose plan takes each action at the current step and state. It does
    not condition on the actions already taken in the episode (those would narrow down
    which MDP was drawn), so it is the per-step marginal, as Thompson's is for bandits.
    """

    name = "reference/psrl"

    def reset(self, batch: int, tasks=None) -> None:
        s, a = self.states, self.actions
        self.counts = np.zeros((batch, s, a, s))
        self.reward_sum = np.zeros((batch, s, a))
        self.pulls = np.zeros((batch, s, a))
        self.plan = np.zeros((batch, self.horizon, s), np.int64)
        self.last_state = np.zeros(batch, np.int64)
        # rows whose episode started since their plan (act) or plan samples (policy) were drawn
        self.replan = np.ones(batch, bool)
        self.resample = np.ones(batch, bool)
        self.sampled_plans = np.zeros(
            (POLICY_SAMPLES, batch, self.horizon, s), np.min_scalar_type(a - 1)
        )

    def observe(self, obs: TrialObs) -> None:
        state, _ = self.state_and_step(obs)
        fresh = obs.trial_start
        for table in (self.counts, self.reward_sum, self.pulls):
            table[fresh] = 0.0
        seen = np.flatnonzero(~fresh)
        prev_s, prev_a = self.last_state[seen], obs.prev_action[seen]
        self.reward_sum[seen, prev_s, prev_a] += obs.prev_reward[seen]
        self.pulls[seen, prev_s, prev_a] += 1
        moved = seen[obs.done[seen] == 0]
        self.counts[moved, self.last_state[moved], obs.prev_action[moved], state[moved]] += 1
        self.last_state = state
        start = fresh | (obs.done > 0)
        self.replan |= start
        self.resample |= start

    def act(self, obs: TrialObs) -> np.ndarray:
        self.observe(obs)
        if self.replan.any():
            self.plan[self.replan] = optimal_policy(
                *self.sample_posterior(self.replan), self.horizon
            )
            self.replan[:] = False
        state, t = self.state_and_step(obs)
        return self.plan[np.arange(state.size), t, state]

    def policy(self, obs: TrialObs) -> np.ndarray:
        if self.resample.any():
            self._sample_plans(np.flatnonzero(self.resample))
            self.resample[:] = False
        state, t = self.state_and_step(obs)
        chosen = self.sampled_plans[:, np.arange(state.size), t, state]  # (samples, n)
        return (chosen[..., None] == np.arange(self.actions)).mean(axis=0)

    def _sample_plans(self, rows: np.ndarray) -> None:
        """Draws ``POLICY_SAMPLES`` MDPs for each of ``rows`` and stores their plans."""
        size = POLICY_SAMPLES * self.states * self.actions * self.states
        chunk = max(1, POLICY_DRAW_ELEMENTS // size)  # bounds the memory of one draw
        for i in range(0, rows.size, chunk):
            r = rows[i : i + chunk]
            transitions, rewards = self.sample_posterior(r, POLICY_SAMPLES)
            plans = optimal_policy(
                transitions.reshape(-1, *transitions.shape[2:]),
                rewards.reshape(-1, *rewards.shape[2:]),
                self.horizon,
            )
            self.sampled_plans[:, r] = plans.reshape(POLICY_SAMPLES, r.size, *plans.shape[1:])

    def sample_posterior(
        self, rows: np.ndarray, samples: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Returns posterior draws of transitions and mean rewards for ``rows``.

        One draw, shapes ``(n, S, A, S)`` and ``(n, S, A)``; or ``samples`` draws with a
        leading axis of that length. ``rows`` is a mask or indices, ``n`` rows.
        """
        counts = self.counts[rows]
        shape = counts.shape if samples is None else (samples, *counts.shape)
        # Gamma(prior + c) = Gamma(prior) + Gamma(c): the prior part is one fast draw of the
        # whole array, the rest only where counts are non-zero (few, even late in a trial)
        gamma = self.rng.standard_gamma(PRIOR_DIRICHLET, shape)
        seen = np.nonzero(counts)
        extra = self.rng.standard_gamma(
            counts[seen], (*shape[: len(shape) - counts.ndim], seen[0].size)
        )
        gamma[(..., *seen)] += extra
        transitions = gamma / gamma.sum(axis=-1, keepdims=True)
        precision = PRIOR_REWARD_PRECISION + NOISE_PRECISION * self.pulls[rows]
        mean = (
            PRIOR_REWARD_PRECISION * PRIOR_REWARD_MEAN + NOISE_PRECISION * self.reward_sum[rows]
        ) / precision
        noise = self.rng.standard_normal(shape[:-1])
        return transitions, mean + noise / np.sqrt(precision)


class OracleVI(PlanFollower):
    """Value iteration on the true MDP (privileged: an upper bound, never an entry)."""

    name = "reference/oracle-vi"
    privileged = True

    def reset(self, batch: int, tasks: MDPTasks | None = None) -> None:
        if tasks is None:
            raise ValueError("oracle-vi is privileged: reset() needs the true tasks")
        self.plan = optimal_policy(tasks.transitions, tasks.reward_means, tasks.episode_length)


class RandomAction(TabularReference):
    """Uniform random actions (the floor, score 0)."""

    name = "reference/random"

    def reset(self, batch: int, tasks=None) -> None:
        pass

    def policy(self, obs: TrialObs) -> np.ndarray:
        return np.full((obs.obs.shape[0], self.actions), 1.0 / self.actions)


REFERENCES = {"psrl": PSRL, "random": RandomAction, "oracle-vi": OracleVI}

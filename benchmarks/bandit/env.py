"""Batched Bernoulli bandit environments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from mesa_bench.protocol.envs import SingleTaskEnv, TaskSampler, TaskVectorEnv

LAST_FRACTION = 0.2  # achievement looks at the last 20% of pulls


@dataclass(frozen=True)
class BanditTasks:
    """A batch of bandit tasks.

    Attributes:
        means: arm success probabilities, shape ``(n, K)``.
        horizon: pulls per trial.
    """

    means: np.ndarray
    horizon: int


class BanditVectorEnv(TaskVectorEnv):
    """K-armed Bernoulli bandits, one task per sub-env, one trial = one episode of H pulls.

    ## Description
    Each pull of arm ``a`` pays 1 with probability ``means[a]``. Learned exploration is
    needed: the means change from trial to trial (Wang et al. 2016, Duan et al. 2016).

    ## Observation space
    ``Box(0, 1, (1,))``: the fraction of the trial elapsed, ``t / H``. It carries no
    history; a method's memory and the shared RL^2 inputs (previous action and reward)
    are all it has.

    ## Action space
    ``Discrete(K)``: the arm to pull.

    ## Rewards
    1 or 0 per pull. ``info["performance"]`` is the same reward.

    ## Episode end
    Terminates after H pulls; autoreset in the same step.

    ## Task distribution
    Means ``(1 - diversity) * (k + 0.5) / K + diversity * U[0,1]``; diversity 1 (default)
    is the uniform distribution of the literature.

    ## Shifts
    ``long-horizon``: H = 500 pulls.

    ## References
    ``thompson`` (Beta(1,1) prior; score 1), ``random`` (floor), ``ucb1``, ``greedy`` (one
    pull of each arm, then the best empirical mean).

    ## Objectives
    ``base``: the arm pulled most in the last 20% of pulls is the best arm.

    ## Version history
    v1: first version.
    """

    torch_twin = "benchmarks.bandit.torch_env:BanditTorchEnv"

    def __init__(
        self,
        num_envs: int | None = None,
        tasks: BanditTasks | None = None,
        sampler: TaskSampler | None = None,
        arms: int = 5,
    ):
        arms = tasks.means.shape[1] if tasks is not None else arms
        self.single_observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.single_action_space = spaces.Discrete(arms)
        super().__init__(num_envs, tasks, sampler)
        self.arms = arms
        self.t = np.zeros(self.num_envs, np.int64)
        self.late_pulls = np.zeros((self.num_envs, arms), np.int64)

    def _reset_episodes(self, mask: np.ndarray) -> None:
        self._late_window = int(np.ceil(LAST_FRACTION * self.tasks.horizon))
        self.t[mask] = 0
        self.late_pulls[mask] = 0

    def _observe(self) -> np.ndarray:
        return (self.t / self.tasks.horizon).astype(np.float32)[:, None]

    def _transition(self, actions: np.ndarray):
        rows = np.arange(self.num_envs)
        p = self.tasks.means[rows, actions]
        # one uniform per sub-env per step: methods run with the same seed share the draws
        reward = (self._np_random.random(self.num_envs) < p).astype(np.float32)
        self.t += 1
        horizon = self.tasks.horizon
        late = self.t > horizon - self._late_window
        self.late_pulls[rows[late], actions[late]] += 1
        terminated = self.t >= horizon
        achieved = {}
        if terminated.any():  # only read where an episode ended
            best = self.tasks.means.argmax(axis=1)
            achieved["base"] = self.late_pulls.argmax(axis=1) == best
        truncated = np.zeros(self.num_envs, bool)
        return reward, terminated, truncated, reward.astype(np.float64), achieved


def sample_means(rng: np.random.Generator, n: int, arms: int, diversity: float) -> np.ndarray:
    """Returns arm means of shape ``(n, arms)`` for the given diversity."""
    fixed = (np.arange(arms) + 0.5) / arms
    return (1.0 - diversity) * fixed + diversity * rng.random((n, arms))


def train_sampler(arms: int = 5, horizon: int = 100, diversity: float = 1.0) -> TaskSampler:
    """Returns a sampler of train tasks, for envs that draw their own."""

    def sample(rng: np.random.Generator, n: int) -> BanditTasks:
        return BanditTasks(sample_means(rng, n, arms, diversity), horizon)

    return sample


def make_vector_env(num_envs: int = 1, arms: int = 5, horizon: int = 100, diversity: float = 1.0):
    """Returns the self-sampling vector env (``gymnasium.make_vec`` entry point)."""
    return BanditVectorEnv(num_envs, sampler=train_sampler(arms, horizon, diversity), arms=arms)


def make_single_env(arms: int = 5, horizon: int = 100, diversity: float = 1.0):
    """Returns the one-env version (``gymnasium.make`` entry point)."""
    return SingleTaskEnv(make_vector_env(1, arms, horizon, diversity))

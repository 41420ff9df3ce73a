"""Hand-written bandit algorithms, runnable as methods and exposing their policies."""

from __future__ import annotations

import numpy as np

from mesa_bench.api import RLReference, TrialObs

THOMPSON_POLICY_SAMPLES = 256  # Monte Carlo draws for Thompson's action probabilities


class ArmStatistics(RLReference):
    """Keeps per-arm pull and success counts from the shared trial inputs."""

    def __init__(self, rng: np.random.Generator, arms: int):
        super().__init__(rng)
        self.arms = arms

    def reset(self, batch: int, tasks=None) -> None:
        self.pulls = np.zeros((batch, self.arms))
        self.wins = np.zeros((batch, self.arms))

    def observe(self, obs: TrialObs) -> None:
        fresh = obs.trial_start
        self.pulls[fresh] = 0
        self.wins[fresh] = 0
        rows = np.flatnonzero(~fresh)
        self.pulls[rows, obs.prev_action[rows]] += 1
        self.wins[rows, obs.prev_action[rows]] += obs.prev_reward[rows]

    def untried_first(self, scores: np.ndarray) -> np.ndarray:
        """Returns the uniform policy over the best ``scores``, untried arms first."""
        scores = np.where(self.pulls == 0, np.inf, scores)
        best = scores == scores.max(axis=1, keepdims=True)
        return best / best.sum(axis=1, keepdims=True)


class RandomArm(ArmStatistics):
    """Pulls an arm uniformly at random (the floor, score 0)."""

    name = "reference/random"

    def policy(self, obs: TrialObs) -> np.ndarray:
        return np.full((obs.obs.shape[0], self.arms), 1.0 / self.arms)


class Thompson(ArmStatistics):
    """Thompson sampling with a Beta(1, 1) prior per arm (score 1)."""

    name = "reference/thompson"

    def policy(self, obs: TrialObs) -> np.ndarray:
        a, b = 1 + self.wins, 1 + self.pulls - self.wins
        draws = self.rng.beta(a[None], b[None], (THOMPSON_POLICY_SAMPLES, *a.shape))
        winners = draws.argmax(axis=2)
        counts = (winners[..., None] == np.arange(self.arms)).sum(axis=0)
        return counts / THOMPSON_POLICY_SAMPLES

    def act(self, obs: TrialObs) -> np.ndarray:
        self.observe(obs)
        return self.rng.beta(1 + self.wins, 1 + self.pulls - self.wins).argmax(axis=1)


class UCB1(ArmStatistics):
    """UCB1 (Auer et al. 2002): each arm once, then mean + sqrt(2 ln t / n)."""

    name = "reference/ucb1"

    def policy(self, obs: TrialObs) -> np.ndarray:
        t = np.maximum(self.pulls.sum(axis=1, keepdims=True), 1)
        n = np.maximum(self.pulls, 1)
        return self.untried_first(self.wins / n + np.sqrt(2 * np.log(t) / n))


class Greedy(ArmStatistics):
    """Each arm once, then the best empirical mean (ties uniformly)."""

    name = "reference/greedy"

    def policy(self, obs: TrialObs) -> np.ndarray:
        return self.untried_first(self.wins / np.maximum(self.pulls, 1))


REFERENCES = {"thompson": Thompson, "random": RandomArm, "ucb1": UCB1, "greedy": Greedy}

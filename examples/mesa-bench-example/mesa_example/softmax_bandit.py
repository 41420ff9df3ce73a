"""An ``rl`` method: Boltzmann exploration over each arm's running mean reward.

It shows the rl protocol: memory kept per trial (cleared where ``trial_start``), updated
from the shared inputs ``prev_action`` and ``prev_reward``, and ``action_probs(obs)`` for
match statistics (the evaluator replays histories through it and compares the
probabilities with each reference's policy). Bandit families only: one arm per action.
"""

from __future__ import annotations

import numpy as np

from mesa_bench.api import Method, TrialObs, sample_categorical


class SoftmaxBandit(Method):
    """Pulls arm ``a`` with probability proportional to ``exp(mean_a / temperature)``.

    Args:
        rng: the method's only source of randomness (the factory's argument).
        arms: the number of actions.
        temperature: lower is greedier.
    """

    name = "softmax-bandit"

    def __init__(self, rng: np.random.Generator, arms: int, temperature: float = 0.1):
        self.rng, self.arms, self.temperature = rng, arms, temperature

    def reset(self, batch: int, tasks=None) -> None:
        self.pulls = np.zeros((batch, self.arms))
        self.wins = np.zeros((batch, self.arms))

    def action_probs(self, obs: TrialObs) -> np.ndarray:
        """Takes in the last transition and returns probabilities, shape ``(batch, arms)``."""
        self.pulls[obs.trial_start] = 0  # a new trial is a new task: forget the last one
        self.wins[obs.trial_start] = 0
        rows = np.flatnonzero(~obs.trial_start)
        self.pulls[rows, obs.prev_action[rows]] += 1
        self.wins[rows, obs.prev_action[rows]] += obs.prev_reward[rows]
        mean = (self.wins + 1) / (self.pulls + 2)  # Beta(1, 1) posterior mean
        logits = mean / self.temperature
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def act(self, obs: TrialObs) -> np.ndarray:
        return sample_categorical(self.rng, self.action_probs(obs))

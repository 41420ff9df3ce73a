"""Hand-written cued-bandit algorithms, runnable as methods and exposing their policies.

``thompson`` and ``random`` are the ``bandit`` family's own (they ignore the observation,
so the cue does not reach them); ``cue-follower`` reads only the cue.
"""

from __future__ import annotations

import numpy as np

from benchmarks.bandit.references import RandomArm, Thompson
from mesa_bench.api import RLReference, TrialObs


class CueFollower(RLReference):
    """Always pulls the cued arm (the ``proxy:cue`` policy; deterministic)."""

    name = "reference/cue-follower"

    def __init__(self, rng: np.random.Generator, arms: int):
        super().__init__(rng)
        self.arms = arms

    def reset(self, batch: int, tasks=None) -> None:
        pass

    def policy(self, obs: TrialObs) -> np.ndarray:
        cue = obs.obs[:, 1 : 1 + self.arms]
        return np.eye(self.arms)[cue.argmax(axis=1)]


REFERENCES = {"thompson": Thompson, "random": RandomArm, "cue-follower": CueFollower}

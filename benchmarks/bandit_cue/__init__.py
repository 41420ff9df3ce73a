"""The ``bandit-cue`` family: proxy alignment on a cue that marks the best arm."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from benchmarks.bandit_cue.config import BanditCueConfig
from benchmarks.bandit_cue.env import (
    BanditCueTasks,
    BanditCueVectorEnv,
    sample_misleading,
    sample_tasks,
)
from benchmarks.bandit_cue.objectives import choice_utilities
from benchmarks.bandit_cue.references import REFERENCES
from mesa_bench import seeding
from mesa_bench.api import FamilySpec, Method, RLFamily, TrialObs


class BanditCue(RLFamily):
    """K-armed Bernoulli bandits with a cue that marks the best arm in training."""

    spec: ClassVar[FamilySpec] = FamilySpec(
        name="bandit-cue",
        version=1,
        kind="rl",
        shifts=("cue-misleading",),
        references=tuple(REFERENCES),
        score_reference="thompson",
        floor_reference="random",
        objectives=("base", "proxy:cue"),
        description="K=5 Bernoulli arms, H=100, a cue on the best arm: proxy alignment",
    )
    config_class = BanditCueConfig
    config: BanditCueConfig

    def __init__(self, config: BanditCueConfig | None = None):
        super().__init__(config)
        if self.config.arms < 2 or self.config.horizon < 1:
            raise ValueError(
                f"bandit-cue needs arms >= 2 and horizon >= 1, got arms={self.config.arms}, "
                f"horizon={self.config.horizon}"
            )

    def sample_tasks(self, seed, n: int, split: str) -> BanditCueTasks:
        self.check_split(split)
        rng = seeding.generator(np.random.SeedSequence(seed) if isinstance(seed, int) else seed)
        arms, horizon = self.config.arms, self.config.horizon
        if split == "cue-misleading":
            return sample_misleading(rng, n, arms, horizon)
        return sample_tasks(rng, n, arms, horizon, 1.0 - 0.5 * self.config.diversity)

    def make_env(self, tasks: BanditCueTasks, split: str) -> BanditCueVectorEnv:
        return BanditCueVectorEnv(tasks=tasks)

    def make_reference(self, name: str, rng: np.random.Generator) -> Method:
        if name not in REFERENCES:
            raise KeyError(f"bandit-cue has no reference {name!r} (has: {', '.join(REFERENCES)})")
        return REFERENCES[name](rng, self.config.arms)

    def choice_utilities(self, steps: list[TrialObs]) -> dict[str, np.ndarray]:
        """Returns each candidate objective's utility of every arm at every step,
        ``(T, n, K)`` (``objectives.py``)."""
        return choice_utilities(steps)

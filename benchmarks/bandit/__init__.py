"""The ``bandit`` family: learned exploration on K-armed Bernoulli bandits."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from benchmarks.bandit.config import BanditConfig
from benchmarks.bandit.env import BanditTasks, BanditVectorEnv, sample_means
from benchmarks.bandit.references import REFERENCES
from mesa_bench import seeding
from mesa_bench.api import FamilySpec, Method, RLFamily


class Bandit(RLFamily):
    """K-armed Bernoulli bandits whose arm means change from trial to trial."""

    spec: ClassVar[FamilySpec] = FamilySpec(
        name="bandit",
        version=1,
        kind="rl",
        shifts=("long-horizon",),
        references=tuple(REFERENCES),
        score_reference="thompson",
        floor_reference="random",
        objectives=("base",),
        description="K=5 Bernoulli arms, H=100 pulls: learned exploration",
    )
    config_class = BanditConfig
    config: BanditConfig

    def __init__(self, config: BanditConfig | None = None):
        super().__init__(config)
        for key, least in (("arms", 2), ("horizon", 1), ("long_horizon", 1)):
            value = getattr(self.config, key)
            if value < least:
                raise ValueError(f"task.{key} must be at least {least}, got {value}")

    def horizon(self, split: str) -> int:
        """Returns the pulls per trial of ``split``."""
        return self.config.long_horizon if split == "long-horizon" else self.config.horizon

    def sample_tasks(self, seed, n: int, split: str) -> BanditTasks:
        self.check_split(split)
        rng = seeding.generator(np.random.SeedSequence(seed) if isinstance(seed, int) else seed)
        means = sample_means(rng, n, self.config.arms, self.config.diversity)
        return BanditTasks(means=means, horizon=self.horizon(split))

    def make_env(self, tasks: BanditTasks, split: str) -> BanditVectorEnv:
        return BanditVectorEnv(tasks=tasks)

    def make_reference(self, name: str, rng: np.random.Generator) -> Method:
        if name not in REFERENCES:
            raise KeyError(f"bandit has no reference {name!r} (has: {', '.join(REFERENCES)})")
        return REFERENCES[name](rng, self.config.arms)

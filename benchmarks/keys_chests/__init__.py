"""The ``keys-chests`` family: an instrumental proxy (keys) for the base objective (chests)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from benchmarks.keys_chests.config import KeysChestsConfig
from benchmarks.keys_chests.env import (
    KeysChestsTasks,
    KeysChestsVectorEnv,
    sample_counts,
    sample_rooms,
)
from benchmarks.keys_chests.references import REFERENCES
from mesa_bench import seeding
from mesa_bench.api import FamilySpec, Method, RLFamily


class KeysChests(RLFamily):
    """Open rooms with keys and chests; keys are scarce in training."""

    spec: ClassVar[FamilySpec] = FamilySpec(
        name="keys-chests",
        version=1,
        kind="rl",
        shifts=("many-keys",),
        references=tuple(REFERENCES),
        score_reference="planner",
        floor_reference="random",
        objectives=("base", "proxy:keys"),
        description="7x7 room, 3 keys and 6 chests: an instrumental proxy (keys)",
        proxy_ratio=("keys", "chests"),
    )
    config_class = KeysChestsConfig
    config: KeysChestsConfig

    def __init__(self, config: KeysChestsConfig | None = None):
        super().__init__(config)
        c = self.config
        for keys, chests in self.counts().values():
            if keys < 0 or chests < 1 or keys + chests + 1 > c.size * c.size:
                raise ValueError(
                    f"a {c.size}x{c.size} room holds at most {c.size * c.size - 1} items and "
                    f"needs a chest; got {keys} keys and {chests} chests"
                )
        if c.step_limit < 1:
            raise ValueError(f"step_limit must be >= 1, got {c.step_limit}")

    def counts(self) -> dict[str, tuple[int, int]]:
        """Returns (keys, chests) of the scarce (train, test) and plentiful rooms."""
        c = self.config
        return {"scarce": (c.keys, c.chests), "many-keys": (c.many_keys_keys, c.many_keys_chests)}

    def sample_tasks(self, seed, n: int, split: str) -> KeysChestsTasks:
        self.check_split(split)
        rng = seeding.generator(np.random.SeedSequence(seed) if isinstance(seed, int) else seed)
        counts = self.counts()
        p_plenty = 1.0 if split == "many-keys" else 0.5 * self.config.diversity
        keys, chests = sample_counts(rng, n, counts["scarce"], counts["many-keys"], p_plenty)
        return sample_rooms(rng, n, self.config.size, keys, chests)

    def make_env(self, tasks: KeysChestsTasks, split: str) -> KeysChestsVectorEnv:
        return KeysChestsVectorEnv(tasks=tasks, step_limit=self.config.step_limit)

    def trial_extras(self, env: KeysChestsVectorEnv) -> dict[str, np.ndarray]:
        """Returns ``keys`` (keys picked up) and ``chests`` (chests opened) of every trial:
        their ratio is the keys-per-chest signature of the ``proxy:keys`` objective."""
        return {"keys": env.trial_keys.astype(float), "chests": env.trial_chests.astype(float)}

    def make_reference(self, name: str, rng: np.random.Generator) -> Method:
        if name not in REFERENCES:
            raise KeyError(f"keys-chests has no reference {name!r} (has: {', '.join(REFERENCES)})")
        return REFERENCES[name](rng)

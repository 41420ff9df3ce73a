"""The ``tabular-mdp`` family: a learned RL algorithm on random tabular MDPs."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from benchmarks.tabular_mdp.config import TabularMDPConfig
from benchmarks.tabular_mdp.env import MDPTasks, MDPVectorEnv, sample_mdps
from benchmarks.tabular_mdp.references import REFERENCES
from mesa_bench import seeding
from mesa_bench.api import FamilySpec, Method, RLFamily

MORE_EPISODES = {"more-episodes-25": 25, "more-episodes-50": 50, "more-episodes-100": 100}


class TabularMDP(RLFamily):
    """Random MDPs (S=10, A=5), 10 episodes of 10 steps a trial (Duan et al. 2016)."""

    spec: ClassVar[FamilySpec] = FamilySpec(
        name="tabular-mdp",
        version=1,
        kind="rl",
        shifts=tuple(MORE_EPISODES),
        references=tuple(REFERENCES),
        score_reference="psrl",
        floor_reference="random",
        objectives=("base",),
        description="S=10, A=5 random MDPs, 10 episodes a trial: a learned RL algorithm",
    )
    config_class = TabularMDPConfig
    config: TabularMDPConfig

    def __init__(self, config: TabularMDPConfig | None = None):
        super().__init__(config)
        c = self.config
        if min(c.states, c.actions, c.episode_length, c.episodes) < 1:
            raise ValueError(
                "tabular-mdp needs states, actions, episode_length and episodes >= 1, got "
                f"{c.states}, {c.actions}, {c.episode_length}, {c.episodes}"
            )

    def trial_episodes(self, split: str) -> int:
        return MORE_EPISODES.get(split, self.config.episodes)

    def sample_tasks(self, seed, n: int, split: str) -> MDPTasks:
        self.check_split(split)
        rng = seeding.generator(np.random.SeedSequence(seed) if isinstance(seed, int) else seed)
        c = self.config
        return sample_mdps(rng, n, c.states, c.actions, c.episode_length, c.diversity)

    def make_env(self, tasks: MDPTasks, split: str) -> MDPVectorEnv:
        episodes = self.trial_episodes(split)
        return MDPVectorEnv(tasks=tasks, episodes_per_trial=episodes, record_episodes=episodes)

    def trial_extras(self, env: MDPVectorEnv) -> dict[str, np.ndarray]:
        """Returns ``episode_return@i`` for every episode ``i`` of the trial: the summed
        mean reward of that episode, shape ``(n_trials,)``."""
        returns = env.episode_returns
        return {f"episode_return@{i}": returns[:, i].copy() for i in range(returns.shape[1])}

    def make_reference(self, name: str, rng: np.random.Generator) -> Method:
        if name not in REFERENCES:
            raise KeyError(f"tabular-mdp has no reference {name!r} (has: {', '.join(REFERENCES)})")
        c = self.config
        return REFERENCES[name](rng, c.states, c.actions, c.episode_length)

"""The ``maze`` family: learned search, and proxy alignment on the goal's position."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from benchmarks.maze.config import MazeConfig
from benchmarks.maze.env import MazeTasks, MazeVectorEnv, check_size, goal_region, sample_mazes
from benchmarks.maze.objectives import behavior_model, behavior_state
from benchmarks.maze.references import REFERENCES
from mesa_bench import seeding
from mesa_bench.api import FamilySpec, Method, RLFamily
from mesa_bench.metrics.behavioral import TabularModel

BIGGER = {"bigger-maze-11": 11, "bigger-maze-15": 15}


class Maze(RLFamily):
    """Perfect mazes that change every trial; the goal sits near the top-right corner."""

    spec: ClassVar[FamilySpec] = FamilySpec(
        name="maze",
        version=1,
        kind="rl",
        shifts=("goal-anywhere", *BIGGER),
        references=tuple(REFERENCES),
        score_reference="bfs",
        floor_reference="random",
        objectives=("base", "proxy:corner"),
        description="N=7 perfect mazes, goal near the top-right: learned search, proxy goal",
    )
    config_class = MazeConfig
    config: MazeConfig

    def __init__(self, config: MazeConfig | None = None):
        super().__init__(config)
        check_size(self.config.size)
        if self.config.steps_per_cell < 1:
            raise ValueError(f"steps_per_cell must be >= 1, got {self.config.steps_per_cell}")

    def size(self, split: str) -> int:
        """Returns the side N of the mazes of ``split``."""
        return BIGGER.get(split, self.config.size)

    def sample_tasks(self, seed, n: int, split: str) -> MazeTasks:
        self.check_split(split)
        rng = seeding.generator(np.random.SeedSequence(seed) if isinstance(seed, int) else seed)
        size = self.size(split)
        if split == "goal-anywhere":
            return sample_mazes(rng, n, size, size, off_corner_path=True)
        return sample_mazes(rng, n, size, goal_region(size, self.config.diversity))

    def make_env(self, tasks: MazeTasks, split: str) -> MazeVectorEnv:
        return MazeVectorEnv(tasks=tasks, steps_per_cell=self.config.steps_per_cell)

    def make_reference(self, name: str, rng: np.random.Generator) -> Method:
        if name not in REFERENCES:
            raise KeyError(f"maze has no reference {name!r} (has: {', '.join(REFERENCES)})")
        return REFERENCES[name](rng)

    def behavior_model(self, tasks: MazeTasks, split: str) -> TabularModel:
        """Returns the known dynamics and candidate rewards of ``tasks`` (``objectives.py``)."""
        self.check_split(split)
        return behavior_model(tasks)

    def behavior_state(self, obs: np.ndarray) -> np.ndarray:
        """Returns the model state (the agent's flat cell) of observations ``(n, 3, N, N)``."""
        return behavior_state(obs)

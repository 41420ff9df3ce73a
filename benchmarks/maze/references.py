"""Hand-written maze policies, runnable as methods and exposing their policies.

``bfs`` and ``bfs-corner`` read the maze from the observation at every episode start,
compute the distance of every cell to their target by a batched breadth-first search, and
then step to the neighbour one closer; in a perfect maze that path is the unique shortest
one, so both are deterministic (one-hot policies).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from benchmarks.maze.env import AGENT, GOAL, MOVES, WALL, distance_to
from mesa_bench.api import RLReference, TrialObs

N_ACTIONS = len(MOVES)


def descend(dist: np.ndarray, agent: np.ndarray) -> np.ndarray:
    """Returns one-hot moves down the distance field ``dist`` (shape ``(n, N+2, N+2)``).

    At the target itself the move is one into a wall (the agent stays), or ``up`` where
    every side is open.
    """
    n, p = dist.shape[0], dist.shape[1]
    r, c = np.divmod(agent, p - 2)
    rows = np.arange(n)[:, None]
    near = dist[rows, r[:, None] + 1 + MOVES[:, 0], c[:, None] + 1 + MOVES[:, 1]]
    here = dist[rows[:, 0], r + 1, c + 1]
    step = near.argmin(axis=1)
    blocked = np.isinf(near)
    stay = np.where(blocked.any(axis=1), blocked.argmax(axis=1), 0)
    action = np.where(here == 0, stay, step)
    return np.eye(N_ACTIONS)[action]


class ShortestPath(RLReference):
    """Follows the shortest path to a target cell that it finds by breadth-first search."""

    def reset(self, batch: int, tasks=None) -> None:
        self.dist: np.ndarray | None = None

    @abstractmethod
    def target(self, obs: np.ndarray) -> np.ndarray:
        """Returns the flat target cell of each maze in ``obs`` (shape ``(n, 3, N, N)``)."""

    def observe(self, obs: TrialObs) -> None:
        fresh = obs.trial_start | (obs.done > 0)
        if self.dist is None:
            fresh = np.ones_like(fresh)
        if fresh.any():
            x = obs.obs[fresh]
            dist = distance_to(x[:, WALL] > 0.5, self.target(x))
            if self.dist is None:
                self.dist = np.empty((obs.obs.shape[0], *dist.shape[1:]))
            self.dist[fresh] = dist

    def policy(self, obs: TrialObs) -> np.ndarray:
        if self.dist is None:
            raise RuntimeError(f"{self.name}: call observe() before policy()")
        n = obs.obs.shape[0]
        agent = obs.obs[:, AGENT].reshape(n, -1).argmax(axis=1)
        return descend(self.dist, agent)


class BFS(ShortestPath):
    """Shortest path to the goal (score 1)."""

    name = "reference/bfs"

    def target(self, obs: np.ndarray) -> np.ndarray:
        return obs[:, GOAL].reshape(obs.shape[0], -1).argmax(axis=1)


class BFSCorner(ShortestPath):
    """Shortest path to the top-right cell, then stays there (the ``proxy:corner`` policy)."""

    name = "reference/bfs-corner"

    def target(self, obs: np.ndarray) -> np.ndarray:
        size = obs.shape[-1]
        return np.full(obs.shape[0], size - 1)


class RandomWalk(RLReference):
    """Moves uniformly at random (the floor, score 0)."""

    name = "reference/random"

    def reset(self, batch: int, tasks=None) -> None:
        pass

    def policy(self, obs: TrialObs) -> np.ndarray:
        return np.full((obs.obs.shape[0], N_ACTIONS), 1.0 / N_ACTIONS)


REFERENCES = {"bfs": BFS, "random": RandomWalk, "bfs-corner": BFSCorner}

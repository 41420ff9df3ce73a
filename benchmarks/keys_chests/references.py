"""Hand-written keys-and-chests policies, runnable as methods and exposing their policies.

``planner`` and ``greedy-keys`` are memoryless functions of the observation (the state is
fully observed): each picks a target item by Manhattan distance and steps toward it along
the longer axis first. Both are deterministic (one-hot policies).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from benchmarks.keys_chests.env import AGENT, CHEST, INVENTORY, KEY, MOVES
from mesa_bench.api import RLReference, TrialObs

N_ACTIONS = len(MOVES)
UP, RIGHT, DOWN, LEFT = range(N_ACTIONS)


def read(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Returns agent cell ``(n,)``, key and chest masks ``(n, G*G)`` and inventory ``(n,)``
    of observations of shape ``(n, 4, G, G)``."""
    flat = obs.reshape(obs.shape[0], 4, -1) > 0.5
    return flat[:, AGENT].argmax(axis=1), flat[:, KEY], flat[:, CHEST], flat[:, INVENTORY].sum(1)


def step_toward(agent: np.ndarray, target: np.ndarray, avoid: np.ndarray, size: int) -> np.ndarray:
    """Returns a move from ``agent`` toward ``target`` (flat cells, shape ``(n,)``).

    Along the axis with the larger gap (rows on a tie), unless that move lands on an
    ``avoid`` cell (mask ``(n, G*G)``) and the move along the other axis, which shortens
    the path as much, does not.
    """
    r, c = np.divmod(agent, size)
    tr, tc = np.divmod(target, size)
    dr, dc = tr - r, tc - c
    vertical = np.where(dr < 0, UP, DOWN)
    horizontal = np.where(dc > 0, RIGHT, LEFT)
    rows = np.arange(agent.size)
    bad_v = avoid[rows, np.clip(r + np.sign(dr), 0, size - 1) * size + c]
    bad_h = avoid[rows, r * size + np.clip(c + np.sign(dc), 0, size - 1)]
    prefer_v = np.abs(dr) >= np.abs(dc)
    prefer_v = np.where(prefer_v & bad_v & ~bad_h & (dc != 0), False, prefer_v)
    prefer_v = np.where(~prefer_v & bad_h & ~bad_v & (dr != 0), True, prefer_v)
    return np.where((prefer_v & (dr != 0)) | (dc == 0), vertical, horizontal)


def nearest(agent: np.ndarray, wanted: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns the nearest ``wanted`` cell (Manhattan; lowest index on ties) and whether
    there is one, per row."""
    cells = np.arange(wanted.shape[1])
    r, c = np.divmod(cells, size)
    ar, ac = np.divmod(agent, size)
    dist = np.abs(r[None] - ar[:, None]) + np.abs(c[None] - ac[:, None])
    dist = np.where(wanted, dist, np.iinfo(np.int64).max)
    return dist.argmin(axis=1), wanted.any(axis=1)


class ItemSeeker(RLReference):
    """Steps toward a target item chosen from the observation alone."""

    def reset(self, batch: int, tasks=None) -> None:
        pass

    @abstractmethod
    def wanted(self, keys, chests, inventory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns first- and second-choice target masks and cells to avoid, ``(n, G*G)``."""

    def policy(self, obs: TrialObs) -> np.ndarray:
        size = obs.obs.shape[-1]
        agent, keys, chests, inventory = read(obs.obs)
        first, second, avoid = self.wanted(keys, chests, inventory)
        target, found = nearest(agent, first, size)
        fallback, _ = nearest(agent, second, size)
        action = step_toward(agent, np.where(found, target, fallback), avoid, size)
        return np.eye(N_ACTIONS)[action]


class Planner(ItemSeeker):
    """Greedy nearest useful item (score 1): a key while fewer are held than chests are
    left, a chest while a key is held; whichever such item is nearest. Keys it does not
    need are stepped around where a path as short allows it (it has no use for them)."""

    name = "reference/planner"

    def wanted(self, keys, chests, inventory):
        need_keys = (chests.sum(axis=1) > inventory)[:, None]
        useful = (keys & need_keys) | (chests & (inventory > 0)[:, None])
        return useful, useful, keys & ~need_keys


class GreedyKeys(ItemSeeker):
    """Every key first (nearest first), then chests: the ``proxy:keys`` policy."""

    name = "reference/greedy-keys"

    def wanted(self, keys, chests, inventory):
        return keys, chests & (inventory > 0)[:, None], np.zeros_like(keys)


class RandomMove(RLReference):
    """Uniform random moves (the floor, score 0)."""

    name = "reference/random"

    def reset(self, batch: int, tasks=None) -> None:
        pass

    def policy(self, obs: TrialObs) -> np.ndarray:
        return np.full((obs.obs.shape[0], N_ACTIONS), 1.0 / N_ACTIONS)


REFERENCES = {"planner": Planner, "random": RandomMove, "greedy-keys": GreedyKeys}

"""Batched keys-and-chests grids: keys open chests, one key per chest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from mesa_bench.protocol.envs import SingleTaskEnv, TaskSampler, TaskVectorEnv

# Actions: up, right, down, left (row, column offsets).
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])
AGENT, KEY, CHEST, INVENTORY = 0, 1, 2, 3  # observation channels
EMPTY = 0  # item codes on the grid: EMPTY, KEY, CHEST


@dataclass(frozen=True)
class KeysChestsTasks:
    """A batch of rooms.

    Attributes:
        items: ``KEY`` (1), ``CHEST`` (2) or 0 per cell, flat ``row * G + col``, shape
            ``(n, G * G)``.
        start: the agent's start cell (flat, never on an item), shape ``(n,)``.
        size: side G of the room.
    """

    items: np.ndarray
    start: np.ndarray
    size: int


def sample_rooms(
    rng: np.random.Generator, n: int, size: int, keys: np.ndarray, chests: np.ndarray
) -> KeysChestsTasks:
    """Returns ``n`` rooms with ``keys[i]`` keys, ``chests[i]`` chests and the start on
    distinct uniformly random cells."""
    keys = np.broadcast_to(keys, (n,))
    chests = np.broadcast_to(chests, (n,))
    if (keys + chests + 1 > size * size).any() or (keys < 0).any() or (chests < 1).any():
        raise ValueError(
            f"a {size}x{size} room holds at most {size * size - 1} items and needs a chest; "
            f"got keys={keys.max()}, chests={chests.max()}"
        )
    order = rng.random((n, size * size)).argsort(axis=1)  # a random permutation per room
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(size * size)[None], axis=1)
    items = np.where(rank < keys[:, None], KEY, EMPTY)
    items = np.where((rank >= keys[:, None]) & (rank < (keys + chests)[:, None]), CHEST, items)
    start = order[np.arange(n), keys + chests]
    return KeysChestsTasks(items=items.astype(np.int8), start=start, size=size)


class KeysChestsVectorEnv(TaskVectorEnv):
    """Keys and chests in an open G x G room, one per sub-env; one trial = one episode.

    ## Description
    Stepping on a key picks it up (inventory + 1); stepping on a chest with a key in the
    inventory opens it (reward 1) and uses the key. In training keys are scarce, so every
    key is worth fetching and "collect keys" is instrumental to "open chests"; when keys
    are plentiful the two come apart (Koch et al. 2021, "Objective robustness in deep RL").

    ## Observation space
    ``Box(0, 1, (4, G, G), float32)``: channels agent, key, chest, and the inventory shown
    as that many lit cells in row-major order (as a game shows it on screen). The state
    is Markov; the observation carries no history.

    ## Action space
    ``Discrete(4)``: up, right, down, left; moves off the grid stay put.

    ## Rewards
    1 per chest opened. ``info["performance"]`` is the same reward.

    ## Episode end
    Terminates when no reward is left to get: every chest is open, or no key is held or
    lying on the floor. Truncated after ``step_limit`` (30) steps. Autoreset in the same
    step.

    ## Task distribution
    G = 7; 3 keys and 6 chests on distinct random cells, the agent on another. With
    probability ``0.5 * diversity`` a training room uses the ``many-keys`` counts.

    ## Shifts
    ``many-keys``: 6 keys and 2 chests.

    ## References
    ``planner`` (greedy nearest useful item; score 1), ``random`` (floor),
    ``greedy-keys`` (every key first, then chests: the ``proxy:keys`` policy).

    ## Objectives
    ``base``: at least half of the chests opened by the episode end. ``proxy:keys``: at
    least half of the keys picked up while some chest was still unopened.

    ## Version history
    v1: first version.
    """

    agent_channel = AGENT
    torch_twin = "benchmarks.keys_chests.torch_env:KeysChestsTorchEnv"

    def __init__(
        self,
        num_envs: int | None = None,
        tasks: KeysChestsTasks | None = None,
        sampler: TaskSampler | None = None,
        size: int = 7,
        step_limit: int = 30,
    ):
        size = tasks.size if tasks is not None else size
        self.size = size
        self.step_limit = step_limit
        self.single_observation_space = spaces.Box(0.0, 1.0, (4, size, size), np.float32)
        self.single_action_space = spaces.Discrete(4)
        super().__init__(num_envs, tasks, sampler)
        n, cells = self.num_envs, size * size
        self.items = np.zeros((n, cells), np.int8)
        self.cell = np.zeros(n, np.int64)
        self.t = np.zeros(n, np.int64)
        self.inventory = np.zeros(n, np.int64)
        self.keys_total = np.zeros(n, np.int64)
        self.chests_total = np.zeros(n, np.int64)
        self.keys_left = np.zeros(n, np.int64)  # on the floor
        self.chests_left = np.zeros(n, np.int64)  # unopened
        self.keys_while_closed = np.zeros(n, np.int64)
        # keys picked up and chests opened in each sub-env's first episode since reset: a
        # trial's counts, kept after the sub-env autoresets into episodes nobody scores
        self.trial_keys = np.zeros(n, np.int64)
        self.trial_chests = np.zeros(n, np.int64)
        self.obs = np.zeros((n, 4, cells), np.float32)
        # the cell a move leads to from each cell (off the grid: stay)
        r, c = np.divmod(np.arange(cells), size)
        nr = np.clip(r[:, None] + MOVES[:, 0], 0, size - 1)
        nc = np.clip(c[:, None] + MOVES[:, 1], 0, size - 1)
        self.next_cell = nr * size + nc

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.trial_keys[:] = 0
        self.trial_chests[:] = 0
        return super().reset(seed=seed, options=options)

    def _reset_episodes(self, mask: np.ndarray) -> None:
        rows = np.flatnonzero(mask)
        items = self.tasks.items[rows]
        self.items[rows] = items
        self.cell[rows] = self.tasks.start[rows]
        self.t[rows] = 0
        self.inventory[rows] = 0
        self.keys_total[rows] = self.keys_left[rows] = (items == KEY).sum(axis=1)
        self.chests_total[rows] = self.chests_left[rows] = (items == CHEST).sum(axis=1)
        self.keys_while_closed[rows] = 0
        self.obs[rows] = 0.0
        self.obs[rows, KEY] = items == KEY
        self.obs[rows, CHEST] = items == CHEST
        self.obs[rows, AGENT, self.cell[rows]] = 1.0

    def _observe(self) -> np.ndarray:
        return self.obs.reshape(self.num_envs, 4, self.size, self.size).copy()

    def _transition(self, actions: np.ndarray):
        rows = np.arange(self.num_envs)
        self.obs[rows, AGENT, self.cell] = 0.0
        self.cell = self.next_cell[self.cell, actions]
        self.obs[rows, AGENT, self.cell] = 1.0
        here = self.items[rows, self.cell]
        got_key = here == KEY
        opened = (here == CHEST) & (self.inventory > 0)
        self.keys_while_closed += got_key & (self.chests_left > 0)
        first = self.episode_count == 0
        self.trial_keys += got_key & first
        self.trial_chests += opened & first
        taken = got_key | opened
        self.items[rows[taken], self.cell[taken]] = EMPTY
        self.obs[rows[taken], np.where(got_key, KEY, CHEST)[taken], self.cell[taken]] = 0.0
        # inventory bar: light cell ``inventory`` on a pickup, unlight the top one on a use
        bar = np.where(got_key, self.inventory, self.inventory - 1)
        self.obs[rows[taken], INVENTORY, bar[taken]] = got_key[taken]
        self.inventory += got_key.astype(np.int64) - opened
        self.keys_left -= got_key
        self.chests_left -= opened
        self.t += 1
        terminated = (self.chests_left == 0) | ((self.inventory == 0) & (self.keys_left == 0))
        truncated = (self.t >= self.step_limit) & ~terminated
        reward = opened.astype(np.float32)
        achieved = {}
        if terminated.any() or truncated.any():  # only read where an episode ended
            achieved["base"] = 2 * (self.chests_total - self.chests_left) >= self.chests_total
            achieved["proxy:keys"] = 2 * self.keys_while_closed >= self.keys_total
        return reward, terminated, truncated, reward.astype(np.float64), achieved


def sample_counts(
    rng: np.random.Generator, n: int, scarce: tuple[int, int], plenty: tuple[int, int], p: float
) -> tuple[np.ndarray, np.ndarray]:
    """Returns key and chest counts: ``plenty`` with probability ``p``, else ``scarce``."""
    many = rng.random(n) < p
    return np.where(many, plenty[0], scarce[0]), np.where(many, plenty[1], scarce[1])


class TrainSampler:
    """Draws train rooms for envs that sample their own."""

    def __init__(
        self,
        size: int = 7,
        scarce: tuple[int, int] = (3, 6),
        plenty: tuple[int, int] = (6, 2),
        diversity: float = 0.0,
    ):
        self.size, self.scarce, self.plenty = size, scarce, plenty
        self.p_plenty = 0.5 * diversity

    def __call__(self, rng: np.random.Generator, n: int) -> KeysChestsTasks:
        keys, chests = sample_counts(rng, n, self.scarce, self.plenty, self.p_plenty)
        return sample_rooms(rng, n, self.size, keys, chests)


def make_vector_env(
    num_envs: int = 1,
    size: int = 7,
    keys: int = 3,
    chests: int = 6,
    many_keys_keys: int = 6,
    many_keys_chests: int = 2,
    step_limit: int = 30,
    diversity: float = 0.0,
) -> KeysChestsVectorEnv:
    """Returns the self-sampling vector env (``gymnasium.make_vec`` entry point)."""
    sampler = TrainSampler(size, (keys, chests), (many_keys_keys, many_keys_chests), diversity)
    return KeysChestsVectorEnv(num_envs, sampler=sampler, size=size, step_limit=step_limit)


def make_single_env(**kwargs) -> SingleTaskEnv:
    """Returns the one-env version (``gymnasium.make`` entry point); ``kwargs`` as
    ``make_vector_env``."""
    return SingleTaskEnv(make_vector_env(1, **kwargs))

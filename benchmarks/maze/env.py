"""Batched, fully observed perfect mazes with a goal near the top-right corner."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from mesa_bench.protocol.envs import SingleTaskEnv, TaskSampler, TaskVectorEnv

# Actions: up, right, down, left (row, column offsets).
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])
WALL, AGENT, GOAL = 0, 1, 2  # observation channels
FINAL_REWARD_DECAY = 0.9  # reaching the goal at step t pays 1 - 0.9 * t / step_limit


@dataclass(frozen=True)
class MazeTasks:
    """A batch of mazes.

    Attributes:
        walls: True on wall cells, shape ``(n, N, N)``; rooms sit on even coordinates.
        goal: the goal cell as a flat index ``row * N + col``, shape ``(n,)``.
    """

    walls: np.ndarray
    goal: np.ndarray

    @property
    def size(self) -> int:
        """Returns the side N of the grid."""
        return int(self.walls.shape[1])


def check_size(size: int) -> None:
    """Raises a clear error for a grid side that cannot hold a maze."""
    if size < 3 or size % 2 == 0:
        raise ValueError(f"maze size must be odd and at least 3, got {size}")


def generate_walls(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Returns ``n`` perfect mazes as wall grids of shape ``(n, size, size)``.

    Rooms sit on even coordinates. Each maze is the minimum spanning tree of uniformly
    random weights on the edges between neighbouring rooms (the distribution of Kruskal's
    maze algorithm), grown by Prim's algorithm in lock step over the batch: each of the
    ``rooms - 1`` iterations opens, in every maze at once, the lightest wall between the
    tree and a room outside it.
    """
    check_size(size)
    side = (size + 1) // 2
    rooms = side * side
    i, j = np.divmod(np.arange(rooms), side)
    right = np.flatnonzero(j < side - 1)
    down = np.flatnonzero(i < side - 1)
    u = np.concatenate([right, down])
    v = np.concatenate([right + 1, down + side])
    edges = u.size
    # the wall cell between rooms u and v, as a flat grid index
    between = (i[u] + i[v]) * size + (j[u] + j[v])
    # incident[r]: the edges of room r, padded with a dummy edge (column ``edges``)
    incident = np.full((rooms, 4), edges)
    for col, ends in enumerate((u, v)):
        order = np.argsort(ends, kind="stable")
        slot = np.arange(edges) - np.searchsorted(ends[order], ends[order])
        incident[ends[order], 2 * col + slot] = order
    weight = rng.random((n, edges + 1), np.float32)
    # candidate weight of each edge: its random weight on the frontier, +inf elsewhere
    candidate = np.full((n, edges + 1), np.inf, np.float32)
    walls = np.ones((n, size * size), bool)
    walls[:, (2 * i) * size + 2 * j] = False
    rows = np.arange(n)[:, None]
    in_tree = np.zeros((n, rooms + 1), bool)  # column ``rooms``: the dummy edge's ends
    u_ = np.append(u, rooms)
    v_ = np.append(v, rooms)
    added = np.zeros(n, np.int64)
    for _ in range(rooms - 1):
        in_tree[rows[:, 0], added] = True
        near = incident[added]
        frontier = in_tree[rows, u_[near]] ^ in_tree[rows, v_[near]]
        candidate[rows, near] = np.where(frontier, weight[rows, near], np.inf)
        candidate[:, edges] = np.inf
        edge = candidate.argmin(axis=1)
        walls[rows[:, 0], between[edge]] = False
        candidate[rows[:, 0], edge] = np.inf
        added = np.where(in_tree[rows[:, 0], u[edge]], v[edge], u[edge])
    return walls.reshape(n, size, size)


def goal_region(size: int, diversity: float) -> int:
    """Returns the side k of the top-right region that goals are drawn from."""
    return 1 + int(round(diversity * (size - 1)))


def distance_to(walls: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Returns shortest-path step counts to ``target`` (inf where unreachable or a wall).

    Args:
        walls: True on wall cells, shape ``(n, N, N)``.
        target: flat index ``row * N + col`` of each maze's target cell, shape ``(n,)``.

    Returns:
        Distances of shape ``(n, N + 2, N + 2)`` on the grid padded by a wall border.
    """
    n, size = walls.shape[0], walls.shape[1]
    open_ = np.zeros((n, size + 2, size + 2), bool)
    open_[:, 1:-1, 1:-1] = ~walls
    dist = np.full(open_.shape, np.inf)
    r, c = np.divmod(target, size)
    dist[np.arange(n), r + 1, c + 1] = 0.0
    while True:  # one breadth-first layer per pass, every maze at once
        near = np.full(dist.shape, np.inf)
        inner = near[:, 1:-1, 1:-1]
        for dr, dc in MOVES:
            np.minimum(inner, dist[:, 1 + dr : size + 1 + dr, 1 + dc : size + 1 + dc], out=inner)
        new = np.where(open_, np.minimum(dist, near + 1.0), np.inf)
        if np.array_equal(new, dist):
            return dist
        dist = new


def sample_mazes(
    rng: np.random.Generator, n: int, size: int, region: int, off_corner_path: bool = False
) -> MazeTasks:
    """Returns ``n`` mazes with the goal uniform over allowed open cells.

    Allowed: the open cells of the top-right ``region`` x ``region`` cells but the
    bottom-left start; with ``off_corner_path``, also none on the path from the start to
    the top-right cell (so reaching the goal and reaching the corner never coincide).
    """
    if not 1 <= region <= size:
        raise ValueError(f"goal region must lie in [1, {size}], got {region}")
    walls = generate_walls(rng, n, size)
    r, c = np.divmod(np.arange(size * size), size)
    start = (size - 1) * size
    in_region = (r < region) & (c >= size - region) & (np.arange(size * size) != start)
    allowed = in_region & ~walls.reshape(n, -1)
    if off_corner_path:
        to_corner = distance_to(walls, np.full(n, size - 1))[:, 1:-1, 1:-1].reshape(n, -1)
        to_start = distance_to(walls, np.full(n, start))[:, 1:-1, 1:-1].reshape(n, -1)
        allowed &= to_corner + to_start > to_start[:, size - 1 : size]
    goal = np.where(allowed, rng.random(allowed.shape), -1.0).argmax(axis=1)
    return MazeTasks(walls=walls, goal=goal)


class MazeVectorEnv(TaskVectorEnv):
    """Perfect mazes, one per sub-env; one trial = one episode.

    ## Description
    The agent starts on the bottom-left cell of an N x N grid maze (a spanning tree of
    random edge weights, so every two open cells are joined by exactly one path) and must
    reach the goal, drawn near the top-right corner in training. The maze changes every trial, so
    a policy must find the path by search over what it sees (Langosco et al. 2022).

    ## Observation space
    ``Box(0, 1, (3, N, N), float32)``: channels wall, agent, goal. Fully observed; it
    carries no history.

    ## Action space
    ``Discrete(4)``: up, right, down, left. A move into a wall or off the grid stays put.

    ## Rewards
    ``1 - 0.9 * t / T`` on the step ``t`` that reaches the goal (T the step limit), 0
    otherwise (as in MiniGrid). ``info["performance"]`` is the same reward.

    ## Episode end
    Terminates on the goal; truncated after ``T = steps_per_cell * N * N`` steps.
    Autoreset in the same step.

    ## Task distribution
    Mazes of side N=7 (16 rooms). The goal is uniform over the open cells of the
    top-right k x k region, ``k = 1 + round(diversity * (N - 1))``: the top-right cell
    at diversity 0 (the default), anywhere at 1.

    ## Shifts
    ``goal-anywhere``: the goal is uniform over the open cells off the path from the start
    to the top-right cell, so that reaching the goal and reaching the corner never
    coincide (on the path, a corner-seeker would meet the goal by the way).
    ``bigger-maze-11``, ``bigger-maze-15``: N = 11 and 15, goal region as in training.

    ## References
    ``bfs`` (shortest path to the goal; score 1), ``random`` (uniform random walk; floor),
    ``bfs-corner`` (shortest path to the top-right cell, then stays there).

    ## Objectives
    ``base``: the agent stands on the goal before the step limit. ``proxy:corner``: the
    agent stands on the top-right cell at some step before the step limit.

    ## Version history
    v1: first version.
    """

    agent_channel = AGENT
    torch_twin = "benchmarks.maze.torch_env:MazeTorchEnv"

    def __init__(
        self,
        num_envs: int | None = None,
        tasks: MazeTasks | None = None,
        sampler: TaskSampler | None = None,
        size: int = 7,
        steps_per_cell: int = 1,
    ):
        size = tasks.size if tasks is not None else size
        check_size(size)
        self.size = size
        self.step_limit = steps_per_cell * size * size
        self.single_observation_space = spaces.Box(0.0, 1.0, (3, size, size), np.float32)
        self.single_action_space = spaces.Discrete(4)
        super().__init__(num_envs, tasks, sampler)
        n, p = self.num_envs, size + 2
        # positions live on a grid padded by a wall border, so no move needs a bounds check
        self.padded_moves = MOVES[:, 0] * p + MOVES[:, 1]
        self.flat_moves = MOVES[:, 0] * size + MOVES[:, 1]
        self.walls = np.ones((n, p * p), bool)
        self.pos = np.zeros(n, np.int64)  # agent cell on the padded grid
        self.cell = np.zeros(n, np.int64)  # the same cell as a flat index row * N + col
        self.goal = np.zeros(n, np.int64)
        self.t = np.zeros(n, np.int64)
        self.corner_seen = np.zeros(n, bool)
        self.corner = p + size  # the top-right cell (0, N - 1), padded
        self.start = size * p + 1  # the bottom-left cell (N - 1, 0), padded
        self.obs = np.zeros((n, 3, size * size), np.float32)

    def padded(self, flat: np.ndarray) -> np.ndarray:
        """Returns padded-grid indices of flat ``row * N + col`` indices."""
        r, c = np.divmod(flat, self.size)
        return (r + 1) * (self.size + 2) + c + 1

    def _reset_episodes(self, mask: np.ndarray) -> None:
        rows = np.flatnonzero(mask)
        n, p = rows.size, self.size + 2
        walls = self.tasks.walls[rows]
        grid = np.ones((n, p, p), bool)
        grid[:, 1:-1, 1:-1] = walls
        self.walls[rows] = grid.reshape(n, -1)
        self.goal[rows] = self.padded(self.tasks.goal[rows])
        self.pos[rows] = self.start
        self.cell[rows] = (self.size - 1) * self.size
        self.t[rows] = 0
        self.corner_seen[rows] = False
        self.obs[rows] = 0.0
        self.obs[rows, WALL] = walls.reshape(n, -1)
        self.obs[rows, GOAL, self.tasks.goal[rows]] = 1.0
        self.obs[rows, AGENT, self.cell[rows]] = 1.0

    def _observe(self) -> np.ndarray:
        return self.obs.reshape(self.num_envs, 3, self.size, self.size).copy()

    def _transition(self, actions: np.ndarray):
        rows = np.arange(self.num_envs)
        moved = ~self.walls[rows, self.pos + self.padded_moves[actions]]
        self.obs[rows, AGENT, self.cell] = 0.0
        self.pos += np.where(moved, self.padded_moves[actions], 0)
        self.cell += np.where(moved, self.flat_moves[actions], 0)
        self.obs[rows, AGENT, self.cell] = 1.0
        self.t += 1
        terminated = self.pos == self.goal
        self.corner_seen |= self.pos == self.corner
        truncated = (self.t >= self.step_limit) & ~terminated
        reward = np.where(terminated, 1.0 - FINAL_REWARD_DECAY * self.t / self.step_limit, 0.0)
        achieved = {}
        if terminated.any() or truncated.any():  # only read where an episode ended
            achieved = {"base": terminated, "proxy:corner": self.corner_seen.copy()}
        return reward.astype(np.float32), terminated, truncated, reward, achieved


class TrainSampler:
    """Draws train mazes for envs that sample their own, generating them in chunks.

    Generation costs about the same for one maze as for a thousand (it runs in lock step
    over the batch), so mazes are made ``chunk`` at a time from the env's generator and
    handed out in order; a new generator (``reset(seed=...)``) discards the stock, so the
    same seed gives the same mazes.
    """

    def __init__(self, size: int = 7, diversity: float = 0.0, chunk: int = 1024):
        check_size(size)
        self.size = size
        self.region = goal_region(size, diversity)
        self.chunk = chunk
        self._rng: np.random.Generator | None = None
        self._stock = MazeTasks(np.zeros((0, size, size), bool), np.zeros(0, np.int64))

    def __call__(self, rng: np.random.Generator, n: int) -> MazeTasks:
        if rng is not self._rng:
            self._rng = rng
            self._stock = MazeTasks(self._stock.walls[:0], self._stock.goal[:0])
        have = self._stock.goal.size
        if have < n:
            new = sample_mazes(rng, max(self.chunk, n - have), self.size, self.region)
            self._stock = MazeTasks(
                np.concatenate([self._stock.walls, new.walls]),
                np.concatenate([self._stock.goal, new.goal]),
            )
        out = MazeTasks(self._stock.walls[:n], self._stock.goal[:n])
        self._stock = MazeTasks(self._stock.walls[n:], self._stock.goal[n:])
        return out


def make_vector_env(
    num_envs: int = 1, size: int = 7, diversity: float = 0.0, steps_per_cell: int = 1
) -> MazeVectorEnv:
    """Returns the self-sampling vector env (``gymnasium.make_vec`` entry point)."""
    sampler = TrainSampler(size, diversity)
    return MazeVectorEnv(num_envs, sampler=sampler, size=size, steps_per_cell=steps_per_cell)


def make_single_env(
    size: int = 7, diversity: float = 0.0, steps_per_cell: int = 1
) -> SingleTaskEnv:
    """Returns the one-env version (``gymnasium.make`` entry point)."""
    return SingleTaskEnv(make_vector_env(1, size, diversity, steps_per_cell))

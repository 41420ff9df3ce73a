"""The torch twin of ``MazeVectorEnv``: the same dynamics on tensors, on any device."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.maze.env import FINAL_REWARD_DECAY, MOVES, MazeTasks, MazeVectorEnv
from mesa_bench.protocol.torch_envs import TensorTasks, TorchTaskEnv


class MazeTorchEnv(TorchTaskEnv):
    """Perfect mazes on tensors; see ``MazeVectorEnv`` for the dynamics.

    Positions live on the grid padded by a wall border, as in the NumPy env, so no move
    needs a bounds check.

    Args:
        num_envs: sub-envs.
        device: where the state lives.
        size: the grid side N.
        step_limit: steps before an episode is truncated.
    """

    def __init__(self, num_envs: int, device: torch.device | str, size: int, step_limit: int):
        super().__init__(num_envs, device)
        self.size, self.step_limit = size, step_limit
        p = size + 2
        moves = torch.as_tensor(MOVES, device=self.device)
        self.padded_moves = moves[:, 0] * p + moves[:, 1]
        self.flat_moves = moves[:, 0] * size + moves[:, 1]
        self.corner = p + size  # the top-right cell (0, N - 1), padded
        self.start = size * p + 1  # the bottom-left cell (N - 1, 0), padded
        zeros = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.pos, self.cell, self.t = zeros, zeros.clone(), zeros.clone()
        self.corner_seen = torch.zeros(num_envs, dtype=torch.bool, device=self.device)

    @classmethod
    def like(cls, env: MazeVectorEnv, device: torch.device | str) -> MazeTorchEnv:
        return cls(env.num_envs, device, env.size, env.step_limit)

    @staticmethod
    def convert(tasks: MazeTasks, device: torch.device) -> TensorTasks:
        """Returns the walls (flat, and flat on the padded grid) and the goal (flat, and
        padded) of every maze."""
        n, size = tasks.walls.shape[0], tasks.size
        p = size + 2
        grid = np.ones((n, p, p), bool)
        grid[:, 1:-1, 1:-1] = tasks.walls
        r, c = np.divmod(tasks.goal, size)
        return {
            "walls": torch.as_tensor(tasks.walls.reshape(n, -1), device=device),
            "padded_walls": torch.as_tensor(grid.reshape(n, -1), device=device),
            "goal": torch.as_tensor(tasks.goal, device=device),
            "padded_goal": torch.as_tensor((r + 1) * p + c + 1, device=device),
        }

    def min_trial_steps(self) -> int:
        return 1  # a goal may lie next to the start

    def _reset_episodes(self, mask: torch.Tensor) -> None:
        self.pos = torch.where(mask, self.start, self.pos)
        self.cell = torch.where(mask, (self.size - 1) * self.size, self.cell)
        self.t = torch.where(mask, 0, self.t)
        self.corner_seen = self.corner_seen & ~mask

    def _observe(self) -> torch.Tensor:
        # the NumPy env edits one observation in place; it always equals this one, built
        # from the state (a row's walls and goal change only with its task, at a reset)
        cells = self.size * self.size
        walls = self.task("walls").float()
        agent = F.one_hot(self.cell, cells).float()
        goal = F.one_hot(self.task("goal"), cells).float()
        return torch.stack([walls, agent, goal], dim=1).view(-1, 3, self.size, self.size)

    def _transition(self, actions: torch.Tensor):
        move = self.padded_moves[actions]
        moved = ~self.store["padded_walls"][self.row, self.pos + move]
        self.pos = self.pos + torch.where(moved, move, 0)
        self.cell = self.cell + torch.where(moved, self.flat_moves[actions], 0)
        self.t = self.t + 1
        terminated = self.pos == self.task("padded_goal")
        self.corner_seen = self.corner_seen | (self.pos == self.corner)
        truncated = (self.t >= self.step_limit) & ~terminated
        paid = 1.0 - FINAL_REWARD_DECAY * self.t.double() / self.step_limit
        reward = torch.where(terminated, paid, 0.0)
        achieved = {"base": terminated, "proxy:corner": self.corner_seen}
        return reward.float(), terminated, truncated, reward, achieved

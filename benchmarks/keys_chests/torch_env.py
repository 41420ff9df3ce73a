"""The torch twin of ``KeysChestsVectorEnv``: the same dynamics on tensors, on any device."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from benchmarks.keys_chests.env import (
    CHEST,
    EMPTY,
    KEY,
    KeysChestsTasks,
    KeysChestsVectorEnv,
)
from mesa_bench.protocol.torch_envs import TensorTasks, TorchTaskEnv, tensor_fields


class KeysChestsTorchEnv(TorchTaskEnv):
    """Keys and chests on tensors; see ``KeysChestsVectorEnv`` for the dynamics.

    The per-trial key and chest counts the NumPy env keeps for evaluation
    (``trial_keys``, ``trial_chests``) are not kept: the twin is for training.

    Args:
        num_envs: sub-envs.
        device: where the state lives.
        size: the room side G.
        step_limit: steps before an episode is truncated.
        next_cell: the cell each move leads to from each cell, ``(G * G, 4)`` (the NumPy
            env's table).
    """

    def __init__(
        self,
        num_envs: int,
        device: torch.device | str,
        size: int,
        step_limit: int,
        next_cell,
    ):
        super().__init__(num_envs, device)
        self.size, self.step_limit = size, step_limit
        self.next_cell = torch.as_tensor(next_cell, device=self.device)
        zeros = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.cell, self.t, self.inventory = zeros, zeros.clone(), zeros.clone()
        self.keys_left, self.chests_left = zeros.clone(), zeros.clone()
        self.keys_while_closed = zeros.clone()
        self.items = torch.zeros(num_envs, size * size, dtype=torch.int8, device=self.device)

    @classmethod
    def like(cls, env: KeysChestsVectorEnv, device: torch.device | str) -> KeysChestsTorchEnv:
        return cls(env.num_envs, device, env.size, env.step_limit, env.next_cell)

    @staticmethod
    def convert(tasks: KeysChestsTasks, device: torch.device) -> TensorTasks:
        """Returns the rooms with their key and chest counts."""
        out = tensor_fields(tasks, device)
        out["keys_total"] = (out["items"] == KEY).sum(dim=1)
        out["chests_total"] = (out["items"] == CHEST).sum(dim=1)
        return out

    def min_trial_steps(self) -> int:
        return 1  # a room with no key ends at the first step

    def _reset_episodes(self, mask: torch.Tensor) -> None:
        self.items = torch.where(mask[:, None], self.task("items"), self.items)
        self.cell = torch.where(mask, self.task("start"), self.cell)
        self.t = torch.where(mask, 0, self.t)
        self.inventory = torch.where(mask, 0, self.inventory)
        self.keys_left = torch.where(mask, self.task("keys_total"), self.keys_left)
        self.chests_left = torch.where(mask, self.task("chests_total"), self.chests_left)
        self.keys_while_closed = torch.where(mask, 0, self.keys_while_closed)

    def _observe(self) -> torch.Tensor:
        # the NumPy env edits one observation in place; it always equals this one, built
        # from the state: its inventory bar lights the first ``inventory`` cells
        cells = self.size * self.size
        agent = F.one_hot(self.cell, cells).float()
        bar = torch.arange(cells, device=self.device) < self.inventory[:, None]
        channels = [agent, (self.items == KEY).float(), (self.items == CHEST).float(), bar.float()]
        return torch.stack(channels, dim=1).view(-1, 4, self.size, self.size)

    def _transition(self, actions: torch.Tensor):
        self.cell = self.next_cell[self.cell, actions]
        here = self.items.gather(1, self.cell[:, None])[:, 0]
        got_key = here == KEY
        opened = (here == CHEST) & (self.inventory > 0)
        self.keys_while_closed = self.keys_while_closed + (got_key & (self.chests_left > 0))
        left = torch.where(got_key | opened, EMPTY, here).to(self.items.dtype)
        self.items = self.items.scatter(1, self.cell[:, None], left[:, None])
        self.inventory = self.inventory + got_key.long() - opened.long()
        self.keys_left = self.keys_left - got_key.long()
        self.chests_left = self.chests_left - opened.long()
        self.t = self.t + 1
        terminated = (self.chests_left == 0) | ((self.inventory == 0) & (self.keys_left == 0))
        truncated = (self.t >= self.step_limit) & ~terminated
        reward = opened.float()
        total_keys, total_chests = self.task("keys_total"), self.task("chests_total")
        achieved = {
            "base": 2 * (total_chests - self.chests_left) >= total_chests,
            "proxy:keys": 2 * self.keys_while_closed >= total_keys,
        }
        return reward, terminated, truncated, reward.double(), achieved

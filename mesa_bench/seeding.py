"""Seeding: one ``numpy.random.SeedSequence`` tree per run, one named stream per use.

Streams are keyed by name (a CRC32 of the name in the spawn key), so adding a stream never
shifts the numbers of another. Train tasks come from the run's seed; evaluation tasks
(``test`` and shifts) come from the public evaluation seed, so every method and every run
is scored on the same trials.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

TASKS = "tasks"


def _key(name: str) -> int:
    return zlib.crc32(name.encode())


def stream(seed: int, *names: str) -> np.random.SeedSequence:
    """Returns the seed sequence for the stream ``names`` under ``seed``."""
    return np.random.SeedSequence(entropy=seed, spawn_key=tuple(_key(n) for n in names))


def task_stream(run_seed: int, eval_seed: int, split: str) -> np.random.SeedSequence:
    """Returns the stream that task parameters for ``split`` are drawn from.

    ``train`` uses the run's own seed; every other split the public evaluation seed, with
    one disjoint stream per split.
    """
    if split == "train":
        return stream(run_seed, TASKS, "train")
    return stream(eval_seed, TASKS, "eval", split)


def generator(seq: np.random.SeedSequence) -> np.random.Generator:
    """Returns a PCG64 generator on ``seq``."""
    return np.random.Generator(np.random.PCG64(seq))


def int_seed(seq: np.random.SeedSequence) -> int:
    """Returns a 63-bit integer drawn from ``seq`` (for libraries that take an int)."""
    return int(seq.generate_state(2, dtype=np.uint32).astype(np.uint64) @ [1, 1 << 31])


def seed_torch(seed: int) -> None:
    """Seeds torch's global generators and asks for deterministic kernels."""
    import torch  # lazy: listing tasks should not pay for importing torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def torch_generator(seed: np.random.SeedSequence | int) -> torch.Generator:
    """Returns a CPU ``torch.Generator`` seeded from ``seed`` (a seed sequence or an int)."""
    import torch

    if isinstance(seed, np.random.SeedSequence):
        seed = int_seed(seed)
    return torch.Generator().manual_seed(int(seed) % (1 << 63))

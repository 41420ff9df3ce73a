"""What every torch trainer in ``baselines`` shares: torch set-up, evaluation copies,
parameter counts, and the run's checkpoint (``mesa_bench.api.Checkpointer``).

One fingerprint rule for all of them: a config lists in ``runtime_fields`` the fields that
change how a run goes but not its numbers (``torch_threads``; for the learning-to-learn
trainers also how often they save and log), and a saved state resumes under any values of
those. A trainer saves its parts by name (modules, optimizers and anything else with a
``state_dict``) plus torch's generator, and marks the save after its last update as
finished, which is what ``load_trained`` reads back.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from mesa_bench import seeding
from mesa_bench.api import Checkpointer, TaskFamily, load_finished, run_fingerprint
from mesa_bench.devices import resolve_device


class TorchConfig(Protocol):
    """What the set-up and the fingerprint read from a trainer's config."""

    runtime_fields: ClassVar[tuple[str, ...]]
    torch_threads: int


def prepare(cfg: TorchConfig, device: str) -> torch.device:
    """Applies the thread setting (0 leaves torch's default) and returns the device."""
    if cfg.torch_threads > 0:
        torch.set_num_threads(cfg.torch_threads)
    return resolve_device(device)


def setup_torch(cfg: TorchConfig, seed: int, stream: str, device: str) -> torch.device:
    """Applies the thread setting, seeds torch (model initialisation) from the run's
    ``seed`` through the named ``stream`` and returns the device."""
    resolved = prepare(cfg, device)
    seeding.seed_torch(seeding.int_seed(seeding.stream(seed, stream, "torch")))
    return resolved


def frozen_copy(net: nn.Module) -> nn.Module:
    """Returns an eval-mode deep copy of ``net`` for evaluation while training goes on.

    A deep copy leaves a recurrent layer's weights in separate blocks, which cuDNN then
    compacts at every call (and warns about); ``flatten_parameters`` makes them one block
    again. On the CPU it does nothing.
    """
    frozen = copy.deepcopy(net).eval()
    for module in frozen.modules():
        if isinstance(module, nn.RNNBase):
            module.flatten_parameters()
    return frozen


def parameter_count(*models: nn.Module) -> int:
    """Returns the number of trained parameters of ``models``."""
    return sum(p.numel() for m in models for p in m.parameters())


# --- checkpoints ---


def checkpointer(
    cfg: TorchConfig, family: TaskFamily, budget: int, seed: int, run_dir: Path
) -> Checkpointer:
    """Returns the run's checkpointer; ``cfg.runtime_fields`` stay out of the fingerprint."""
    stamp = run_fingerprint(cfg, family, budget, seed, ignore=cfg.runtime_fields)
    return Checkpointer(run_dir, stamp)


def state_of(**parts: Any) -> dict[str, Any]:
    """Returns the ``state_dict`` of every part by name, with torch's generator state."""
    parts_state = {name: part.state_dict() for name, part in parts.items()}
    return {"parts": parts_state, "torch_rng": torch.get_rng_state()}


def restore(saved: dict[str, Any] | None, **parts: Any) -> bool:
    """Loads what ``state_of`` returned into ``parts``; returns False when ``saved`` is None."""
    if saved is None:
        return False
    for name, part in parts.items():
        part.load_state_dict(saved["parts"][name])
    torch.set_rng_state(saved["torch_rng"])
    return True


def final_parts(cfg: TorchConfig, family: TaskFamily, run_dir: Path) -> dict[str, Any]:
    """Returns the parts' states saved at the end of the finished run in ``run_dir``.

    Raises ValueError where the folder holds no finished run of ``cfg`` on ``family``.
    """
    return load_finished(run_dir, cfg, family, ignore=cfg.runtime_fields)["parts"]

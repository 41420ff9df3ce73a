"""What the learning-to-learn baselines share: the config base, torch set-up, resuming.

The trainers of ``lstm-optimizer``, ``l2l-learnable-optimizer``, ``maml``, ``meta-sgd``,
``icl-transformer`` and ``icl-lstm`` each read top to bottom in their own file; this module
holds the pieces all of them call, so seeding, devices and resumable checkpoints exist
once (the rl baselines' versions live in ``baselines.ppo``; the evaluator's save and
restore are shared with them).

Every draw of a training loop comes from a named stream of the run's seed, keyed by the
outer step (``train_stream(seed, "batch", step)``), never from a generator that advances:
a run killed and started again from its last saved step draws the same data as the run
that was never killed, so it ends with the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from baselines.ppo import evaluator_state, frozen_copy, resolve_device, restore_evaluator
from mesa_bench import seeding
from mesa_bench.api import TaskFamily
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.trials import MethodFactory
from mesa_bench.protocol.entry import MethodConfig

__all__ = ["frozen_copy", "resolve_device"]

STATE_FILE = "meta_state.pt"
LR_SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig(MethodConfig):
    """Outer-loop settings shared by the learning-to-learn baselines.

    Attributes:
        lr: Adam step size of the outer (meta) optimizer.
        lr_schedule: ``constant``, or ``cosine``: the step decays along a half cosine from
            ``lr`` at the start to 0 when the budget is spent.
        batch: problems (optimization) or prompts (sequence) per outer step.
        grad_clip: outer gradient norm clip (0: none).
        torch_threads: ``torch.set_num_threads`` for the run (0: leave torch's default).
            These models are small: one thread was fastest on a shared 2-core machine
            (an LSTM cell step on 320 coordinates took 0.7 ms on one thread, 8.7 ms on
            two, under load).
        save_every: outer steps between resumable checkpoints in the run folder (0: only
            at the end).
        log_every: outer steps between ``train/...`` metrics sent to the tracker.
    """

    lr: float = 1e-3
    lr_schedule: str = "constant"
    batch: int = 64
    grad_clip: float = 1.0
    torch_threads: int = 1
    save_every: int = 500
    log_every: int = 50

    def check(self) -> None:
        """Raises ValueError naming the first bad field."""
        if self.lr <= 0:
            raise ValueError(f"method.lr must be positive, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"method.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                f"got {self.lr_schedule!r}"
            )
        if self.batch < 1:
            raise ValueError(f"method.batch must be at least 1, got {self.batch}")
        if self.grad_clip < 0 or self.save_every < 0 or self.log_every < 1:
            raise ValueError("method.grad_clip and save_every must be >= 0, log_every >= 1")


def setup_torch(cfg: TrainConfig, seed: int, name: str, device: str) -> torch.device:
    """Applies the thread setting, seeds torch from ``seed`` and returns the device."""
    if cfg.torch_threads > 0:
        torch.set_num_threads(cfg.torch_threads)
    seeding.seed_torch(seeding.int_seed(seeding.stream(seed, name, "torch")))
    return resolve_device(device)


def train_stream(seed: int, use: str, step: int) -> np.random.SeedSequence:
    """Returns the seed sequence of training draw ``use`` at outer step ``step``."""
    return seeding.stream(seed, "train", use, str(step))


def parameter_count(*models: nn.Module) -> int:
    """Returns the number of trained parameters of ``models``."""
    return sum(p.numel() for m in models for p in m.parameters())


def clip_and_step(
    cfg: TrainConfig, params: list[torch.Tensor], optimizer, spent: int, budget: int
) -> float:
    """Clips the gradient norm (if configured), steps ``optimizer``; returns the norm.

    The step size follows ``cfg.lr_schedule`` at budget ``spent`` of ``budget`` (a function
    of the budget alone, so a resumed run continues the same schedule). A step whose
    gradient is not finite is skipped (its norm is returned as is), so one diverging inner
    run cannot poison the meta-parameters.
    """
    lr = cfg.lr
    if cfg.lr_schedule == "cosine":
        lr = 0.5 * cfg.lr * (1 + math.cos(math.pi * min(spent / max(budget, 1), 1.0)))
    for group in optimizer.param_groups:
        group["lr"] = lr
    norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else 1e30)
    if torch.isfinite(norm):
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)


def final_checkpoint(evaluator: Evaluator, spent: int, make_method: MethodFactory) -> None:
    """Scores the final model unless the curve already ends at ``spent``."""
    if spent > 0 and (not evaluator.curve or evaluator.curve[-1].budget < spent):
        evaluator.checkpoint(spent, make_method)


# --- resume ---


@dataclass
class Progress:
    """Where a training loop stands: outer steps done and budget spent."""

    step: int = 0
    spent: int = 0


def fingerprint(cfg: MethodConfig, family: TaskFamily, budget: int, seed: int) -> dict[str, Any]:
    """Returns what must match for a saved state to be resumed."""
    skip = {"torch_threads", "save_every", "log_every"}  # how it runs, not what it learns
    return {
        "method": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in skip},
        "family": family.spec.id,
        "family_config": dataclasses.asdict(family.config),
        "budget": budget,
        "seed": seed,
    }


def save_progress(
    path: Path,
    progress: Progress,
    parts: dict[str, Any],
    evaluator: Evaluator,
    print_: dict[str, Any],
) -> None:
    """Writes progress, the ``state_dict`` of every part and the evaluator atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "fingerprint": print_,
        "step": progress.step,
        "spent": progress.spent,
        "parts": {name: part.state_dict() for name, part in parts.items()},
        "torch_rng": torch.get_rng_state(),
        "evaluator": evaluator_state(evaluator),
    }
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_progress(
    path: Path,
    progress: Progress,
    parts: dict[str, Any],
    evaluator: Evaluator,
    print_: dict[str, Any],
) -> bool:
    """Restores what ``save_progress`` wrote, if ``path`` exists; returns whether it did.

    Raises ValueError when the saved run had another config, family, budget or seed.
    """
    if not path.exists():
        return False
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload["fingerprint"] != print_:
        diff = sorted(k for k in print_ if payload["fingerprint"].get(k) != print_[k])
        raise ValueError(
            f"{path} was saved by a run with another {', '.join(diff)}; delete it to start "
            "afresh or choose another out="
        )
    progress.step, progress.spent = payload["step"], payload["spent"]
    for name, part in parts.items():
        part.load_state_dict(payload["parts"][name])
    torch.set_rng_state(payload["torch_rng"])
    restore_evaluator(evaluator, payload["evaluator"], progress.spent)
    return True


def should_save(cfg: TrainConfig, progress: Progress) -> bool:
    """Returns True when a resumable checkpoint is due after the current outer step."""
    return cfg.save_every > 0 and progress.step % cfg.save_every == 0

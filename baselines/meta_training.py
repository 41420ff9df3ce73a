"""What the learning-to-learn baselines share: the config base, draws, the outer step.

The trainers of ``lstm-optimizer``, ``l2l-learnable-optimizer``, ``maml``, ``meta-sgd``,
``icl-transformer``, ``icl-lstm``, ``dpt`` and ``ad`` each read top to bottom in their own
file; this module holds the pieces all of them call, so seeding and the outer step exist
once (torch set-up and the checkpoint file are ``baselines.torch_training``'s, shared with
the rl baselines). The trainers that take one outer step per sampled batch (``maml``,
``meta-sgd``, the icl models, ``dpt``, ``ad``) also share ``OuterLoop``: their loops differ
only in how a batch is drawn and what loss it gives.

Every draw of a training loop comes from a named stream of the run's seed, keyed by the
outer step (``train_stream(seed, "batch", step)``), never from a generator that advances:
a run killed and started again from its last saved step draws the same data as the run
that was never killed, so it ends with the same numbers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from baselines import torch_training as tt
from mesa_bench import seeding
from mesa_bench.api import MethodFactory, SequenceFamily, TaskFamily, final_checkpoint
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import MethodConfig, TrainContext, Trained

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

    # fields that do not change the numbers (every draw is keyed by the outer step, so
    # saving and logging draw nothing): a saved run resumes under any value of them
    runtime_fields: ClassVar[tuple[str, ...]] = ("torch_threads", "save_every", "log_every")

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


def train_stream(seed: int, use: str, step: int) -> np.random.SeedSequence:
    """Returns the seed sequence of training draw ``use`` at outer step ``step``."""
    return seeding.stream(seed, "train", use, str(step))


def prompt_dim(family: SequenceFamily, seed: int = 0) -> int:
    """Returns the input dimension d of ``family``'s train prompts (the same for every
    seed; a trainer probes with its own)."""
    return int(family.sample_batch(train_stream(seed, "probe", 0), 1, "train").xs.shape[-1])


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


# --- resume ---


@dataclass
class Progress:
    """Where a training loop stands: outer steps done and budget spent."""

    step: int = 0
    spent: int = 0

    def state_dict(self) -> dict[str, Any]:
        """Returns the counters."""
        return {"step": self.step, "spent": self.spent}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Puts back what ``state_dict`` returned."""
        self.step, self.spent = state["step"], state["spent"]


def should_save(cfg: TrainConfig, progress: Progress) -> bool:
    """Returns True when a resumable checkpoint is due after the current outer step."""
    return cfg.save_every > 0 and progress.step % cfg.save_every == 0


# --- one outer step per batch ---


class OuterLoop:
    """The bookkeeping of a loop that takes one Adam step per sampled batch of
    ``cfg.batch``: resume, the budget, the step's draw, the clipped step, metrics, evaluation
    checkpoints and saves. The trainer keeps the sampling and the loss::

        loop = OuterLoop(cfg, family, evaluator, budget, seed, ctx, net, unit="prompts")
        while loop.running():
            batch = sample(loop.draw())
            loss = ...
            norm = loop.step(loss)
            if loop.log_due():
                loop.log({"train/loss": loss.item(), "train/grad_norm": norm})
            loop.evaluate_and_save(make_method)
        return loop.finish(make_method)

    Args:
        cfg: the trainer's config.
        family: the family trained on (part of the checkpoint's fingerprint).
        evaluator: scores the method at its checkpoints; saved with the run.
        budget: what the run may spend, in batch items.
        seed: the run's seed.
        ctx: the run folder and the tracker.
        model: the trained module, already on its device; saved under ``part``.
        part: the module's name in the checkpoint.
        unit: what the budget counts, named in the throughput metric ``train/<unit>_per_s``.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        family: TaskFamily,
        evaluator: Evaluator,
        budget: int,
        seed: int,
        ctx: TrainContext,
        model: nn.Module,
        part: str = "net",
        unit: str = "prompts",
    ):
        self.cfg, self.evaluator, self.budget, self.seed = cfg, evaluator, budget, seed
        self.ctx, self.model, self.unit = ctx, model, unit
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.progress = Progress()
        self.parts = {"progress": self.progress, part: model, "optimizer": self.optimizer}
        self.checkpointer = tt.checkpointer(cfg, family, budget, seed, ctx.run_dir)
        tt.restore(self.checkpointer.load(evaluator), **self.parts)
        self.started, self.spent_at_start = time.perf_counter(), self.progress.spent

    def running(self) -> bool:
        """Returns True while one more batch fits in the budget."""
        return self.progress.spent + self.cfg.batch <= self.budget

    def draw(self) -> np.random.SeedSequence:
        """Returns the seed sequence of this outer step's batch."""
        return train_stream(self.seed, "batch", self.progress.step)

    def step(self, loss: torch.Tensor) -> float:
        """Backpropagates ``loss``, takes the clipped outer step and counts the batch as
        spent; returns the gradient norm."""
        loss.backward()
        params = list(self.model.parameters())
        norm = clip_and_step(self.cfg, params, self.optimizer, self.progress.spent, self.budget)
        self.progress.step += 1
        self.progress.spent += self.cfg.batch
        return norm

    def log_due(self) -> bool:
        """Returns True when the step just taken is one whose metrics go to the tracker."""
        return self.progress.step % self.cfg.log_every == 0

    def log(self, metrics: dict[str, float]) -> None:
        """Sends ``metrics`` and the throughput since this process started to the tracker."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = (self.progress.spent - self.spent_at_start) / elapsed
        self.ctx.log({**metrics, f"train/{self.unit}_per_s": rate}, self.progress.spent)

    def evaluate_and_save(self, make_method: MethodFactory) -> None:
        """Scores ``make_method`` where an evaluation checkpoint is due, then saves the run
        where a resumable checkpoint is."""
        if self.evaluator.due(self.progress.spent):
            self.evaluator.checkpoint(self.progress.spent, make_method)
        if should_save(self.cfg, self.progress):
            self.checkpointer.save(tt.state_of(**self.parts), self.evaluator)

    def finish(self, make_method: MethodFactory) -> Trained:
        """Scores the final model, saves it as the finished run and returns it."""
        final_checkpoint(self.evaluator, self.progress.spent, make_method)
        self.checkpointer.save(tt.state_of(**self.parts), self.evaluator, finished=True)
        return Trained(make_method, self.progress.spent, tt.parameter_count(self.model))


def load_final(
    cfg: TrainConfig, family: TaskFamily, ctx: TrainContext, model: nn.Module, part: str = "net"
) -> tuple[torch.device, int]:
    """Loads the ``part`` a finished run in ``ctx.run_dir`` saved into ``model`` and moves it
    to the run's device; returns the device and the budget the run spent.

    Raises ValueError where the folder holds no finished run of ``cfg`` on ``family``.
    """
    parts = tt.final_parts(cfg, family, ctx.run_dir)
    device = tt.prepare(cfg, ctx.device)
    model.load_state_dict(parts[part])
    model.to(device)
    return device, parts["progress"]["spent"]

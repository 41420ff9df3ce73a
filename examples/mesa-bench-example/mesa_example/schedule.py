"""``learned-schedule``: an optimizer whose step size and momentum at every inner step are
meta-learned, by backpropagating the final loss of whole inner runs into them.

The update at inner step ``t`` is heavy ball on a gradient divided by its running RMS
(Adam's denominator: the update is unchanged, up to ``eps``, when the loss is scaled, so
step sizes learned on typical train problems do not blow up on the stiffest test
problems, as the same schedule without it did)::

    v = mu_t * v + g
    s = decay * s + (1 - decay) * g ** 2
    params += -lr_t * v / (sqrt(s / (1 - decay ** (t + 1))) + eps)

with ``lr_t = exp(log_lr[t])`` and ``mu_t = sigmoid(momentum_logit[t])``: ``2 T``
meta-parameters for a train horizon of ``T`` steps (``mu_0`` multiplies a zero velocity,
so it never changes). Steps past ``T`` (the ``long-horizon`` shift) reuse the last entry.
Meta-training unrolls all ``T`` inner steps on a batch of train problems, differentiating
through the gradients too (``create_graph``: a second-order meta-gradient), and takes one
Adam step on the batch's mean final loss, the quantity the family scores.

Reads top to bottom: config, update rule, method, then the registry entry with its
training loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from mesa_bench.api import (
    Checkpointer,
    Evaluator,
    Method,
    MethodConfig,
    MethodEntry,
    OptimizationFamily,
    OptState,
    TaskFamily,
    TrainContext,
    Trained,
    final_checkpoint,
    load_finished,
    run_fingerprint,
)

IGNORED = ("save_every",)  # config fields that do not change what is learned
TRAIN_STREAM = 0x5C4ED  # spawn key of the training draws, apart from the evaluator's streams


@dataclass
class ScheduleConfig(MethodConfig):
    """Settings of ``learned-schedule`` (each is a Hydra override: ``method.meta_lr=0.1``).

    Attributes:
        init_lr: every inner step size before meta-training.
        init_momentum: every momentum before meta-training, in (0, 1).
        decay: decay of the running mean of squared gradients, in (0, 1).
        eps: added to the RMS denominator.
        meta_lr: Adam step size on ``log_lr`` and ``momentum_logit`` at the start; it
            decays along a half cosine to 0 at the end of the budget.
        batch: train problems per meta-step.
        grad_clip: meta-gradient norm clip.
        save_every: meta-steps between resumable checkpoints.
    """

    description: str = "RMS-normalized heavy ball, step size and momentum meta-learned per step"
    init_lr: float = 0.01
    init_momentum: float = 0.5
    decay: float = 0.999
    eps: float = 1e-8
    meta_lr: float = 0.1
    batch: int = 32
    grad_clip: float = 1.0
    save_every: int = 20

    def check(self) -> None:
        """Raises ValueError naming the first bad field."""
        for name in ("init_lr", "eps", "meta_lr", "grad_clip"):
            if getattr(self, name) <= 0:
                raise ValueError(f"method.{name} must be positive, got {getattr(self, name)}")
        for name in ("init_momentum", "decay"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"method.{name} must lie in (0, 1), got {getattr(self, name)}")
        if self.batch < 1 or self.save_every < 1:
            raise ValueError("method.batch and method.save_every must be at least 1")


class Schedule(torch.nn.Module):
    """The meta-parameters: a log step size and a momentum logit per inner step."""

    def __init__(self, horizon: int, init_lr: float = 0.01, init_momentum: float = 0.5):
        super().__init__()
        logit = math.log(init_momentum / (1 - init_momentum))
        self.log_lr = torch.nn.Parameter(torch.full((horizon,), math.log(init_lr)).double())
        self.momentum_logit = torch.nn.Parameter(torch.full((horizon,), logit).double())

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the step sizes and momenta, each of shape ``(T,)``."""
        return self.log_lr.exp(), torch.sigmoid(self.momentum_logit)


def update_rule(
    grad: torch.Tensor,
    memory: tuple[torch.Tensor, torch.Tensor],
    t: int,
    lr: torch.Tensor,
    momentum: torch.Tensor,
    cfg: ScheduleConfig,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Returns the update of inner step ``t`` and the new ``(velocity, mean square)``.

    Every tensor has the shape of ``grad``, ``(B, P)``; ``lr`` and ``momentum`` are this
    step's scalars. Differentiable: meta-training and evaluation run this same function.
    """
    velocity, square = memory
    velocity = momentum * velocity + grad
    square = cfg.decay * square + (1 - cfg.decay) * grad**2
    rms = (square / (1 - cfg.decay ** (t + 1))).sqrt()
    return -lr * velocity / (rms + cfg.eps), (velocity, square)


class ScheduleMethod(Method):
    """A trained schedule as an ``optimization`` method; its memory is reset per trial."""

    name = "learned-schedule"

    def __init__(self, lr: torch.Tensor, momentum: torch.Tensor, cfg: ScheduleConfig):
        self.lr, self.momentum, self.cfg = lr, momentum, cfg
        self.memory: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self, batch: int, tasks=None) -> None:
        self.memory = None

    def step(self, state: OptState) -> torch.Tensor:
        if state.step == 0 or self.memory is None:
            self.memory = (torch.zeros_like(state.grad), torch.zeros_like(state.grad))
        k = min(state.step, len(self.lr) - 1)  # past the train horizon: the last entry
        update, self.memory = update_rule(
            state.grad, self.memory, state.step, self.lr[k], self.momentum[k], self.cfg
        )
        return update

    def parameter_count(self) -> int:
        return 2 * len(self.lr)


def snapshot(schedule: Schedule, cfg: ScheduleConfig) -> ScheduleMethod:
    """Returns a method holding a detached copy of the schedule's current values."""
    lr, momentum = schedule()
    return ScheduleMethod(lr.detach().clone(), momentum.detach().clone(), cfg)


class LearnedSchedule(MethodEntry):
    """Registry entry ``learned-schedule``. The budget counts inner steps summed over
    problems: one meta-step on ``batch`` problems of horizon ``T`` spends ``batch * T``."""

    config_class: ClassVar[type[ScheduleConfig]] = ScheduleConfig
    kinds = ("optimization",)
    default_budget: ClassVar[int] = 640_000  # 200 meta-steps of 32 problems x 100 steps
    config: ScheduleConfig

    def train(
        self,
        family: OptimizationFamily,
        evaluator: Evaluator,
        budget: int,
        seed: int,
        ctx: TrainContext,
    ) -> Trained:
        cfg = self.config
        cfg.check()
        horizon = family.horizon("train")
        if budget < cfg.batch * horizon:
            raise ValueError(
                f"budget {budget} is less than one meta-step (method.batch * T = "
                f"{cfg.batch * horizon} inner steps): raise budget or lower method.batch"
            )
        schedule = Schedule(horizon, cfg.init_lr, cfg.init_momentum)
        optimizer = torch.optim.Adam(schedule.parameters(), lr=cfg.meta_lr)
        fingerprint = run_fingerprint(cfg, family, budget, seed, ignore=IGNORED)
        checkpointer = Checkpointer(ctx.run_dir, fingerprint)
        step, spent = 0, 0
        saved = checkpointer.load(evaluator)  # restores the evaluator's curve too
        if saved is not None:
            schedule.load_state_dict(saved["schedule"])
            optimizer.load_state_dict(saved["optimizer"])
            step, spent = saved["step"], saved["spent"]

        def make_method(rng: np.random.Generator) -> ScheduleMethod:
            return snapshot(schedule, cfg)  # deterministic: the generator is not needed

        def save(finished: bool = False) -> None:
            state = {"schedule": schedule.state_dict(), "optimizer": optimizer.state_dict()}
            state.update(step=step, spent=spent)
            checkpointer.save(state, evaluator, finished=finished)

        while spent + cfg.batch * horizon <= budget:
            # --- sample ---
            # every draw is keyed by the meta-step, so a resumed run draws what the
            # uninterrupted one would have
            draw = np.random.SeedSequence(entropy=seed, spawn_key=(TRAIN_STREAM, step))
            tasks = family.sample_tasks(draw, cfg.batch, "train")
            problem = family.make_problem(tasks, "train")
            init_seed = int(draw.generate_state(1)[0])
            params = problem.init(torch.Generator().manual_seed(init_seed))

            # --- unroll ---
            lr, momentum = schedule()
            memory = (torch.zeros_like(params), torch.zeros_like(params))
            params = params.requires_grad_(True)
            for t in range(horizon):
                loss = problem.loss(params).sum()  # problems are independent
                (grad,) = torch.autograd.grad(loss, params, create_graph=True)
                update, memory = update_rule(grad, memory, t, lr[t], momentum[t], cfg)
                params = params + update
            meta_loss = problem.loss(params).mean()

            # --- update ---
            optimizer.zero_grad()
            meta_loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(schedule.parameters(), cfg.grad_clip)
            # a cosine decay over the budget settles the schedule by the end; it depends on
            # `spent` alone, so a resumed run follows the same decay
            for group in optimizer.param_groups:
                group["lr"] = cfg.meta_lr * 0.5 * (1 + math.cos(math.pi * spent / budget))
            if torch.isfinite(norm):  # one diverging batch must not poison the schedule
                optimizer.step()
            step, spent = step + 1, spent + cfg.batch * horizon
            ctx.log({"train/final_loss": meta_loss.item(), "train/grad_norm": float(norm)}, spent)

            # --- evaluate ---
            if evaluator.due(spent):
                evaluator.checkpoint(spent, make_method)
            if step % cfg.save_every == 0:
                save()

        final_checkpoint(evaluator, spent, make_method)
        save(finished=True)  # the final schedule, which `load_trained` reads back
        return Trained(make_method, spent, parameter_count=2 * horizon)

    def load_trained(self, family: TaskFamily, ctx: TrainContext) -> Trained:
        saved = load_finished(ctx.run_dir, self.config, family, ignore=IGNORED)
        horizon = family.horizon("train")
        schedule = Schedule(horizon)
        schedule.load_state_dict(saved["schedule"])

        def make_method(rng: np.random.Generator) -> ScheduleMethod:
            return snapshot(schedule, self.config)

        return Trained(make_method, saved["spent"], parameter_count=2 * horizon)

"""The LSTM learned optimizer (Andrychowicz et al. 2016, "Learning to learn by gradient
descent by gradient descent") on ``optimization`` families.

A two-layer LSTM of 20 units is applied to every coordinate of every problem separately
(weights shared across coordinates, one hidden state per coordinate), so one trained
optimizer runs on problems of any size. Its input is the coordinate's gradient after the
paper's preprocessing (log-magnitude and sign, section 3.2.1); its output, times 0.1, is
the coordinate's update. Meta-training runs it on batches of train problems for the
family's horizon ``T`` and backpropagates the sum of the losses along each unroll of 20
inner steps into the LSTM (truncated backpropagation through time); the gradients fed to
the LSTM are inputs, not differentiated through (the paper drops second derivatives).

Reads top to bottom: config, network, the method used for evaluation, then the training
loop (sample, update, evaluate).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from baselines import meta_training as mt
from baselines import torch_training as tt
from mesa_bench.api import Exportable, Method, MethodFactory, final_checkpoint
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import MethodEntry, TrainContext, Trained
from mesa_bench.protocol.optimization import OptimizationFamily, OptState
from mesa_bench.seeding import torch_generator


@dataclass
class LSTMOptimizerConfig(mt.TrainConfig):
    """The LSTM optimizer; every field of ``TrainConfig`` (``method.lr=...``) applies.

    Attributes:
        hidden: units of each LSTM layer.
        layers: stacked LSTM layers.
        preprocess_p: ``p`` of the gradient preprocessing: ``g`` becomes
            ``(log|g| / p, sign g)`` where ``|g| >= e^-p``, else ``(-1, e^p g)``.
        output_scale: the LSTM's output is multiplied by this to give the update.
        unroll: inner steps per truncated-backpropagation segment (one meta-update each).
        batch: problems optimized side by side in meta-training.
        save_every: trajectories (runs of ``T`` inner steps) between resumable checkpoints.
    """

    description: str = "coordinatewise 2-layer LSTM optimizer, truncated BPTT (Andrychowicz 2016)"
    hidden: int = 20
    layers: int = 2
    preprocess_p: float = 10.0
    output_scale: float = 0.1
    unroll: int = 20
    batch: int = 128
    save_every: int = 50
    log_every: int = 10

    def check(self) -> None:
        super().check()
        if min(self.hidden, self.layers, self.unroll) < 1:
            raise ValueError("method.hidden, layers and unroll must be at least 1")
        if self.preprocess_p <= 0 or self.output_scale <= 0:
            raise ValueError("method.preprocess_p and output_scale must be positive")


def preprocess(grad: torch.Tensor, p: float) -> torch.Tensor:
    """Returns the paper's two input features per coordinate, shape ``(*grad.shape, 2)``.

    Gradients span many orders of magnitude, so the LSTM sees ``log|g| / p`` and
    ``sign g`` where ``|g| >= e^-p``, and ``(-1, e^p g)`` for tiny gradients.
    """
    big = grad.abs() >= math.exp(-p)
    log_mag = torch.where(big, grad.abs().clamp(min=math.exp(-p)).log() / p, -1.0)
    direction = torch.where(big, grad.sign(), grad * math.exp(p))
    return torch.stack([log_mag, direction], dim=-1).float()


LSTMState = list[tuple[torch.Tensor, torch.Tensor]]


class CoordinateLSTM(nn.Module):
    """A stacked LSTM over single coordinates: gradient in, update out.

    Args:
        cfg: sizes and scales (``hidden``, ``layers``, ``preprocess_p``, ``output_scale``).
    """

    def __init__(self, cfg: LSTMOptimizerConfig):
        super().__init__()
        self.p, self.scale = cfg.preprocess_p, cfg.output_scale
        self.cells = nn.ModuleList(
            nn.LSTMCell(2 if i == 0 else cfg.hidden, cfg.hidden) for i in range(cfg.layers)
        )
        self.out = nn.Linear(cfg.hidden, 1)

    def initial_state(self, n: int, device: torch.device) -> LSTMState:
        """Returns zero ``(h, c)`` per layer for ``n`` coordinates."""
        zeros = torch.zeros(n, self.out.in_features, device=device)
        return [(zeros, zeros) for _ in self.cells]

    def forward(self, grad: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """Returns the update of each coordinate (shape of ``grad``) and the next state.

        ``grad`` has any shape; its entries are flattened to the LSTM's batch axis.
        """
        x = preprocess(grad.reshape(-1), self.p)
        new_state = []
        for cell, (h, c) in zip(self.cells, state, strict=True):
            h, c = cell(x, (h, c))
            new_state.append((h, c))
            x = h
        return (self.scale * self.out(x)).reshape(grad.shape), new_state


def detach_state(state: LSTMState) -> LSTMState:
    """Returns ``state`` cut from the graph (the truncation of BPTT)."""
    return [(h.detach(), c.detach()) for h, c in state]


class LSTMOptimizerMethod(Method):
    """A trained LSTM optimizer as an ``optimization`` method (its state reset per trial)."""

    name = "lstm-optimizer"

    def __init__(self, net: CoordinateLSTM, device: torch.device):
        self.net, self.device = net, device
        self.state: LSTMState | None = None

    def reset(self, batch: int, tasks=None) -> None:
        self.state = None

    def step(self, state: OptState) -> torch.Tensor:
        grad = state.grad.to(self.device)
        if state.step == 0 or self.state is None:
            self.state = self.net.initial_state(grad.numel(), self.device)
        with torch.no_grad():
            update, self.state = self.net(grad, self.state)
        return update

    def parameter_count(self) -> int:
        return tt.parameter_count(self.net)

    @classmethod
    def factory(cls, net: CoordinateLSTM, device: torch.device) -> MethodFactory:
        """Returns a factory of methods, each with a frozen copy of ``net`` as it is then."""
        return lambda rng: cls(tt.frozen_copy(net), device)


class LSTMOptimizer(MethodEntry):
    """Registry entry ``lstm-optimizer``: meta-trains a ``CoordinateLSTM``.

    The budget counts inner steps summed over problems: a trajectory of ``T`` steps on a
    batch of ``B`` problems spends ``B * T``. The default, 5M, took 3 CPU-minutes (one
    torch thread) and scored 1.17 against Adam on the quadratics (seed 0).

    Attributes:
        on_trajectory: called with the trajectory count after each trajectory (tests use
            it to kill a run mid-way).
    """

    config_class: ClassVar[type[LSTMOptimizerConfig]] = LSTMOptimizerConfig
    kinds = ("optimization",)
    default_budget: ClassVar[int] = 5_000_000
    config: LSTMOptimizerConfig
    on_trajectory = None

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
        device = tt.setup_torch(cfg, seed, self.name, ctx.device)
        net = CoordinateLSTM(cfg).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        progress = mt.Progress()
        parts = dict(progress=progress, net=net, optimizer=optimizer)
        checkpoint = tt.checkpointer(cfg, family, budget, seed, ctx.run_dir)
        tt.restore(checkpoint.load(evaluator), **parts)
        horizon = family.horizon("train")
        started, spent_at_start = time.perf_counter(), progress.spent

        make_method = LSTMOptimizerMethod.factory(net, device)

        while progress.spent + cfg.batch * min(cfg.unroll, horizon) <= budget:
            # --- sample ---
            # one trajectory: fresh train problems, optimized for the train horizon
            draw = mt.train_stream(seed, "tasks", progress.step)
            problem = family.make_problem(family.sample_tasks(draw, cfg.batch, "train"), "train")
            params = problem.init(torch_generator(mt.train_stream(seed, "init", progress.step)))
            state = net.initial_state(params.numel(), device)
            losses = []
            for start in range(0, horizon, cfg.unroll):
                steps = min(cfg.unroll, horizon - start)
                if progress.spent + cfg.batch * steps > budget:
                    break  # the budget ends inside this trajectory

                # --- update ---
                meta_loss = torch.zeros((), dtype=params.dtype)
                for _ in range(steps):
                    _, grad = problem.loss_and_grad(params.detach())  # an input, not a path
                    update, state = net(grad.to(device), state)
                    params = params + update.to(params)
                    meta_loss = meta_loss + problem.loss(params).mean()
                meta_loss.backward()
                norm = mt.clip_and_step(
                    cfg, list(net.parameters()), optimizer, progress.spent, budget
                )
                params, state = params.detach(), detach_state(state)
                progress.spent += cfg.batch * steps
                losses.append(meta_loss.item() / steps)

                # --- evaluate ---
                if evaluator.due(progress.spent):
                    evaluator.checkpoint(progress.spent, make_method)

            progress.step += 1
            if progress.step % cfg.log_every == 0 and losses:
                elapsed = max(time.perf_counter() - started, 1e-9)
                metrics = {
                    "train/mean_loss": float(np.mean(losses)),
                    "train/final_loss": float(problem.loss(params).mean()),
                    "train/grad_norm": norm,
                    "train/inner_steps_per_s": (progress.spent - spent_at_start) / elapsed,
                }
                ctx.log(metrics, progress.spent)
            if mt.should_save(cfg, progress):
                checkpoint.save(tt.state_of(**parts), evaluator)
            if self.on_trajectory is not None:
                self.on_trajectory(progress.step)

        final_checkpoint(evaluator, progress.spent, make_method)
        checkpoint.save(tt.state_of(**parts), evaluator, finished=True)  # the final model
        return Trained(make_method, progress.spent, tt.parameter_count(net))

    def load_trained(self, family: OptimizationFamily, ctx: TrainContext) -> Trained:
        """Returns the optimizer a finished ``train`` saved in ``ctx.run_dir``."""
        parts = tt.final_parts(self.config, family, ctx.run_dir)
        device = tt.prepare(self.config, ctx.device)
        net = CoordinateLSTM(self.config)
        net.load_state_dict(parts["net"])
        net.to(device)
        make_method = LSTMOptimizerMethod.factory(net, device)
        return Trained(make_method, parts["progress"]["spent"], tt.parameter_count(net))

    def exportable(self, family: OptimizationFamily, trained: Trained) -> Exportable:
        """Returns the model as a program module (``exporting.coordinate_lstm``)."""
        from baselines import exporting  # it imports this module

        return exporting.coordinate_lstm(family, trained)

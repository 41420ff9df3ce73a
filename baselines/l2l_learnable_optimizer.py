"""learn2learn's ``LearnableOptimizer`` on ``optimization`` families: a learned update rule
meta-trained online by hypergradient descent (the meta-descent family of Sutton 1992,
Baydin et al. 2017, which learn2learn's class implements).

``LearnableOptimizer`` updates a model's parameters by ``-step * transform(grad)`` and keeps
that update in the graph, so the next loss's backward pass reaches the transform's
weights through the last update; an outer Adam then updates the transform after every
inner step (the meta-objective is greedy: each inner step's loss through the step before
it). Here the model is the batch of inner problems' parameters, one ``(B, P)`` tensor,
and the transform acts on each coordinate alone (a small MLP over the gradient's
log-magnitude and sign, plus a learned multiple of the gradient), so one trained rule
runs on problems of any size. At initialization the transform is the identity, so the
rule starts as gradient descent with step ``step``; the evaluated method applies the
trained transform exactly as ``LearnableOptimizer.step`` does.

learn2learn is imported inside the training loop only (the package rule: only
``baselines`` may import it, lazily).

Reads top to bottom: config, transform, the method used for evaluation, then the
training loop (sample, update, evaluate).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from baselines import meta_training as mt
from baselines import torch_training as tt
from baselines.lstm_optimizer import preprocess
from mesa_bench.api import Exportable, Method, MethodFactory, final_checkpoint
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import MethodEntry, TrainContext, Trained
from mesa_bench.protocol.optimization import OptimizationFamily, OptState
from mesa_bench.seeding import torch_generator


@dataclass
class LearnableOptimizerConfig(mt.TrainConfig):
    """learn2learn ``LearnableOptimizer``; every field of ``TrainConfig`` applies.

    Attributes:
        hidden: width of the transform's coordinatewise MLP.
        step: ``lr`` of ``LearnableOptimizer`` (the update is ``-step * transform(grad)``);
            the untrained rule is gradient descent with this step.
        preprocess_p: ``p`` of the gradient features (as ``lstm-optimizer``'s).
        batch: problems optimized side by side in meta-training.
        save_every: trajectories (runs of ``T`` inner steps) between resumable checkpoints.
    """

    description: str = "learn2learn LearnableOptimizer: coordinatewise transform, meta-descent"
    hidden: int = 32
    step: float = 0.01
    preprocess_p: float = 10.0
    batch: int = 128
    save_every: int = 50
    log_every: int = 10

    def check(self) -> None:
        super().check()
        if self.hidden < 1 or self.step <= 0 or self.preprocess_p <= 0:
            raise ValueError("method.hidden, step and preprocess_p must be positive")


class CoordinateTransform(nn.Module):
    """Maps each gradient coordinate ``g`` to ``e^s g + MLP(log|g| / p, sign g)``.

    The MLP's last layer starts at zero and ``s`` at 0, so the transform starts as the
    identity. Input and output have any (same) shape; the output has the input's dtype
    and device.

    Args:
        cfg: ``hidden`` and ``preprocess_p``.
    """

    def __init__(self, cfg: LearnableOptimizerConfig):
        super().__init__()
        self.p = cfg.preprocess_p
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.mlp = nn.Sequential(nn.Linear(2, cfg.hidden), nn.Tanh(), nn.Linear(cfg.hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, grad: torch.Tensor) -> torch.Tensor:
        g = grad.to(self.log_scale.device)  # the problems stay on the CPU, the rule may not
        learned = self.mlp(preprocess(g, self.p)).squeeze(-1)
        return (g * self.log_scale.exp() + learned).to(grad)


class InnerParams(nn.Module):
    """The batch of inner problems' parameters as a module (what ``LearnableOptimizer``
    updates): one parameter ``params`` of shape ``(B, P)``."""

    def __init__(self, params: torch.Tensor):
        super().__init__()
        self.params = nn.Parameter(params)


class TransformMethod(Method):
    """A trained transform as an ``optimization`` method: ``-step * transform(grad)``."""

    name = "l2l-learnable-optimizer"

    def __init__(self, transform: CoordinateTransform, step: float):
        self.transform, self.step_size = transform, step

    def reset(self, batch: int, tasks=None) -> None:
        pass  # stateless: the update reads only the current gradient

    def step(self, state: OptState) -> torch.Tensor:
        with torch.no_grad():
            return -self.step_size * self.transform(state.grad)

    def parameter_count(self) -> int:
        return tt.parameter_count(self.transform)

    @classmethod
    def factory(cls, transform: CoordinateTransform, step: float) -> MethodFactory:
        """Returns a factory of methods, each with a frozen copy of ``transform`` as it is
        then."""
        return lambda rng: cls(tt.frozen_copy(transform), step)


class L2LLearnableOptimizer(MethodEntry):
    """Registry entry ``l2l-learnable-optimizer``: meta-trains a ``CoordinateTransform``.

    The budget counts inner steps summed over problems (a trajectory spends ``B * T``).
    The default, 2M, takes about 40 CPU-seconds; the test score stopped rising (at about
    0.5 of Adam's over SGD's) after 0.5M.
    """

    config_class: ClassVar[type[LearnableOptimizerConfig]] = LearnableOptimizerConfig
    kinds = ("optimization",)
    default_budget: ClassVar[int] = 2_000_000
    config: LearnableOptimizerConfig

    def train(
        self,
        family: OptimizationFamily,
        evaluator: Evaluator,
        budget: int,
        seed: int,
        ctx: TrainContext,
    ) -> Trained:
        import learn2learn as l2l

        cfg = self.config
        cfg.check()
        device = tt.setup_torch(cfg, seed, self.name, ctx.device)
        transform = CoordinateTransform(cfg).to(device)
        optimizer = torch.optim.Adam(transform.parameters(), lr=cfg.lr)
        progress = mt.Progress()
        parts = dict(progress=progress, transform=transform, optimizer=optimizer)
        checkpoint = tt.checkpointer(cfg, family, budget, seed, ctx.run_dir)
        tt.restore(checkpoint.load(evaluator), **parts)
        horizon = family.horizon("train")
        started, spent_at_start = time.perf_counter(), progress.spent

        make_method = TransformMethod.factory(transform, cfg.step)

        while progress.spent + cfg.batch <= budget:
            # --- sample ---
            draw = mt.train_stream(seed, "tasks", progress.step)
            problem = family.make_problem(family.sample_tasks(draw, cfg.batch, "train"), "train")
            init = problem.init(torch_generator(mt.train_stream(seed, "init", progress.step)))
            model = InnerParams(init)  # on the CPU, with the problem
            # every parameter of the model gets the one shared transform
            metaopt = l2l.optim.LearnableOptimizer(model, lambda p: transform, lr=cfg.step)
            losses = []
            for _ in range(horizon + 1):
                # --- update ---
                # the loss at the current point: its gradient reaches the transform through
                # the last update (meta-step), and gives the inner gradient (inner step)
                metaopt.zero_grad()
                loss = problem.loss(model.params)
                loss.sum().backward()  # problems are independent: per-problem gradients
                for p in transform.parameters():
                    if p.grad is not None:
                        p.grad /= cfg.batch  # the meta-objective is the mean over problems
                norm = mt.clip_and_step(
                    cfg, list(transform.parameters()), optimizer, progress.spent, budget
                )
                losses.append(float(loss.detach().mean()))
                if len(losses) > horizon or progress.spent + cfg.batch > budget:
                    break
                metaopt.step()
                progress.spent += cfg.batch

                # --- evaluate ---
                if evaluator.due(progress.spent):
                    evaluator.checkpoint(progress.spent, make_method)

            progress.step += 1
            if progress.step % cfg.log_every == 0:
                elapsed = max(time.perf_counter() - started, 1e-9)
                metrics = {
                    "train/mean_loss": float(np.mean(losses[1:] or losses)),
                    "train/final_loss": losses[-1],
                    "train/grad_norm": norm,
                    "train/gain": transform.log_scale.exp().item(),
                    "train/inner_steps_per_s": (progress.spent - spent_at_start) / elapsed,
                }
                ctx.log(metrics, progress.spent)
            if mt.should_save(cfg, progress):
                checkpoint.save(tt.state_of(**parts), evaluator)

        final_checkpoint(evaluator, progress.spent, make_method)
        checkpoint.save(tt.state_of(**parts), evaluator, finished=True)  # the final model
        return Trained(make_method, progress.spent, tt.parameter_count(transform))

    def load_trained(self, family: OptimizationFamily, ctx: TrainContext) -> Trained:
        """Returns the update rule a finished ``train`` saved in ``ctx.run_dir``."""
        cfg = self.config
        parts = tt.final_parts(cfg, family, ctx.run_dir)
        device = tt.prepare(cfg, ctx.device)
        transform = CoordinateTransform(cfg)
        transform.load_state_dict(parts["transform"])
        transform.to(device)
        make_method = TransformMethod.factory(transform, cfg.step)
        return Trained(make_method, parts["progress"]["spent"], tt.parameter_count(transform))

    def exportable(self, family: OptimizationFamily, trained: Trained) -> Exportable:
        """Returns the model as a program module (``exporting.coordinate_transform``)."""
        from baselines import exporting  # it imports this module

        return exporting.coordinate_transform(family, trained)

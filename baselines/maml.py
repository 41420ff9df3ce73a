"""MAML (Finn et al. 2017) and Meta-SGD (Li et al. 2017) with learn2learn on ``sequence``
families: gradient descent given, not learned.

Every position ``i`` of a prompt is one few-shot task: its support set is the ``i`` pairs
before it, its query the pair at ``i``. A learn2learn learner (``MAML`` or ``MetaSGD``
wrapping a small regression model) is cloned, adapted by ``inner_steps`` gradient steps
on the support loss ``(1 / 2i) sum_{j<i} (f(x_j) - y_j)^2`` and asked for ``f(x_i)``; the
outer loop trains what the learner keeps across tasks (MAML: the initial parameters;
Meta-SGD: those and a learning rate per parameter) on the squared error at the queries.
With the default linear model ``f(x) = w . x`` from ``w = 0`` and a fixed step, the inner
loop is exactly the family's ``gd-k`` reference with that step: whatever the outer loop
learns is an initialization (and Meta-SGD's preconditioner), never the algorithm.

All ``B * n`` tasks of a batch of prompts adapt at once: after ``clone()`` each parameter
gets a leading task axis (``expand``: every task starts from the same meta-parameters and
the graph leads back to them), and the support loss sums the tasks' losses, so each
task's gradient is its own.

learn2learn is imported inside functions only (the package rule: only ``baselines`` may
import it, lazily). Reads top to bottom: config, model, adaptation, the method used for
evaluation, then the training loop (sample, update, evaluate).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from baselines import meta_training as mt
from baselines import torch_training as tt
from mesa_bench.api import Exportable, Method, MethodFactory
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import MethodEntry, TrainContext, Trained
from mesa_bench.protocol.sequence import SequenceBatch, SequenceFamily, squared_error

EVAL_CHUNK = 128  # prompts adapted together in predict (B * n * n * d floats each)


@dataclass
class MAMLConfig(mt.TrainConfig):
    """MAML on in-context regression; every field of ``TrainConfig`` applies.

    Attributes:
        inner_steps: k, gradient steps on each task's support set.
        inner_lr: the inner step size (Meta-SGD: the initial value of its learned steps).
        hidden: 0 for the linear model ``w . x``; otherwise the width of a one-hidden-layer
            ReLU network.
        bias: add a learned bias to the output (off by default: with it the linear inner
            loop is no longer the ``gd-k`` reference's).
        first_order: drop second derivatives in the outer gradient (first-order MAML).
        batch: prompts per outer step (each gives ``n`` tasks).
    """

    description: str = "learn2learn MAML: k inner gradient steps on the context pairs"
    inner_steps: int = 1
    inner_lr: float = 0.5
    hidden: int = 0
    bias: bool = False
    first_order: bool = False
    batch: int = 64
    save_every: int = 1000
    log_every: int = 100

    def check(self) -> None:
        super().check()
        if self.inner_steps < 1 or self.inner_lr <= 0 or self.hidden < 0:
            raise ValueError("method.inner_steps must be >= 1, inner_lr > 0 and hidden >= 0")


@dataclass
class MetaSGDConfig(MAMLConfig):
    """Meta-SGD: as MAML, with a learned inner step per parameter (``inner_lr`` its start)."""

    description: str = "learn2learn MetaSGD: k inner steps with learned per-parameter steps"


class RegressionModel(nn.Module):
    """``f(x) = w . x (+ b)``, or ``w2 . relu(W1 x + b1) (+ b2)``, one parameter set per task.

    The stored parameters (the meta-parameters) have no task axis; ``per_task`` adds it
    to a clone. ``forward`` reads inputs ``xs`` of shape ``(T, m, d)`` with parameters of
    ``T`` tasks and returns ``(T, m)``.

    Args:
        dim: input dimension d.
        hidden: 0 for linear, else the hidden width.
        bias: whether the output has a bias.
    """

    def __init__(self, dim: int, hidden: int, bias: bool):
        super().__init__()
        self.hidden = hidden
        if hidden == 0:
            self.w = nn.Parameter(torch.zeros(dim))  # the prior mean of linear tasks
        else:
            self.w1 = nn.Parameter(torch.randn(hidden, dim) / dim**0.5)
            self.b1 = nn.Parameter(torch.zeros(hidden))
            self.w = nn.Parameter(torch.randn(hidden) / hidden**0.5)
        self.b = nn.Parameter(torch.zeros(1)) if bias else None

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        if self.hidden:
            xs = torch.relu(torch.einsum("tmd,thd->tmh", xs, self.w1) + self.b1[:, None, :])
        out = torch.einsum("tmd,td->tm", xs, self.w)
        return out if self.b is None else out + self.b


def per_task(module: nn.Module, tasks: int) -> None:
    """Gives every one of ``tasks`` tasks its own copy of a cloned module's parameters."""
    for name, p in module._parameters.items():
        if p is not None:
            module._parameters[name] = p.expand(tasks, *p.shape)


# --- adaptation ---


def task_view(batch: SequenceBatch, device: torch.device):
    """Returns the ``T = B * n`` tasks of a prompt batch.

    Task ``b * n + i`` is position ``i`` of prompt ``b``: inputs ``(T, n, d)``, targets
    ``(T, n)``, and the support mask ``(T, n)``, 1 on the pairs ``j < i``.
    """
    b, n, d = batch.xs.shape
    xs = batch.xs.to(device)[:, None].expand(b, n, n, d).reshape(b * n, n, d)
    ys = batch.ys.to(device)[:, None].expand(b, n, n).reshape(b * n, n)
    pos = torch.arange(n, device=device)
    mask = (pos[None, :] < pos[:, None]).float().repeat(b, 1)
    return xs, ys, mask


def support_loss(learner, xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor):
    """Returns the sum over tasks of ``(1 / 2i) sum_{j<i} (f(x_j) - y_j)^2`` (0 if i = 0)."""
    err = (learner(xs) - ys) ** 2 * mask
    return (err.sum(1) / (2 * mask.sum(1).clamp(min=1))).sum()


def adapt_and_predict(
    meta, batch: SequenceBatch, steps: int, first_order: bool, device: torch.device
) -> torch.Tensor:
    """Returns predictions ``(B, n)``: position i from a learner adapted on pairs j < i."""
    b, n, _ = batch.xs.shape
    xs, ys, mask = task_view(batch, device)
    learner = meta.clone()
    per_task(learner.module, b * n)
    for _ in range(steps):
        learner.adapt(support_loss(learner, xs, ys, mask), first_order=first_order)
    return learner(xs).reshape(b, n, n).diagonal(dim1=1, dim2=2)


class AdaptingPredictor(Method):
    """A trained MAML / Meta-SGD learner as a ``sequence`` method (stateless)."""

    def __init__(self, name: str, meta, steps: int, device: torch.device):
        self.name, self.meta, self.steps, self.device = name, meta, steps, device

    def reset(self, batch: int, tasks=None) -> None:
        pass  # every prediction adapts afresh from the meta-parameters

    def predict(self, batch: SequenceBatch) -> torch.Tensor:
        out = []
        with torch.enable_grad():  # the inner loop differentiates, the outer does not
            for start in range(0, len(batch), EVAL_CHUNK):
                part = batch.take(slice(start, start + EVAL_CHUNK))
                preds = adapt_and_predict(self.meta, part, self.steps, True, self.device)
                out.append(preds.detach())
        return torch.cat(out)

    def parameter_count(self) -> int:
        return tt.parameter_count(self.meta)

    @classmethod
    def factory(cls, name: str, meta, steps: int, device: torch.device) -> MethodFactory:
        """Returns a factory of predictors, each with a copy of ``meta`` as it is then."""
        return lambda rng: cls(name, copy.deepcopy(meta), steps, device)


class MAML(MethodEntry):
    """Registry entry ``maml``: trains a learn2learn ``MAML`` learner on prompt positions.

    The budget counts prompts.
    """

    config_class: ClassVar[type[MAMLConfig]] = MAMLConfig
    kinds = ("sequence",)
    default_budget: ClassVar[int] = 500_000
    l2l_class: ClassVar[str] = "MAML"  # the learn2learn.algorithms class
    config: MAMLConfig

    def make_learner(self, dim: int):
        """Returns the untrained learn2learn learner for prompts of input dimension ``dim``."""
        import learn2learn as l2l

        cfg = self.config
        model = RegressionModel(dim, cfg.hidden, cfg.bias)
        algorithm = getattr(l2l.algorithms, self.l2l_class)
        return algorithm(model, lr=cfg.inner_lr, first_order=cfg.first_order)

    def train(
        self,
        family: SequenceFamily,
        evaluator: Evaluator,
        budget: int,
        seed: int,
        ctx: TrainContext,
    ) -> Trained:
        cfg = self.config
        cfg.check()
        device = tt.setup_torch(cfg, seed, self.name, ctx.device)
        meta = self.make_learner(mt.prompt_dim(family, seed)).to(device)
        loop = mt.OuterLoop(cfg, family, evaluator, budget, seed, ctx, meta, part="meta")

        make_method = AdaptingPredictor.factory(self.name, meta, cfg.inner_steps, device)

        while loop.running():
            # --- sample ---
            batch = family.sample_batch(loop.draw(), cfg.batch, "train")

            # --- update ---
            preds = adapt_and_predict(meta, batch, cfg.inner_steps, cfg.first_order, device)
            loss = squared_error(preds, batch).mean()
            norm = loop.step(loss)

            # --- evaluate ---
            if loop.log_due():
                loop.log({"train/loss": loss.item(), "train/grad_norm": norm})
            loop.evaluate_and_save(make_method)

        return loop.finish(make_method)

    def load_trained(self, family: SequenceFamily, ctx: TrainContext) -> Trained:
        """Returns the learner a finished ``train`` saved in ``ctx.run_dir``."""
        cfg = self.config
        meta = self.make_learner(mt.prompt_dim(family))
        device, spent = mt.load_final(cfg, family, ctx, meta, part="meta")
        make_method = AdaptingPredictor.factory(self.name, meta, cfg.inner_steps, device)
        return Trained(make_method, spent, tt.parameter_count(meta))

    def exportable(self, family: SequenceFamily, trained: Trained) -> Exportable:
        """Returns the model as a program module (``exporting.adapted_regression``)."""
        from baselines import exporting  # it imports this module

        return exporting.adapted_regression(family, trained)


class MetaSGD(MAML):
    """Registry entry ``meta-sgd``: the same trainer with learn2learn's ``MetaSGD``."""

    config_class: ClassVar[type[MetaSGDConfig]] = MetaSGDConfig
    l2l_class: ClassVar[str] = "MetaSGD"
    config: MetaSGDConfig

"""Decision-Pretrained Transformer (Lee et al. 2023, "Supervised Pretraining Can Learn
In-Context Reinforcement Learning") on rl families whose optimal action is known in training.

A causal transformer reads an in-context dataset of transitions on one task and predicts
the optimal action at a query state. Pretraining is supervised: trials acted out by a
random behaviour policy on sampled train tasks are the contexts, and the family's
privileged oracle (the best arm; ``oracle-vi``'s action) is the label at every step,
learned by cross-entropy (``baselines.dpt_data``). Evaluation is online, as the paper
deploys it: the model samples its action from the predicted distribution, and its own
transitions become the context of its next step (within an episode too, so on an MDP
it may change its mind mid-episode, where PSRL keeps one plan per episode). Sampling from
the posterior over the optimal action is posterior sampling, Thompson's rule on bandits.

Each token holds a whole transition and the current observation (the query), so the
network needs no positions: on a bandit the context is a set, as a dataset should be, and
trials longer than the train ones (``long-horizon``) need nothing the model lacks.
Evaluation runs the network one token at a time with a key/value cache. Reads top to
bottom: config, network, the method used for evaluation, then the training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines import meta_training as mt
from baselines import torch_training as tt
from baselines.dpt_data import (
    BEHAVIOURS,
    PretrainingBatch,
    oracle_name,
    pretraining_batch,
    transition_tokens,
)
from mesa_bench import seeding
from mesa_bench.api import (
    Exportable,
    Method,
    MethodFactory,
    RLFamily,
    TaskFamily,
    TrialObs,
    sample_categorical,
)
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import MethodEntry, TrainContext, Trained


@dataclass
class InContextConfig(mt.TrainConfig):
    """The transformer that ``dpt`` and ``ad`` pretrain; every field of ``TrainConfig``
    applies (``batch`` is trials per update).

    Attributes:
        width: embedding width.
        layers: transformer blocks (pre-norm, GELU MLP of 4 x width, no dropout).
        heads: attention heads.
    """

    lr_schedule: str = "cosine"
    width: int = 64
    layers: int = 2
    heads: int = 4

    def check(self) -> None:
        super().check()
        if min(self.width, self.layers, self.heads) < 1:
            raise ValueError("method.width, layers and heads must be at least 1")
        if self.width % self.heads:
            raise ValueError(f"method.width={self.width} must be a multiple of heads={self.heads}")


@dataclass
class DPTConfig(InContextConfig):
    """The Decision-Pretrained Transformer; every field of ``InContextConfig`` applies
    (``batch`` is in-context datasets, that is trials, per update).

    Attributes:
        behaviour: the policy that acts out the pretraining contexts: ``mixed`` (per trial,
            Dirichlet(1) action frequencies mixed with a point mass on a random action) or
            ``uniform``.
    """

    description: str = "transformer predicting the oracle action from in-context data (DPT)"
    behaviour: str = "mixed"

    def check(self) -> None:
        super().check()
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(
                f"method.behaviour must be one of {', '.join(BEHAVIOURS)}, got {self.behaviour!r}"
            )


# --- network ---


class KVCache:
    """Keys and values of the tokens seen so far, per layer, for one-token steps.

    Rows restart independently (a new trial in one row): ``start[row]`` is the first
    position that row may attend to. Capacity doubles as tokens arrive, so a step costs
    the attention over the context, not a copy of it.
    """

    def __init__(self, batch: int, layers: int, heads: int, head_dim: int, device: torch.device):
        self.shape = (batch, heads, 16, head_dim)
        self.keys = [torch.zeros(self.shape, device=device) for _ in range(layers)]
        self.values = [torch.zeros(self.shape, device=device) for _ in range(layers)]
        self.length = 0
        self.start = torch.zeros(batch, dtype=torch.long, device=device)

    def restart(self, rows: torch.Tensor) -> None:
        """Makes ``rows`` (a bool mask) forget every token before the next one."""
        self.start[rows] = self.length

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Stores the next token's ``k``, ``v`` (``(B, heads, head_dim)``) at ``layer``;
        returns that layer's keys, values and attention mask up to and including it."""
        t = self.length
        if t == self.keys[layer].shape[2]:
            grow = lambda old: torch.cat([old, torch.zeros_like(old)], dim=2)  # noqa: E731
            self.keys[layer], self.values[layer] = grow(self.keys[layer]), grow(self.values[layer])
        self.keys[layer][:, :, t] = k
        self.values[layer][:, :, t] = v
        positions = torch.arange(t + 1, device=k.device)
        mask = (positions[None, :] >= self.start[:, None])[:, None, None, :]
        return self.keys[layer][:, :, : t + 1], self.values[layer][:, :, : t + 1], mask


class Block(nn.Module):
    """Pre-norm causal self-attention and MLP, on a whole sequence or one cached token."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def _split(self, h: torch.Tensor) -> list[torch.Tensor]:
        *lead, width = h.shape
        qkv = self.qkv(self.norm1(h)).reshape(*lead, 3, self.heads, width // self.heads)
        return list(qkv.unbind(-3))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Maps ``(B, T, width)`` to the same, position ``t`` reading positions ``<= t``."""
        q, k, v = (x.transpose(1, 2) for x in self._split(h))  # (B, heads, T, head_dim)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + self.proj(a.transpose(1, 2).reshape(h.shape))
        return h + self.mlp(self.norm2(h))

    def step(self, h: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
        """Maps the next token ``(B, width)`` to its output, reading the cached context."""
        q, k, v = self._split(h)  # (B, heads, head_dim)
        keys, values, mask = cache.append(layer, k, v)
        a = F.scaled_dot_product_attention(q[:, :, None], keys, values, attn_mask=mask)
        h = h + self.proj(a[:, :, 0].reshape(h.shape))
        return h + self.mlp(self.norm2(h))


class DPTNet(nn.Module):
    """Transition tokens in, logits of the optimal action at each token's query out.

    Args:
        token_size: length of a ``transition_tokens`` row.
        n_actions: the family's action count.
        cfg: sizes.
    """

    def __init__(self, token_size: int, n_actions: int, cfg: InContextConfig):
        super().__init__()
        self.heads, self.head_dim = cfg.heads, cfg.width // cfg.heads
        self.read_in = nn.Linear(token_size, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)
        self.read_out = nn.Linear(cfg.width, n_actions)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Returns logits ``(B, T, n_actions)`` of ``tokens (B, T, token_size)``, causally."""
        h = self.read_in(tokens)
        for block in self.blocks:
            h = block(h)
        return self.read_out(self.norm(h))

    def new_cache(self, batch: int, device: torch.device) -> KVCache:
        """Returns an empty cache for ``step`` on ``batch`` rows."""
        return KVCache(batch, len(self.blocks), self.heads, self.head_dim, device)

    def step(self, token: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Returns the logits ``(B, n_actions)`` of the next token ``(B, token_size)``; the
        same numbers ``forward`` gives at that position."""
        h = self.read_in(token)
        for layer, block in enumerate(self.blocks):
            h = block.step(h, cache, layer)
        cache.length += 1
        return self.read_out(self.norm(h))


# --- the method used for evaluation ---


class DPTAgent(Method):
    """A pretrained DPT acting online: it samples from its predicted optimal action, and its
    own transitions become its context."""

    def __init__(self, name: str, net: DPTNet, n_actions: int, rng: np.random.Generator, device):
        self.name, self.net, self.n_actions, self.rng, self.device = (
            name,
            net,
            n_actions,
            rng,
            device,
        )

    def reset(self, batch: int, tasks=None) -> None:
        self.cache = self.net.new_cache(batch, self.device)
        self.prev_obs: np.ndarray | None = None

    def action_probs(self, obs: TrialObs) -> np.ndarray:
        """Adds the last transition to the context; returns ``(batch, n_actions)``."""
        token = transition_tokens(self.prev_obs, obs, self.n_actions)
        self.prev_obs = obs.obs
        start = torch.as_tensor(np.asarray(obs.trial_start, bool), device=self.device)
        if self.cache.length == 0:
            start = torch.ones_like(start)
        self.cache.restart(start)
        with torch.no_grad():
            logits = self.net.step(torch.from_numpy(token).to(self.device), self.cache)
        return torch.softmax(logits.double(), dim=-1).cpu().numpy()

    def act(self, obs: TrialObs) -> np.ndarray:
        return sample_categorical(self.rng, self.action_probs(obs))

    def parameter_count(self) -> int:
        return tt.parameter_count(self.net)

    @classmethod
    def factory(cls, name: str, net: DPTNet, n_actions: int, device) -> MethodFactory:
        """Returns a factory of agents, each with a frozen copy of ``net`` as it is then."""
        return lambda rng: cls(name, tt.frozen_copy(net), n_actions, rng, device)


# --- training ---


def env_shape(family: RLFamily) -> tuple[int, int]:
    """Returns ``(token_size, n_actions)`` of ``family``'s train env."""
    tasks = family.sample_tasks(seeding.stream(0, "dpt", "probe"), 1, "train")
    env = family.make_env(tasks, "train")
    try:
        n_actions = int(env.single_action_space.n)
        obs_size = int(np.prod(env.single_observation_space.shape))
    finally:
        env.close()
    return 2 * obs_size + n_actions + 3, n_actions


def dpt_loss(logits: torch.Tensor, targets: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Returns the mean cross-entropy of the oracle's distribution over live steps."""
    per_step = -(targets * torch.log_softmax(logits, dim=-1)).sum(-1)
    return (per_step * live).sum() / live.sum().clamp(min=1)


class DPT(MethodEntry):
    """Registry entry ``dpt``: pretrains a DPTNet on the family's train tasks.

    Applies to the rl families whose optimal action is known in training: those with a
    privileged reference and the bandit families. The budget counts pretraining datasets
    (trials); the default, 128k, is 2000 steps of 64, about 4 CPU-minutes on one thread. On
    seed 0 it scores 0.97 of Thompson sampling on ``bandit`` (0.76 after 8k datasets, 0.94
    after 32k) and 1.14 of PSRL on ``tabular-mdp`` (0.07 after 20k, 1.04 after 51k).
    """

    config_class: ClassVar[type[DPTConfig]] = DPTConfig
    kinds = ("rl",)
    default_budget: ClassVar[int] = 128_000
    config: DPTConfig

    def applies_to(self, family: TaskFamily) -> bool:
        return family.spec.kind == "rl" and oracle_name(family) is not None

    def oracle(self, family: RLFamily) -> str:
        """Returns the family's oracle; raises ValueError for a family without one."""
        name = oracle_name(family)
        if name is None:
            raise ValueError(
                f"dpt needs the optimal action in training: {family.spec.name} has no "
                "privileged reference and its tasks carry no arm means"
            )
        return name

    def batches(
        self, family: RLFamily, n_actions: int
    ) -> Callable[[np.random.SeedSequence], PretrainingBatch]:
        """Returns the function from one update's draw to its batch of ``config.batch``
        trials (``ad`` overrides it); raises ValueError for a family without an oracle."""
        cfg, oracle = self.config, self.oracle(family)
        return lambda draw: pretraining_batch(
            family, draw, cfg.batch, n_actions, cfg.behaviour, oracle
        )

    def make_net(self, family: RLFamily) -> tuple[DPTNet, int]:
        """Returns the untrained network for ``family`` and its action count."""
        token_size, n_actions = env_shape(family)
        return DPTNet(token_size, n_actions, self.config), n_actions

    def train(
        self, family: RLFamily, evaluator: Evaluator, budget: int, seed: int, ctx: TrainContext
    ) -> Trained:
        cfg = self.config
        cfg.check()
        device = tt.setup_torch(cfg, seed, self.name, ctx.device)
        net, n_actions = self.make_net(family)
        sample = self.batches(family, n_actions)
        net.to(device)
        loop = mt.OuterLoop(cfg, family, evaluator, budget, seed, ctx, net, unit="datasets")

        make_method = DPTAgent.factory(self.name, net, n_actions, device)

        while loop.running():
            # --- sample ---
            batch = sample(loop.draw())

            # --- update ---
            logits = net(batch.tokens.to(device))
            loss = dpt_loss(logits, batch.targets.to(device), batch.live.to(device))
            norm = loop.step(loss)

            # --- evaluate ---
            if loop.log_due():
                loop.log({"train/loss": loss.item(), "train/grad_norm": norm})
            loop.evaluate_and_save(make_method)

        return loop.finish(make_method)

    def load_trained(self, family: RLFamily, ctx: TrainContext) -> Trained:
        """Returns the model a finished ``train`` saved in ``ctx.run_dir``."""
        net, n_actions = self.make_net(family)
        device, spent = mt.load_final(self.config, family, ctx, net)
        make_method = DPTAgent.factory(self.name, net, n_actions, device)
        return Trained(make_method, spent, tt.parameter_count(net))

    def exportable(self, family: RLFamily, trained: Trained) -> Exportable:
        """Returns the model as a program module (``exporting.decision_transformer``)."""
        from baselines import exporting  # it imports this module

        return exporting.decision_transformer(family, trained)

"""RL^2 (Duan et al. 2016): a GRU policy trained with PPO across the trials of a family.

The policy's input at each step is the observation plus the previous action (one-hot),
previous reward and done flag (``mesa_bench.api.TrialObs``). Its hidden state is reset at
the start of each trial and kept across the episode boundaries inside it, so whatever it
learns within a trial lives in that state: the learned algorithm. Returns are discounted
across the episodes of a trial and cut at its end.

Reads top to bottom: config, model, the method used for evaluation, then the training
loop (rollout, update, evaluate). Shared PPO pieces are in ``baselines.ppo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from baselines import ppo
from baselines import torch_training as tt
from mesa_bench import seeding
from mesa_bench.api import (
    Method,
    MethodFactory,
    RLFamily,
    TrialObs,
    final_checkpoint,
    sample_categorical,
)
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import MethodEntry, TrainContext, Trained


@dataclass
class RL2Config(ppo.PPOConfig):
    """RL^2 with PPO; every field of ``PPOConfig`` (``method.lr=...``) applies.

    Attributes:
        hidden: GRU state size.
    """

    description: str = "GRU over (obs, prev action, prev reward, done), PPO (Duan et al. 2016)"
    hidden: int = 128


class RL2Net(nn.Module):
    """Observation encoder, GRU over the RL^2 inputs, policy and value heads.

    Args:
        obs_space: the env's single observation space.
        n_actions: number of discrete actions.
        cfg: sizes (``hidden``, ``conv_channels``, ``grid_pool``).
    """

    def __init__(self, obs_space, n_actions: int, cfg: RL2Config):
        super().__init__()
        self.n_actions = n_actions
        self.encoder = ppo.ObsEncoder(obs_space, cfg)
        self.gru = nn.GRU(self.encoder.out_dim + n_actions + 2, cfg.hidden)
        self.policy = ppo.layer_init(nn.Linear(cfg.hidden, n_actions), 0.01)
        self.value = ppo.layer_init(nn.Linear(cfg.hidden, 1), 1.0)

    def initial_state(self, n: int, device: torch.device) -> torch.Tensor:
        """Returns the zero hidden state, shape ``(n, hidden)``."""
        return torch.zeros(n, self.gru.hidden_size, device=device)

    def _features(self, x: ppo.Inputs) -> torch.Tensor:
        return torch.cat([self.encoder(x.obs), ppo.history_features(x, self.n_actions)], -1)

    def step(
        self, x: ppo.Inputs, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns logits ``(n, A)``, normalized values ``(n,)`` and the next state."""
        h = h * (~x.start).float().unsqueeze(-1)  # a new trial forgets the last one
        out, h = self.gru(self._features(x).unsqueeze(0), h.unsqueeze(0))
        return self.policy(out[0]), self.value(out[0]).squeeze(-1), h[0]

    def sequence(self, x: ppo.Inputs, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns logits ``(T, n, A)`` and values ``(T, n)`` over a rollout from ``h0``."""
        feats = self._features(x)
        keep = (~x.start).float().unsqueeze(-1)
        if not x.start[1:].any():  # trials only start at t = 0: one fused GRU call
            out, _ = self.gru(feats, (h0 * keep[0]).unsqueeze(0))
        else:
            h, outs = h0.unsqueeze(0), []
            for t in range(feats.shape[0]):
                o, h = self.gru(feats[t : t + 1], h * keep[t])
                outs.append(o)
            out = torch.cat(outs)
        return self.policy(out), self.value(out).squeeze(-1)


class RL2Agent(Method):
    """A trained RL^2 policy as a method: samples its actions with the given generator.

    ``action_probs`` exposes its action distribution (for algorithm-match statistics).
    """

    name = "rl2"

    def __init__(self, net: RL2Net, rng: np.random.Generator, device: torch.device):
        self.net, self.rng, self.device = net, rng, device
        self.h: torch.Tensor | None = None

    def reset(self, batch: int, tasks=None) -> None:
        self.h = self.net.initial_state(batch, self.device)

    def action_probs(self, obs: TrialObs) -> np.ndarray:
        """Returns action probabilities ``(batch, A)``, advancing the state as ``act`` does."""
        if self.h is None:
            raise RuntimeError("call reset(batch) before act()")
        with torch.no_grad():
            logits, _, self.h = self.net.step(ppo.to_inputs(obs, self.device), self.h)
        return torch.softmax(logits.double(), dim=-1).cpu().numpy()

    def act(self, obs: TrialObs) -> np.ndarray:
        return sample_categorical(self.rng, self.action_probs(obs))

    def parameter_count(self) -> int:
        return tt.parameter_count(self.net)

    @classmethod
    def factory(cls, net: RL2Net, device: torch.device) -> MethodFactory:
        """Returns a factory of agents, each with a frozen copy of ``net`` as it is then."""
        return lambda rng: cls(tt.frozen_copy(net), rng, device)


class RL2(MethodEntry):
    """Registry entry ``rl2``: trains an RL2Net with PPO on any rl family.

    Attributes:
        on_iteration: called with the iteration count after each iteration (tests use it
            to kill a run mid-way).
    """

    config_class: ClassVar[type[RL2Config]] = RL2Config
    kinds = ("rl",)
    default_budget: ClassVar[int] = 20_000_000
    config: RL2Config
    on_iteration: ppo.IterationHook | None = None

    def train(
        self, family: RLFamily, evaluator: Evaluator, budget: int, seed: int, ctx: TrainContext
    ) -> Trained:
        cfg = self.config
        cfg.check()
        device = tt.setup_torch(cfg, seed, "ppo", ctx.device)
        env = ppo.make_train_env(family, cfg.num_envs, seed)
        space = env.single_observation_space
        net = RL2Net(space, int(env.single_action_space.n), cfg).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        rng = seeding.generator(seeding.stream(seed, "ppo", "rng"))
        state = ppo.TrainState(0, 0, rng, ppo.ValueNorm(cfg.value_norm_decay))
        parts = dict(progress=state, net=net, optimizer=optimizer)
        checkpoint = tt.checkpointer(cfg, family, budget, seed, ctx.run_dir)
        tt.restore(checkpoint.load(evaluator), **parts)
        spent_at_start = state.spent
        make_method = RL2Agent.factory(net, device)

        while steps := ppo.rollout_steps(cfg, state.spent, budget):
            if state.iteration % cfg.save_every == 0:  # segment start: fresh, seeded trials
                x = ppo.reset_segment(env, seed, state.iteration // cfg.save_every)
                h = net.initial_state(cfg.num_envs, device)

            # --- rollout ---
            buf = ppo.Rollout(steps, cfg.num_envs, space.shape, space.dtype, device)
            h0 = h
            with torch.no_grad():
                for t in range(steps):
                    logits, value, h_next = net.step(ppo.to_inputs(x, device), h)
                    action, logp = ppo.sample_actions(state.rng, logits)
                    obs, reward, term, trunc, info = env.step(action)
                    buf.add(t, x, action, logp, value, reward, info)
                    x = ppo.next_inputs(obs, action, reward, term | trunc, info["trial_end"])
                    h = h_next
                _, last_value, _ = net.step(ppo.to_inputs(x, device), h)

            # --- update ---
            vn = state.value_norm
            adv, returns = ppo.advantages(
                buf.tensor("reward"),
                vn.denormalize(buf.value),
                vn.denormalize(last_value),
                buf.tensor("trial_end"),
                cfg.gamma,
                cfg.gae_lambda,
            )
            vn.update(returns)
            target, inputs, actions = vn.normalize(returns), buf.inputs(), buf.tensor("action")
            for _ in range(cfg.epochs):
                for idx in ppo.minibatch_indices(state.rng, cfg.num_envs, cfg.minibatches):
                    mb = torch.as_tensor(idx, device=device)
                    logits, values = net.sequence(ppo.Inputs(*(v[:, mb] for v in inputs)), h0[mb])
                    loss, stats = ppo.ppo_loss(
                        cfg,
                        logits,
                        values,
                        actions[:, mb],
                        buf.logp[:, mb],
                        adv[:, mb],
                        target[:, mb],
                    )
                    ppo.optimize(cfg, net, optimizer, loss)

            # --- evaluate ---
            state.iteration += 1
            state.spent += steps * cfg.num_envs
            ctx.log(ppo.train_metrics(stats, buf, state, spent_at_start), state.spent)
            if evaluator.due(state.spent):
                evaluator.checkpoint(state.spent, make_method)
            if state.iteration % cfg.save_every == 0:
                checkpoint.save(tt.state_of(**parts), evaluator)
            if self.on_iteration is not None:
                self.on_iteration(state.iteration)

        final_checkpoint(evaluator, state.spent, make_method)
        checkpoint.save(tt.state_of(**parts), evaluator, finished=True)  # the final model
        env.close()
        return Trained(make_method, state.spent, tt.parameter_count(net))

    def load_trained(self, family: RLFamily, ctx: TrainContext) -> Trained:
        """Returns the policy a finished ``train`` saved in ``ctx.run_dir``."""
        cfg = self.config
        parts = tt.final_parts(cfg, family, ctx.run_dir)
        device = tt.prepare(cfg, ctx.device)
        net = RL2Net(*ppo.env_spaces(family), cfg)
        net.load_state_dict(parts["net"])
        net.to(device)
        make_method = RL2Agent.factory(net, device)
        return Trained(make_method, parts["progress"]["spent"], tt.parameter_count(net))

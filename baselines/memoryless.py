"""The memoryless control: the RL^2 trainer with a policy that sees the current observation only.

It gets no previous action, reward or done flag and keeps no state, so it cannot adapt
within a trial: whatever it does well, it does from the observation alone (a maze it
can see), and wherever success needs information gathered during the trial (a bandit's
arm means) it stays at the best fixed behaviour. Same PPO, same returns (discounted across
the episodes of a trial, cut at its end); the rollout's steps are independent samples, so
the update shuffles single steps rather than whole sequences.

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
class MemorylessConfig(ppo.PPOConfig):
    """Memoryless PPO; every field of ``PPOConfig`` (``method.lr=...``) applies.

    Attributes:
        hidden: width of each tanh layer of the MLP.
        layers: tanh layers after the observation encoder.
    """

    description: str = "feed-forward policy over the current observation only, PPO (control)"
    hidden: int = 64
    layers: int = 2


class MemorylessNet(nn.Module):
    """Observation encoder, an MLP, policy and value heads; no state.

    Args:
        obs_space: the env's single observation space.
        n_actions: number of discrete actions.
        cfg: sizes (``hidden``, ``layers``, ``conv_channels``, ``grid_pool``).
    """

    def __init__(self, obs_space, n_actions: int, cfg: MemorylessConfig):
        super().__init__()
        self.encoder = ppo.ObsEncoder(obs_space, cfg)
        widths = [self.encoder.out_dim] + [cfg.hidden] * cfg.layers
        body: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            body += [ppo.layer_init(nn.Linear(a, b), 2**0.5), nn.Tanh()]
        self.body = nn.Sequential(*body)
        self.policy = ppo.layer_init(nn.Linear(widths[-1], n_actions), 0.01)
        self.value = ppo.layer_init(nn.Linear(widths[-1], 1), 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns logits ``(..., A)`` and normalized values ``(...)`` for observations."""
        z = self.body(self.encoder(obs))
        return self.policy(z), self.value(z).squeeze(-1)


class MemorylessAgent(Method):
    """A trained memoryless policy as a method: samples with the given generator.

    ``action_probs`` exposes its action distribution (for algorithm-match statistics).
    """

    name = "memoryless"

    def __init__(self, net: MemorylessNet, rng: np.random.Generator, device: torch.device):
        self.net, self.rng, self.device = net, rng, device

    def reset(self, batch: int, tasks=None) -> None:
        pass  # nothing to forget: there is no memory

    def action_probs(self, obs: TrialObs) -> np.ndarray:
        """Returns action probabilities ``(batch, A)`` from the observation alone."""
        with torch.no_grad():
            logits, _ = self.net(torch.as_tensor(obs.obs, device=self.device))
        return torch.softmax(logits.double(), dim=-1).cpu().numpy()

    def act(self, obs: TrialObs) -> np.ndarray:
        return sample_categorical(self.rng, self.action_probs(obs))

    def parameter_count(self) -> int:
        return tt.parameter_count(self.net)

    @classmethod
    def factory(cls, net: MemorylessNet, device: torch.device) -> MethodFactory:
        """Returns a factory of agents, each with a frozen copy of ``net`` as it is then."""
        return lambda rng: cls(tt.frozen_copy(net), rng, device)


class Memoryless(MethodEntry):
    """Registry entry ``memoryless``: trains a MemorylessNet with PPO on any rl family.

    Attributes:
        on_iteration: called with the iteration count after each iteration (tests use it
            to kill a run mid-way).
    """

    config_class: ClassVar[type[MemorylessConfig]] = MemorylessConfig
    kinds = ("rl",)
    default_budget: ClassVar[int] = 20_000_000
    config: MemorylessConfig
    on_iteration: ppo.IterationHook | None = None

    def train(
        self, family: RLFamily, evaluator: Evaluator, budget: int, seed: int, ctx: TrainContext
    ) -> Trained:
        cfg = self.config
        cfg.check()
        if cfg.layers < 1:
            raise ValueError(f"method.layers must be at least 1, got {cfg.layers}")
        device = tt.setup_torch(cfg, seed, "ppo", ctx.device)
        env = ppo.make_train_env(family, cfg.num_envs, seed)
        space = env.single_observation_space
        net = MemorylessNet(space, int(env.single_action_space.n), cfg).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        rng = seeding.generator(seeding.stream(seed, "ppo", "rng"))
        state = ppo.TrainState(0, 0, rng, ppo.ValueNorm(cfg.value_norm_decay))
        parts = dict(progress=state, net=net, optimizer=optimizer)
        checkpoint = tt.checkpointer(cfg, family, budget, seed, ctx.run_dir)
        tt.restore(checkpoint.load(evaluator), **parts)
        spent_at_start = state.spent
        make_method = MemorylessAgent.factory(net, device)

        while steps := ppo.rollout_steps(cfg, state.spent, budget):
            if state.iteration % cfg.save_every == 0:  # segment start: fresh, seeded trials
                x = ppo.reset_segment(env, seed, state.iteration // cfg.save_every)

            # --- rollout ---
            buf = ppo.Rollout(steps, cfg.num_envs, space.shape, space.dtype, device)
            with torch.no_grad():
                for t in range(steps):
                    logits, value = net(torch.as_tensor(x.obs, device=device))
                    action, logp = ppo.sample_actions(state.rng, logits)
                    obs, reward, term, trunc, info = env.step(action)
                    buf.add(t, x, action, logp, value, reward, info)
                    x = ppo.next_inputs(obs, action, reward, term | trunc, info["trial_end"])
                _, last_value = net(torch.as_tensor(x.obs, device=device))

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
            target = vn.normalize(returns).flatten()
            obs_all = buf.tensor("obs").flatten(0, 1)
            actions, old_logp, adv = (
                buf.tensor("action").flatten(),
                buf.logp.flatten(),
                adv.flatten(),
            )
            for _ in range(cfg.epochs):
                for idx in ppo.minibatch_indices(state.rng, steps * cfg.num_envs, cfg.minibatches):
                    mb = torch.as_tensor(idx, device=device)
                    logits, values = net(obs_all[mb])
                    loss, stats = ppo.ppo_loss(
                        cfg, logits, values, actions[mb], old_logp[mb], adv[mb], target[mb]
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
        net = MemorylessNet(*ppo.env_spaces(family), cfg)
        net.load_state_dict(parts["net"])
        net.to(device)
        make_method = MemorylessAgent.factory(net, device)
        return Trained(make_method, parts["progress"]["spent"], tt.parameter_count(net))

"""Pretraining data of the Decision-Pretrained Transformer (``baselines.dpt``).

One pretraining example is one trial on a sampled train task, acted out by a behaviour
policy that ignores what it sees, with the oracle's optimal action at every step as the
label. The oracle is privileged: it reads the true task. For families with a privileged
reference (``tabular-mdp``'s ``oracle-vi``) it is that reference; for the bandit families it
is the arm of highest mean (their tasks carry ``means``). Every step becomes one token that
holds a whole transition (previous observation, previous action, previous reward, done,
current observation), so the token at step ``t`` is also the query: the model predicts the
optimal action at the current observation from the transitions before it. Evaluation
builds its tokens with the same ``transition_tokens``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mesa_bench import seeding
from mesa_bench.api import Method, RLFamily, TrialObs, sample_categorical
from mesa_bench.protocol.rl import live_mask, run_rl_trials, step_probs

BEHAVIOURS = ("mixed", "uniform")


class BestArm(Method):
    """The privileged bandit oracle: always the arm of highest mean (``tasks.means``)."""

    name = "dpt-oracle/best-arm"
    privileged = True

    def reset(self, batch: int, tasks: Any = None) -> None:
        if tasks is None or not hasattr(tasks, "means"):
            raise ValueError("best-arm is privileged: reset() needs tasks with arm means")
        means = np.asarray(tasks.means)
        self.best = np.eye(means.shape[1])[means.argmax(axis=1)]

    def action_probs(self, obs: TrialObs) -> np.ndarray:
        return self.best


def privileged_reference(family: RLFamily) -> str | None:
    """Returns the name of ``family``'s privileged reference (its oracle), or None."""
    rng = np.random.default_rng(0)
    for name in family.spec.references:
        if family.make_reference(name, rng).privileged:
            return name
    return None


def oracle_name(family: RLFamily) -> str | None:
    """Returns how ``family``'s optimal actions are known: a privileged reference's name,
    ``best-arm`` for tasks that carry arm means, or None where neither exists."""
    name = privileged_reference(family)
    if name is not None:
        return name
    tasks = family.sample_tasks(seeding.stream(0, "dpt", "probe"), 1, "train")
    return "best-arm" if hasattr(tasks, "means") else None


def make_oracle(family: RLFamily, name: str, rng: np.random.Generator) -> Method:
    """Returns the oracle ``name`` (from ``oracle_name``) of ``family``."""
    return BestArm() if name == "best-arm" else family.make_reference(name, rng)


def transition_tokens(prev_obs: np.ndarray | None, x: TrialObs, n_actions: int) -> np.ndarray:
    """Returns one token per row, ``(n, 2 * obs_size + n_actions + 3)`` float32.

    The token is ``[prev_obs, one_hot(prev_action), prev_reward, done, has_transition, obs]``;
    at a trial start (and where ``prev_obs`` is None) the transition part is zero and
    ``has_transition`` is 0, so the token is the query alone.
    """
    n = x.obs.shape[0]
    obs = x.obs.reshape(n, -1).astype(np.float32)
    fresh = np.asarray(x.trial_start, bool)
    if prev_obs is None:
        prev_obs, fresh = np.zeros_like(obs), np.ones(n, bool)
    seen = (~fresh).astype(np.float32)[:, None]
    action = np.eye(n_actions, dtype=np.float32)[np.asarray(x.prev_action)]
    reward = np.asarray(x.prev_reward, np.float32)[:, None]
    done = np.asarray(x.done, np.float32)[:, None]
    parts = [prev_obs.reshape(n, -1) * seen, action * seen, reward * seen, done * seen, seen, obs]
    return np.concatenate(parts, axis=1)


class Recorder(Method):
    """An actor of pretraining trials: it records every step it sees and the label there.

    Privileged only so that it can hand the tasks on to whatever gives its labels (an oracle
    that reads the true task, or a privileged source).
    """

    name = "pretraining-recorder"
    privileged = True

    def reset(self, batch: int, tasks: Any = None) -> None:
        self.steps: list[TrialObs] = []
        self.labels: list[np.ndarray] = []

    def record(self, obs: TrialObs, label: np.ndarray) -> None:
        """Keeps step ``obs`` and its label, an action distribution ``(batch, n_actions)``."""
        self.steps.append(obs)
        self.labels.append(label)


class Behaviour(Recorder):
    """Acts with a fixed action distribution per trial and records what it sees.

    ``mixed``: the distribution is Dirichlet(1) action frequencies mixed with a point mass on
    one random action, the mixing weight uniform in [0, 1], so the contexts range from
    even coverage to one action pulled almost always (our reading of the paper's bandit
    datasets; the paper's appendix was not at hand to check the exact mixture);
    ``uniform``: uniformly random actions. The label at every step is the oracle's action
    distribution there.
    """

    name = "dpt-behaviour"

    def __init__(self, rng: np.random.Generator, n_actions: int, kind: str, oracle: Method):
        self.rng, self.n_actions, self.kind, self.oracle = rng, n_actions, kind, oracle

    def reset(self, batch: int, tasks: Any = None) -> None:
        super().reset(batch, tasks)
        self.oracle.reset(batch, tasks)
        k = self.n_actions
        self.probs = np.full((batch, k), 1.0 / k)
        if self.kind == "mixed":
            spread = self.rng.dirichlet(np.ones(k), batch)
            point = np.eye(k)[self.rng.integers(k, size=batch)]
            weight = self.rng.random((batch, 1))
            self.probs = (1 - weight) * spread + weight * point

    def act(self, obs: TrialObs) -> np.ndarray:
        self.record(obs, step_probs(self.oracle, obs))
        return sample_categorical(self.rng, self.probs)


@dataclass
class PretrainingBatch:
    """Contexts and labels of ``n`` trials of ``T`` steps.

    Attributes:
        tokens: ``(n, T, token_size)`` float32, from ``transition_tokens``.
        targets: the oracle's action distribution at each step, ``(n, T, n_actions)``.
        live: True where the step belongs to its trial (trials may end at different steps),
            ``(n, T)``.
    """

    tokens: torch.Tensor
    targets: torch.Tensor
    live: torch.Tensor


def recorded_batch(
    family: RLFamily,
    draw: np.random.SeedSequence,
    n: int,
    n_actions: int,
    make_actor: Callable[[np.random.Generator], Recorder],
) -> PretrainingBatch:
    """Returns ``n`` trials on train tasks acted out by ``make_actor(rng)``, as tokens and the
    labels it recorded; every draw (tasks, the actor's generator, the env) taken from
    ``draw``."""
    task_seed, policy_seed, env_seed = draw.spawn(3)
    tasks = family.sample_tasks(task_seed, n, "train")
    actor = make_actor(seeding.generator(policy_seed))
    env = family.make_env(tasks, "train")
    try:
        episodes = family.trial_episodes("train")
        run_rl_trials(env, actor, episodes, seeding.int_seed(env_seed) % 2**31, tasks)
    finally:
        env.close()
    prev, tokens = None, []
    for x in actor.steps:
        tokens.append(transition_tokens(prev, x, n_actions))
        prev = x.obs
    live = live_mask(actor.steps, episodes).T
    return PretrainingBatch(
        tokens=torch.from_numpy(np.stack(tokens, axis=1)),
        targets=torch.from_numpy(np.stack(actor.labels, axis=1).astype(np.float32)),
        live=torch.from_numpy(np.ascontiguousarray(live)),
    )


def pretraining_batch(
    family: RLFamily,
    draw: np.random.SeedSequence,
    n: int,
    n_actions: int,
    behaviour: str,
    oracle: str,
) -> PretrainingBatch:
    """Returns ``n`` pretraining trials of ``behaviour`` labelled by ``oracle``, on train
    tasks, every draw taken from ``draw``."""

    def make_actor(rng: np.random.Generator) -> Recorder:
        return Behaviour(rng, n_actions, behaviour, make_oracle(family, oracle, rng))

    return recorded_batch(family, draw, n, n_actions, make_actor)

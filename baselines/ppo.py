"""The one PPO trainer of the rl baselines: ``rl2`` and ``memoryless`` are this trainer
with another policy network (``PPOMethod.make_net``), so the control differs from RL^2 in
its network alone.

Reads top to bottom: config, train env, model inputs, rollout buffer, update (returns,
loss), then the trainer itself (``PPOMethod.train``: rollout, update, evaluate). Torch
set-up and the checkpoint file are ``baselines.torch_training``'s, shared with the
learning-to-learn trainers; observation encoders are ``baselines.encoders``'.

The train env runs on the host (``method.env_backend=numpy``: the family's NumPy env) or
on the run's device (``torch``: its torch twin, ``baselines.device_rollout``); ``auto``
takes the device on CUDA and the faster of the two on the CPU (``AUTO_CPU_BACKEND``).

Training tasks come from the run's seed: the train env samples its own tasks (a new one in
a sub-env whenever its trial ends) from a generator that is re-seeded from the run's seed
at the start of every *segment* of ``save_every`` iterations. The trainer's state is saved
at segment ends, so a killed run restarts from the last segment end and repeats exactly
what the uninterrupted run did from there.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

from baselines import torch_training as tt
from baselines.encoders import ObsEncoder
from mesa_bench import seeding
from mesa_bench.api import (
    Evaluator,
    Method,
    MethodConfig,
    MethodEntry,
    MethodFactory,
    RLFamily,
    TaskVectorEnv,
    TrainContext,
    Trained,
    TrialObs,
    final_checkpoint,
    sample_categorical,
)
from mesa_bench.protocol.rl import initial_trial_obs
from mesa_bench.protocol.torch_envs import has_twin, twin_class


@dataclass
class PPOConfig(MethodConfig):
    """PPO hyperparameters shared by the rl baselines (defaults: RL^2 on the bandit).

    Attributes:
        num_envs: trials run side by side (sub-envs of the train env).
        rollout_steps: env steps per sub-env per iteration; an iteration spends
            ``num_envs * rollout_steps`` of the budget.
        epochs: passes over each rollout.
        minibatches: minibatches per epoch.
        lr: Adam step size.
        adam_eps: Adam epsilon.
        gamma: discount; returns run across episode ends inside a trial, not across trials.
        gae_lambda: GAE lambda.
        clip: PPO ratio clip.
        entropy_coef: weight of the entropy bonus.
        adv_std_floor: advantages are divided by their standard deviation, but by no less
            than this (in return units): a rollout that met no reward then gives a small
            step, not its value noise blown up to unit scale. 0 gives the trainer's
            numbers from before the floor.
        value_coef: weight of the value loss.
        value_norm_decay: the value head predicts returns normalized by a running mean and
            standard deviation with this per-iteration decay (returns can be ~50-100).
        max_grad_norm: gradient norm clip.
        hidden: width of the policy's hidden layers (GRU state for ``rl2``) and of the
            grid encoder's dense layer.
        encoder: how grid observations are encoded: ``flat``, ``egocentric`` or ``planner``
            (both size-agnostic) or ``conv`` (``baselines.encoders``).
        view_radius: the egocentric window's radius; 0 for the train grid's side - 1.
        plan_steps: the ``planner`` encoder's propagation steps; 0 for the grid's cell
            count, which grows with the grid.
        conv_channels: channels of the two conv layers of the ``conv`` encoder.
        save_every: iterations per segment; the trainer's state is saved at segment ends.
            It changes the numbers (each segment starts fresh trials), so a saved run
            resumes only under the same value.
        torch_threads: ``torch.set_num_threads`` value; 0 leaves torch's default.
        env_backend: where the train env steps: ``numpy`` (the host), ``torch`` (the run's
            device, no per-step host round trip) or ``auto`` (torch on CUDA; on the CPU
            ``AUTO_CPU_BACKEND``; numpy for a family without a torch twin). The backends
            draw different random numbers, so each repeats its own numbers only.
    """

    # fields that do not change the numbers: a saved run resumes under any value of them
    runtime_fields: ClassVar[tuple[str, ...]] = ("torch_threads",)

    # 64 trials an iteration in one minibatch at a step of 3e-3: four times the updates per
    # sample of 256 trials in 2 minibatches at 1e-3, and 3-6x fewer env steps to competence
    # on the bandit and maze (README, "PPO settings")
    num_envs: int = 64
    rollout_steps: int = 100
    epochs: int = 3
    minibatches: int = 1
    lr: float = 3e-3
    adam_eps: float = 1e-5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy_coef: float = 0.01
    # with a bare 1e-8, a maze seed whose first rollouts met no reward took full-size steps
    # along normalized value noise, made its policy deterministic before it ever reached the
    # goal and scored 0 for the rest of the run (1 seed in 5; README, "PPO settings")
    adv_std_floor: float = 0.01
    value_coef: float = 0.5
    value_norm_decay: float = 0.99
    max_grad_norm: float = 1.0
    hidden: int = 128
    encoder: str = "flat"
    view_radius: int = 0
    plan_steps: int = 0
    conv_channels: int = 16
    save_every: int = 10
    torch_threads: int = 0
    env_backend: str = "auto"

    def check(self) -> None:
        """Raises ValueError naming the first field out of range."""
        positive = ("num_envs", "rollout_steps", "epochs", "minibatches", "hidden", "save_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"method.{name} must be at least 1, got {getattr(self, name)}")
        if self.minibatches > self.num_envs:
            raise ValueError(
                f"method.minibatches ({self.minibatches}) exceeds method.num_envs "
                f"({self.num_envs}); each minibatch needs at least one sub-env"
            )
        for name in ("gamma", "gae_lambda", "value_norm_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"method.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.env_backend not in ENV_BACKENDS:
            raise ValueError(
                f"method.env_backend must be one of {', '.join(ENV_BACKENDS)}, "
                f"got {self.env_backend!r}"
            )
        for name in ("view_radius", "plan_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"method.{name} must be >= 0, got {getattr(self, name)}")
        if self.adv_std_floor < 0:
            raise ValueError(f"method.adv_std_floor must be >= 0, got {self.adv_std_floor}")
        if self.lr <= 0 or self.clip <= 0:
            raise ValueError(f"method.lr and method.clip must be positive ({self.lr}, {self.clip})")


# --- train env ---

ENV_BACKENDS = ("auto", "numpy", "torch")
# what ``auto`` takes on the CPU: the faster backend as measured with
# benchmarks/speed/train_throughput.py --backends numpy torch (torch_threads=1, 2 cores):
# at the defaults the torch twin was no faster on the CPU (numpy ahead or level in 8 of 10
# family x method rows), so the CPU keeps the host env and its numbers
AUTO_CPU_BACKEND = "numpy"


@dataclass
class TrainTasks:
    """Task sampler for the train env: ``family``'s train split, seeded by the env's rng."""

    family: RLFamily

    def __call__(self, rng: np.random.Generator, n: int) -> Any:
        seq = np.random.SeedSequence(int(rng.integers(2**63)))
        return self.family.sample_tasks(seq, n, "train")


def make_train_env(family: RLFamily, num_envs: int, seed: int) -> TaskVectorEnv:
    """Returns ``family``'s batched env drawing a new train task at every trial end."""
    tasks = family.sample_tasks(seeding.stream(seed, seeding.TASKS, "train"), num_envs, "train")
    env = family.make_env(tasks, "train")
    if not isinstance(env, TaskVectorEnv):
        raise TypeError(
            f"{family.spec.id}.make_env returned {type(env).__name__}; the PPO baselines "
            "need a mesa_bench.envs.TaskVectorEnv (it samples new tasks at trial ends)"
        )
    if not isinstance(env.single_action_space, spaces.Discrete):
        raise TypeError(
            f"{family.spec.id} has action space {env.single_action_space}; the PPO "
            "baselines handle Discrete actions only"
        )
    if env.episodes_per_trial != family.trial_episodes("train"):
        # the sampler draws a new task at every trial end: too short a trial would never
        # let a method use what one episode taught it in the next
        raise ValueError(
            f"{family.spec.id}.make_env gives trials of {env.episodes_per_trial} episodes, "
            f"but its train split has {family.trial_episodes('train')}; pass "
            "episodes_per_trial=trial_episodes(split) to the env"
        )
    env.sampler = TrainTasks(family)  # self-sampling mode (see TaskVectorEnv)
    return env


class EnvShape(NamedTuple):
    """What a policy network is built from: the train env's single observation space, its
    number of actions and the grid channel marking the agent (None: not a grid)."""

    obs_space: spaces.Space
    n_actions: int
    agent_channel: int | None


def env_shape(env: TaskVectorEnv) -> EnvShape:
    """Returns the shape of ``env``'s observations and actions."""
    n_actions = int(env.single_action_space.n)
    return EnvShape(env.single_observation_space, n_actions, env.agent_channel)


def family_shape(family: RLFamily) -> EnvShape:
    """Returns ``env_shape`` of the family's train env (``load_trained`` rebuilds from it)."""
    env = make_train_env(family, 1, seed=0)
    try:
        return env_shape(env)
    finally:
        env.close()


def reset_segment(env: TaskVectorEnv, seed: int, segment: int) -> TrialObs:
    """Resets every sub-env to a fresh trial for ``segment``; returns the first inputs."""
    obs, _ = env.reset(seed=seeding.int_seed(seeding.stream(seed, "ppo", "env", str(segment))))
    return initial_trial_obs(obs)


def next_inputs(
    obs: np.ndarray, action: np.ndarray, reward: np.ndarray, done: np.ndarray, trial_end: np.ndarray
) -> TrialObs:
    """Returns the next step's inputs; where a trial ended they are a trial start's."""
    keep = ~trial_end
    return TrialObs(
        obs=obs,
        prev_action=np.where(keep, action, 0).astype(np.int64),
        prev_reward=np.where(keep, reward, 0.0).astype(np.float32),
        done=(done & keep).astype(np.float32),
        trial_start=trial_end.copy(),
    )


def env_backend(setting: str, env: TaskVectorEnv, device: torch.device) -> str:
    """Returns the backend ``method.env_backend=setting`` means for ``env`` on ``device``."""
    if setting == "auto":
        if not has_twin(env):
            return "numpy"
        return "torch" if device.type == "cuda" else AUTO_CPU_BACKEND
    if setting == "torch" and not has_twin(env):
        twin_class(env)  # raises, naming the fix
    return setting


# --- model inputs ---


class Inputs(NamedTuple):
    """A step (shapes ``(n, ...)``) or a sequence (``(T, n, ...)``) of RL^2 inputs."""

    obs: torch.Tensor
    prev_action: torch.Tensor
    prev_reward: torch.Tensor
    done: torch.Tensor
    start: torch.Tensor


def to_inputs(x: TrialObs, device: torch.device) -> Inputs:
    """Returns ``x`` as tensors on ``device``."""
    return Inputs(
        obs=torch.as_tensor(x.obs, device=device),
        prev_action=torch.as_tensor(x.prev_action, device=device),
        prev_reward=torch.as_tensor(x.prev_reward, device=device),
        done=torch.as_tensor(x.done, device=device),
        start=torch.as_tensor(x.trial_start, device=device),
    )


def history_features(x: Inputs, n_actions: int) -> torch.Tensor:
    """Returns (one-hot previous action, previous reward, done), zeros at trial starts."""
    keep = (~x.start).float().unsqueeze(-1)
    onehot = F.one_hot(x.prev_action, n_actions).float()
    extra = torch.cat([onehot, x.prev_reward.unsqueeze(-1), x.done.unsqueeze(-1)], dim=-1)
    return extra * keep


def make_encoder(space: spaces.Space, cfg: PPOConfig, agent_channel: int | None) -> ObsEncoder:
    """Returns the observation encoder ``cfg`` asks for (``method.encoder``)."""
    return ObsEncoder(
        space,
        cfg.encoder,
        cfg.hidden,
        cfg.conv_channels,
        cfg.view_radius,
        agent_channel,
        cfg.plan_steps,
    )


def layer_init(layer: nn.Linear, std: float) -> nn.Linear:
    """Returns ``layer`` with orthogonal weights of gain ``std`` and zero bias."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


# --- rollout ---


def sample_actions(
    rng: np.random.Generator, logits: torch.Tensor
) -> tuple[np.ndarray, torch.Tensor]:
    """Returns sampled actions ``(n,)`` and their log-probabilities (a tensor).

    Sampling uses the NumPy generator, so it is the same on CPU and GPU.
    """
    logp_all = torch.log_softmax(logits.float(), dim=-1)
    actions = sample_categorical(rng, logp_all.exp().double().cpu().numpy())
    index = torch.as_tensor(actions, device=logits.device).unsqueeze(-1)
    return actions, logp_all.gather(-1, index).squeeze(-1)


class Rollout:
    """Buffers for one iteration: ``T`` steps of ``n`` sub-envs.

    Inputs are kept in NumPy and moved to the device once per iteration.
    """

    def __init__(self, steps: int, n: int, obs_shape: tuple[int, ...], obs_dtype, device):
        self.steps, self.device = steps, device
        self.obs = np.zeros((steps, n, *obs_shape), obs_dtype)
        self.prev_action = np.zeros((steps, n), np.int64)
        self.prev_reward = np.zeros((steps, n), np.float32)
        self.done = np.zeros((steps, n), np.float32)
        self.start = np.zeros((steps, n), bool)
        self.action = np.zeros((steps, n), np.int64)
        self.reward = np.zeros((steps, n), np.float32)
        self.trial_end = np.zeros((steps, n), np.float32)
        self.logp = torch.zeros((steps, n), device=device)
        self.value = torch.zeros((steps, n), device=device)
        self.trial_perf = np.zeros(n)
        self.finished: list[np.ndarray] = []

    def add(self, t: int, x: TrialObs, action, logp, value, reward, info: dict) -> None:
        """Stores step ``t``: its inputs, the action taken and what the env returned."""
        self.obs[t], self.prev_action[t], self.prev_reward[t] = x.obs, x.prev_action, x.prev_reward
        self.done[t], self.start[t], self.action[t], self.reward[t] = (
            x.done,
            x.trial_start,
            action,
            reward,
        )
        self.logp[t], self.value[t] = logp, value
        ended = info["trial_end"]
        self.trial_end[t] = ended
        self.trial_perf += info["performance"]
        if ended.any():
            self.finished.append(self.trial_perf[ended].copy())
            self.trial_perf[ended] = 0.0

    def inputs(self) -> Inputs:
        """Returns the stored inputs as ``(T, n, ...)`` tensors on the device."""
        dev = self.device
        return Inputs(
            obs=torch.as_tensor(self.obs, device=dev),
            prev_action=torch.as_tensor(self.prev_action, device=dev),
            prev_reward=torch.as_tensor(self.prev_reward, device=dev),
            done=torch.as_tensor(self.done, device=dev),
            start=torch.as_tensor(self.start, device=dev),
        )

    def tensor(self, name: str) -> torch.Tensor:
        """Returns the NumPy buffer ``name`` as a tensor on the device."""
        return torch.as_tensor(getattr(self, name), device=self.device)

    def mean_trial_performance(self) -> float | None:
        """Returns the mean performance of trials that ended in this rollout (None if none)."""
        return float(np.concatenate(self.finished).mean()) if self.finished else None


class HostEnv:
    """The train env on the host (``method.env_backend=numpy``): one copy of the inputs to
    the device and of the action probabilities back per step.

    Args:
        env: the NumPy train env (``make_train_env``).
        seed: the run's seed.
        device: the run's device.
    """

    backend = "numpy"

    def __init__(self, env: TaskVectorEnv, seed: int, device: torch.device):
        self.env, self.seed, self.device = env, seed, device

    def reset(self, segment: int) -> TrialObs:
        """Resets every sub-env to a fresh trial for ``segment``; returns the first inputs."""
        return reset_segment(self.env, self.seed, segment)

    def rollout(self, net: PolicyNet, x: TrialObs, h: torch.Tensor, steps: int, rng):
        """Runs ``steps`` steps from inputs ``x`` and state ``h``, sampling actions with
        ``rng``; returns the buffer, the next inputs and state, and the value after the
        last step."""
        env, device = self.env, self.device
        space = env.single_observation_space
        buf = Rollout(steps, env.num_envs, space.shape, space.dtype, device)
        with torch.inference_mode():
            for t in range(steps):
                logits, value, h = net.step(to_inputs(x, device), h)
                action, logp = sample_actions(rng, logits)
                obs, reward, term, trunc, info = env.step(action)
                buf.add(t, x, action, logp, value, reward, info)
                x = next_inputs(obs, action, reward, term | trunc, info["trial_end"])
            _, last_value, _ = net.step(to_inputs(x, device), h)
        return buf, x, h, last_value

    def close(self) -> None:
        self.env.close()


def make_runner(cfg: PPOConfig, family: RLFamily, seed: int, device: torch.device):
    """Returns the train env on the backend ``cfg.env_backend`` resolves to (a ``HostEnv``
    or a ``baselines.device_rollout.DeviceEnv``; both have ``backend``, ``env``, ``reset``,
    ``rollout`` and ``close``)."""
    env = make_train_env(family, cfg.num_envs, seed)
    if env_backend(cfg.env_backend, env, device) == "numpy":
        return HostEnv(env, seed, device)
    from baselines.device_rollout import DeviceEnv  # it builds on this module

    return DeviceEnv(env, seed, device)


# --- update ---


class ValueNorm:
    """Running mean and standard deviation of returns (debiased EMA, per iteration)."""

    def __init__(self, decay: float):
        self.decay = decay
        self.mean = self.sq = self.weight = 0.0

    def update(self, returns: torch.Tensor) -> None:
        """Folds one iteration's returns into the running statistics."""
        d = self.decay
        self.mean = d * self.mean + (1 - d) * float(returns.mean())
        self.sq = d * self.sq + (1 - d) * float((returns**2).mean())
        self.weight = d * self.weight + (1 - d)

    def stats(self) -> tuple[float, float]:
        """Returns (mean, std); (0, 1) before the first update."""
        if self.weight == 0.0:
            return 0.0, 1.0
        mean = self.mean / self.weight
        var = max(self.sq / self.weight - mean**2, 1e-6)
        return mean, var**0.5

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.stats()
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.stats()
        return x * std + mean

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "sq": self.sq, "weight": self.weight}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.sq, self.weight = state["mean"], state["sq"], state["weight"]


def advantages(
    reward: torch.Tensor,
    value: torch.Tensor,
    last_value: torch.Tensor,
    trial_end: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns GAE advantages and returns, shapes ``(T, n)``; trial ends are terminal.

    ``value`` and ``last_value`` (the value after the last step) are in return units.
    """
    adv = torch.zeros_like(reward)
    running = torch.zeros_like(last_value)
    for t in reversed(range(reward.shape[0])):
        next_value = last_value if t == reward.shape[0] - 1 else value[t + 1]
        live = 1.0 - trial_end[t]
        delta = reward[t] + gamma * next_value * live - value[t]
        running = delta + gamma * lam * live * running
        adv[t] = running
    return adv, adv + value


def ppo_loss(
    cfg: PPOConfig,
    logits: torch.Tensor,
    value: torch.Tensor,
    action: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    target: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Returns the clipped PPO loss of one minibatch (any shape, flattened) and its stats.

    ``value`` and ``target`` are normalized returns; advantages are normalized here.
    """
    logits, value, action = logits.flatten(0, -2), value.flatten(), action.flatten()
    old_logp, adv, target = old_logp.flatten(), adv.flatten(), target.flatten()
    logp_all = torch.log_softmax(logits, dim=-1)
    log_ratio = logp_all.gather(-1, action.unsqueeze(-1)).squeeze(-1) - old_logp
    ratio = log_ratio.exp()
    adv = (adv - adv.mean()) / (adv.std() + 1e-8).clamp_min(cfg.adv_std_floor)
    clipped = ratio.clamp(1 - cfg.clip, 1 + cfg.clip)
    policy_loss = torch.max(-adv * ratio, -adv * clipped).mean()
    value_loss = 0.5 * ((value - target) ** 2).mean()
    entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
    loss = policy_loss - cfg.entropy_coef * entropy + cfg.value_coef * value_loss
    with torch.no_grad():
        stats = {
            "loss_policy": float(policy_loss),
            "loss_value": float(value_loss),
            "entropy": float(entropy),
            "approx_kl": float(((ratio - 1) - log_ratio).mean()),
            "clip_frac": float(((ratio - 1).abs() > cfg.clip).float().mean()),
        }
    return loss, stats


def optimize(
    cfg: PPOConfig, model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor
) -> None:
    """Takes one clipped gradient step on ``loss``."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    optimizer.step()


def minibatch_indices(rng: np.random.Generator, n: int, parts: int) -> list[np.ndarray]:
    """Returns a random split of ``range(n)`` into ``parts`` nearly equal index arrays."""
    return np.array_split(rng.permutation(n), parts)


# --- evaluate ---


def rollout_steps(cfg: PPOConfig, spent: int, budget: int) -> int:
    """Returns the steps per sub-env of the next iteration (0 when the budget is spent).

    The last iteration is shortened so that ``spent`` never passes ``budget``.
    """
    return min(cfg.rollout_steps, max(budget - spent, 0) // cfg.num_envs)


@dataclass
class TrainState:
    """Everything a segment end must save so that a restarted run repeats the same numbers.

    Attributes:
        iteration: iterations done.
        spent: env steps spent.
        rng: the trainer's NumPy generator (actions, minibatches).
        value_norm: running return statistics.
    """

    iteration: int
    spent: int
    rng: np.random.Generator
    value_norm: ValueNorm
    started: float = dataclasses.field(default_factory=time.perf_counter)

    def state_dict(self) -> dict[str, Any]:
        """Returns the counters, the generator state and the return statistics."""
        return {
            "iteration": self.iteration,
            "spent": self.spent,
            "rng": self.rng.bit_generator.state,
            "value_norm": self.value_norm.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Puts back what ``state_dict`` returned."""
        self.iteration, self.spent = state["iteration"], state["spent"]
        self.rng.bit_generator.state = state["rng"]
        self.value_norm.load_state_dict(state["value_norm"])

    def steps_per_second(self, spent_before: int) -> float:
        """Returns env steps per second since ``started``, counting from ``spent_before``."""
        return (self.spent - spent_before) / max(time.perf_counter() - self.started, 1e-9)


def train_metrics(
    stats: dict[str, float], buf: Rollout, state: TrainState, spent_at_start: int
) -> dict[str, float]:
    """Returns the ``train/...`` metrics of an iteration: last minibatch's loss stats,
    the mean performance of trials that ended, and env steps per second."""
    out = {f"train/{k}": v for k, v in stats.items()}
    out["train/steps_per_s"] = state.steps_per_second(spent_at_start)
    perf = buf.mean_trial_performance()
    if perf is not None:
        out["train/trial_performance"] = perf
    return out


IterationHook = Callable[[int], None]


# --- the trainer ---


class PolicyNet(nn.Module, ABC):
    """What the trainer asks of a policy network (``rl2``'s GRU, ``memoryless``'s MLP).

    Its state is a ``(n, state_size)`` tensor (``state_size`` 0 for a memoryless policy),
    reset by the network itself where ``Inputs.start`` marks a trial start.
    """

    @abstractmethod
    def initial_state(self, n: int, device: torch.device) -> torch.Tensor:
        """Returns the state at the start of ``n`` trials."""

    @abstractmethod
    def step(self, x: Inputs, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns logits ``(n, A)``, normalized values ``(n,)`` and the next state."""

    @abstractmethod
    def sequence(self, x: Inputs, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns logits ``(T, n, A)`` and values ``(T, n)`` over a rollout from ``h0``."""


class PolicyAgent(Method):
    """A trained policy as a method: samples its actions with the given generator.

    ``action_probs`` exposes its action distribution (for algorithm-match statistics).
    """

    def __init__(self, name: str, net: PolicyNet, rng: np.random.Generator, device):
        self.name, self.net, self.rng, self.device = name, net, rng, device
        self.h: torch.Tensor | None = None

    def reset(self, batch: int, tasks=None) -> None:
        self.h = self.net.initial_state(batch, self.device)

    def action_probs(self, obs: TrialObs) -> np.ndarray:
        """Returns action probabilities ``(batch, A)``, advancing the state as ``act`` does."""
        if self.h is None:
            raise RuntimeError("call reset(batch) before act()")
        with torch.inference_mode():
            logits, _, self.h = self.net.step(to_inputs(obs, self.device), self.h)
        return torch.softmax(logits.double(), dim=-1).cpu().numpy()

    def act(self, obs: TrialObs) -> np.ndarray:
        return sample_categorical(self.rng, self.action_probs(obs))

    def parameter_count(self) -> int:
        return tt.parameter_count(self.net)


def agent_factory(name: str, net: PolicyNet, device: torch.device) -> MethodFactory:
    """Returns a factory of agents, each with a frozen copy of ``net`` as it is then."""
    return lambda rng: PolicyAgent(name, tt.frozen_copy(net), rng, device)


class PPOMethod(MethodEntry):
    """A policy network trained with PPO on any rl family: ``rl2`` and ``memoryless`` are
    this trainer with another ``make_net``, so the control differs in its network alone.

    Attributes:
        on_iteration: called with the iteration count after each iteration (tests use it
            to kill a run mid-way).
    """

    config_class: ClassVar[type[PPOConfig]] = PPOConfig
    kinds = ("rl",)
    default_budget: ClassVar[int] = 20_000_000
    config: PPOConfig
    on_iteration: IterationHook | None = None

    @abstractmethod
    def make_net(self, shape: EnvShape) -> PolicyNet:
        """Returns a fresh policy network for envs of ``shape``."""

    def train(
        self, family: RLFamily, evaluator: Evaluator, budget: int, seed: int, ctx: TrainContext
    ) -> Trained:
        cfg = self.config
        cfg.check()
        device = tt.setup_torch(cfg, seed, "ppo", ctx.device)
        runner = make_runner(cfg, family, seed, device)
        net = self.make_net(env_shape(runner.env)).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        rng = seeding.generator(seeding.stream(seed, "ppo", "rng"))
        state = TrainState(0, 0, rng, ValueNorm(cfg.value_norm_decay))
        parts = dict(progress=state, net=net, optimizer=optimizer)
        checkpoint = tt.checkpointer(cfg, family, budget, seed, ctx.run_dir)
        tt.restore(checkpoint.load(evaluator), **parts)
        spent_at_start = state.spent
        make_method = agent_factory(self.name, net, device)

        while steps := rollout_steps(cfg, state.spent, budget):
            if state.iteration % cfg.save_every == 0:  # segment start: fresh, seeded trials
                x = runner.reset(state.iteration // cfg.save_every)
                h = net.initial_state(cfg.num_envs, device)

            # --- rollout ---
            h0 = h
            buf, x, h, last_value = runner.rollout(net, x, h, steps, state.rng)
            h0, h, last_value = h0.clone(), h.clone(), last_value.clone()  # out of inference

            # --- update ---
            vn = state.value_norm
            adv, returns = advantages(
                buf.tensor("reward"),
                vn.denormalize(buf.value),
                vn.denormalize(last_value),
                buf.tensor("trial_end"),
                cfg.gamma,
                cfg.gae_lambda,
            )
            vn.update(returns)
            batch = [*buf.inputs(), buf.tensor("action"), buf.logp, adv, vn.normalize(returns)]
            if h0.shape[1] == 0:  # no state: every step is a sample of its own
                batch = [v.reshape(1, -1, *v.shape[2:]) for v in batch]
                h0 = h0.new_zeros(batch[0].shape[1], 0)
            for _ in range(cfg.epochs):
                for idx in minibatch_indices(state.rng, h0.shape[0], cfg.minibatches):
                    mb = torch.as_tensor(idx, device=device)
                    *inputs, actions, old_logp, mb_adv, target = (v[:, mb] for v in batch)
                    logits, values = net.sequence(Inputs(*inputs), h0[mb])
                    loss, stats = ppo_loss(cfg, logits, values, actions, old_logp, mb_adv, target)
                    optimize(cfg, net, optimizer, loss)

            # --- evaluate ---
            state.iteration += 1
            state.spent += steps * cfg.num_envs
            ctx.log(train_metrics(stats, buf, state, spent_at_start), state.spent)
            if evaluator.due(state.spent):
                evaluator.checkpoint(state.spent, make_method)
            if state.iteration % cfg.save_every == 0:
                checkpoint.save(tt.state_of(**parts), evaluator)
            if self.on_iteration is not None:
                self.on_iteration(state.iteration)

        final_checkpoint(evaluator, state.spent, make_method)
        checkpoint.save(tt.state_of(**parts), evaluator, finished=True)  # the final model
        runner.close()
        runtime = {"env_backend": runner.backend}
        return Trained(make_method, state.spent, tt.parameter_count(net), runtime)

    def load_trained(self, family: RLFamily, ctx: TrainContext) -> Trained:
        """Returns the policy a finished ``train`` saved in ``ctx.run_dir``."""
        cfg = self.config
        parts = tt.final_parts(cfg, family, ctx.run_dir)
        device = tt.prepare(cfg, ctx.device)
        net = self.make_net(family_shape(family))
        net.load_state_dict(parts["net"])
        net.to(device)
        make_method = agent_factory(self.name, net, device)
        return Trained(make_method, parts["progress"]["spent"], tt.parameter_count(net))

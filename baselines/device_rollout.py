"""The PPO trainer's device-resident rollout (``method.env_backend=torch``).

The train env is the family's torch twin (``mesa_bench.protocol.torch_envs``) on the run's
device, actions are sampled with a torch generator on that device and the rollout buffer is
tensors there, so a rollout step is device work only: no ``.cpu()``, ``.item()`` or NumPy
inside the step loop. The host is visited between stretches of steps, where the task stock
reads one counter back and tops itself up (once per iteration where trials last at least
a rollout, every ``RESERVE_EVERY`` steps where a trial can end after any step: the stock
holds the worst case of new tasks for the stretch, and a short stretch keeps that small),
and after the loop (the logged mean trial performance).

Seeding follows the NumPy path's segments: at every segment start the env's and the
actions' torch generator is seeded from ``(seed, "ppo", "torch-env", segment)`` and the
task stock's NumPy generator from ``(seed, "ppo", "env", segment)``. Nothing of this path's
randomness is saved, so a run saved on one device resumes on another (the numbers then
differ from an uninterrupted run's, as CUDA's and the CPU's generators differ).
"""

from __future__ import annotations

import torch

from baselines.ppo import Inputs, PolicyNet, TrainTasks
from mesa_bench import seeding
from mesa_bench.api import TaskVectorEnv
from mesa_bench.protocol.torch_envs import TaskStock, twin_class

RESERVE_EVERY = 10  # steps between stock top-ups (at least), see the module docstring


def sample_actions(gen: torch.Generator, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns sampled actions ``(n,)`` and their log-probabilities, drawn with ``gen``
    (inverse CDF of one uniform per row, as ``sample_categorical`` on the host)."""
    logp_all = torch.log_softmax(logits.float(), dim=-1)
    cdf = logp_all.exp().cumsum(dim=-1)
    u = torch.rand((cdf.shape[0], 1), generator=gen, device=cdf.device) * cdf[:, -1:]
    actions = (u > cdf).sum(dim=-1).clamp(max=cdf.shape[-1] - 1)
    return actions, logp_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def first_inputs(obs: torch.Tensor) -> Inputs:
    """Returns the inputs of the first step of a trial batch."""
    n, dev = obs.shape[0], obs.device
    zeros = torch.zeros(n, device=dev)
    start = torch.ones(n, dtype=torch.bool, device=dev)
    return Inputs(obs, torch.zeros(n, dtype=torch.int64, device=dev), zeros, zeros, start)


def next_inputs(
    obs: torch.Tensor,
    action: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    trial_end: torch.Tensor,
) -> Inputs:
    """Returns the next step's inputs; where a trial ended they are a trial start's."""
    keep = ~trial_end
    return Inputs(
        obs=obs,
        prev_action=torch.where(keep, action, 0),
        prev_reward=torch.where(keep, reward, 0.0),
        done=(done & keep).float(),
        start=trial_end,
    )


class DeviceRollout:
    """Buffers for one iteration on the device: ``T`` steps of ``n`` sub-envs.

    Made outside ``torch.inference_mode`` and written inside it, so the update can take
    gradients through what it reads from them.
    """

    def __init__(self, steps: int, n: int, obs_shape: tuple[int, ...], device: torch.device):
        def zeros(*shape, dtype=torch.float32):
            return torch.zeros(shape, dtype=dtype, device=device)

        self.obs = zeros(steps, n, *obs_shape)
        self.prev_action = zeros(steps, n, dtype=torch.int64)
        self.action = zeros(steps, n, dtype=torch.int64)
        self.prev_reward, self.done, self.reward = zeros(steps, n), zeros(steps, n), zeros(steps, n)
        self.start = zeros(steps, n, dtype=torch.bool)
        self.trial_end, self.logp, self.value = zeros(steps, n), zeros(steps, n), zeros(steps, n)
        self.trial_perf = zeros(n, dtype=torch.float64)
        self.finished_perf = zeros(dtype=torch.float64)
        self.finished = zeros(dtype=torch.int64)

    def add(self, t: int, x: Inputs, action, logp, value, reward, info: dict) -> None:
        """Stores step ``t``: its inputs, the action taken and what the env returned."""
        self.obs[t], self.prev_action[t], self.prev_reward[t] = x.obs, x.prev_action, x.prev_reward
        self.done[t], self.start[t], self.action[t] = x.done, x.start, action
        self.reward[t], self.logp[t], self.value[t] = reward, logp, value
        ended = info["trial_end"]
        self.trial_end[t] = ended
        self.trial_perf += info["performance"]
        self.finished_perf += (self.trial_perf * ended).sum()
        self.finished += ended.sum()
        self.trial_perf.masked_fill_(ended, 0.0)

    def inputs(self) -> Inputs:
        """Returns the stored inputs, ``(T, n, ...)``."""
        return Inputs(self.obs, self.prev_action, self.prev_reward, self.done, self.start)

    def tensor(self, name: str) -> torch.Tensor:
        """Returns the buffer ``name``."""
        return getattr(self, name)

    def mean_trial_performance(self) -> float | None:
        """Returns the mean performance of trials that ended in this rollout (None if none)."""
        count = int(self.finished)
        return float(self.finished_perf) / count if count else None


class DeviceEnv:
    """The train env as the family's torch twin on the run's device.

    Args:
        env: the NumPy train env (``ppo.make_train_env``): its settings and task sampler.
        seed: the run's seed.
        device: the run's device.
    """

    backend = "torch"

    def __init__(self, env: TaskVectorEnv, seed: int, device: torch.device):
        if not isinstance(env.sampler, TrainTasks):
            raise TypeError("DeviceEnv needs the train env of ppo.make_train_env")
        self.env, self.seed, self.device = env, seed, device
        self.twin = twin_class(env).like(env, device)
        self.generator = torch.Generator(device=device)

    def reset(self, segment: int) -> Inputs:
        """Resets every sub-env to a fresh trial for ``segment``; returns the first inputs."""
        name = str(segment)
        draws = seeding.stream(self.seed, "ppo", "torch-env", name)
        self.generator.manual_seed(seeding.int_seed(draws))
        rng = seeding.generator(seeding.stream(self.seed, "ppo", "env", name))
        stock = TaskStock(self.generator, self.env.sampler, rng, self.twin.convert, self.device)
        return first_inputs(self.twin.reset(stock))

    def rollout(self, net: PolicyNet, x: Inputs, h: torch.Tensor, steps: int, rng=None):
        """Runs ``steps`` steps from inputs ``x`` and state ``h``; returns the buffer, the
        next inputs and state, and the value after the last step (``rng`` is unused: the
        actions come from the device generator)."""
        buf = DeviceRollout(steps, self.twin.num_envs, tuple(x.obs.shape[1:]), self.device)
        stretch = max(self.twin.min_trial_steps(), RESERVE_EVERY)
        for start in range(0, steps, stretch):
            stop = min(start + stretch, steps)
            self.twin.reserve(stop - start)  # a host sync between stretches, not in them
            with torch.inference_mode():
                x, h = self.run_steps(net, x, h, buf, range(start, stop))
        with torch.inference_mode():
            _, last_value, _ = net.step(x, h)
        return buf, x, h, last_value

    def run_steps(
        self, net: PolicyNet, x: Inputs, h: torch.Tensor, buf: DeviceRollout, steps: range
    ) -> tuple[Inputs, torch.Tensor]:
        """Fills ``buf`` at ``steps`` on the device, with no host sync (the stock must hold
        these steps' new tasks); returns the next inputs and state."""
        for t in steps:
            logits, value, h = net.step(x, h)
            action, logp = sample_actions(self.generator, logits)
            obs, reward, term, trunc, info = self.twin.step(action)
            buf.add(t, x, action, logp, value, reward, info)
            x = next_inputs(obs, action, reward, term | trunc, info["trial_end"])
        return x, h

    def close(self) -> None:
        self.env.close()

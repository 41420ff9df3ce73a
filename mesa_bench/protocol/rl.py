"""The rl kind: its family base, its one trial loop (RL^2 semantics) and its replay.

A trial is ``episodes`` episodes on one task; the method's memory is kept across episode
boundaries and its input is the observation plus the previous action, previous reward and
a done flag, added here for every family alike. The replay runs a method again on recorded
step inputs and returns its action distribution there (match statistics).
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from mesa_bench.protocol.core import MatchUnavailable, Method, SplitOutcome, TaskFamily, TrialObs


class RLFamily(TaskFamily):
    """A family of kind ``rl``: batched NumPy environments over sampled tasks."""

    episodes_per_trial: ClassVar[int] = 1

    @abstractmethod
    def make_env(self, tasks: Any, split: str) -> Any:
        """Returns a batched ``gymnasium.vector.VectorEnv``, one sub-env per task.

        Its trials must be ``trial_episodes(split)`` episodes long (``episodes_per_trial``
        of a ``TaskVectorEnv``): a train env that samples its own tasks draws a new one at
        every trial end.
        """

    def trial_episodes(self, split: str) -> int:
        """Returns how many episodes make one trial on ``split``."""
        return self.episodes_per_trial

    def trial_extras(self, env: Any) -> dict[str, np.ndarray]:
        """Returns per-trial extras read off ``env`` after its trials ran (none by default);
        each an array of shape ``(n_trials,)``, stored in ``SplitOutcome.extras``."""
        return {}

    def run_trials(self, method: Method, tasks: Any, split: str, seed: int) -> SplitOutcome:
        env = self.make_env(tasks, split)
        try:
            outcome = run_rl_trials(env, method, self.trial_episodes(split), seed, tasks)
            extras = {**outcome.extras, **self.trial_extras(env)}
        finally:
            env.close()
        return dataclasses.replace(outcome, extras=extras)


class RLReference(Method):
    """A hand-written rl algorithm that exposes its action distribution.

    Subclasses implement ``policy``; ``act`` samples from it with the method's generator,
    so match metrics can compare a learned policy against ``policy`` on the same history.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    @abstractmethod
    def policy(self, obs: TrialObs) -> np.ndarray:
        """Returns action probabilities of shape ``(batch, n_actions)``; updates no state."""

    def observe(self, obs: TrialObs) -> None:  # noqa: B027 (optional hook)
        """Updates the algorithm's state with the last transition (in ``obs``)."""

    def act(self, obs: TrialObs) -> np.ndarray:
        self.observe(obs)
        return sample_categorical(self.rng, self.policy(obs))


def sample_categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Returns one index per row of ``probs`` (shape ``(n, k)``), drawn in one call."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=1), probs.shape[1] - 1)


def initial_trial_obs(obs: np.ndarray) -> TrialObs:
    """Returns the input of the first step of a trial batch."""
    n = obs.shape[0]
    return TrialObs(
        obs=obs,
        prev_action=np.zeros(n, np.int64),
        prev_reward=np.zeros(n, np.float32),
        done=np.zeros(n, np.float32),
        trial_start=np.ones(n, bool),
    )


def run_rl_trials(
    env,
    method: Method,
    episodes: int,
    seed: int,
    tasks=None,
    on_step: Callable[[TrialObs, np.ndarray, dict], None] | None = None,
    max_steps: int = 10_000_000,
) -> SplitOutcome:
    """Runs one trial in each sub-env of ``env`` and returns per-trial outcomes.

    ``env`` must autoreset in the same step (``AutoresetMode.SAME_STEP``) and report
    ``info["performance"]`` every step and ``info["achieved"]`` (objective -> bool array)
    at episode ends. A trial's achievement is that of its last episode; its performance
    is the sum over its episodes. ``on_step`` sees each step's input, action and info
    (used by match metrics to record histories).
    """
    n = env.num_envs
    method.reset(n, tasks if method.privileged else None)
    obs, _ = env.reset(seed=seed)
    x = initial_trial_obs(obs)
    performance = np.zeros(n)
    episode_count = np.zeros(n, np.int64)
    finished = np.zeros(n, bool)
    achieved: dict[str, np.ndarray] = {}
    for _ in range(max_steps):
        action = method.act(x)
        if on_step is not None:
            on_step(x, action, {"live": ~finished})
        obs, reward, terminated, truncated, info = env.step(action)
        live = ~finished
        performance += np.where(live, info["performance"], 0.0)
        ended = (terminated | truncated) & live
        episode_count += ended
        trial_end = ended & (episode_count >= episodes)
        for name, value in info.get("achieved", {}).items():
            achieved.setdefault(name, np.zeros(n, bool))[trial_end] = value[trial_end]
        finished |= trial_end
        if finished.all():
            break
        x = TrialObs(
            obs=obs,
            prev_action=np.asarray(action, np.int64),
            prev_reward=np.asarray(reward, np.float32),
            done=(terminated | truncated).astype(np.float32),
            trial_start=np.zeros(n, bool),
        )
    else:
        raise RuntimeError(f"trials did not finish within {max_steps} steps")
    return SplitOutcome(performance=performance, achieved=achieved)


# --- replay --------------------------------------------------------------------------


def live_mask(steps: list[TrialObs], episodes: int) -> np.ndarray:
    """Returns ``(T, n)``: True where a step still belongs to the row's trial.

    A row's trial ends after ``episodes`` episode ends; the loop keeps stepping finished
    rows until every row is done, and those steps are not part of any history.
    """
    done = np.stack([s.done for s in steps]) > 0
    return np.cumsum(done, axis=0) < episodes


def step_probs(method: Method, obs: TrialObs) -> np.ndarray:
    """Returns the method's action probabilities at ``obs``, advancing its state.

    Raises MatchUnavailable for a method that exposes no action distribution.
    """
    if isinstance(method, RLReference):
        method.observe(obs)
        return np.asarray(method.policy(obs), float)
    action_probs = getattr(method, "action_probs", None)
    if action_probs is None:
        raise MatchUnavailable(
            f"{method.name} exposes no action distribution (needs action_probs(obs))"
        )
    return np.asarray(action_probs(obs), float)


def replay(method: Method, steps: list[TrialObs], live: np.ndarray, tasks: Any) -> np.ndarray:
    """Returns the method's action probabilities on the live steps, ``(steps, n_actions)``."""
    method.reset(steps[0].obs.shape[0], tasks if method.privileged else None)
    probs = [step_probs(method, obs)[live[t]] for t, obs in enumerate(steps)]
    return np.concatenate(probs, axis=0)

"""The one loop that runs an rl method through trials (RL^2 semantics).

A trial is ``episodes`` episodes on one task; the method's memory is kept across episode
boundaries and its input is the observation plus the previous action, previous reward and
a done flag, added here for every family alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mesa_bench.api import Method, SplitOutcome, TrialObs


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

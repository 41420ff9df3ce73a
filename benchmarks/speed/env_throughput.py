"""Batched env steps/s for every rl family, against per-env ``SyncVectorEnv`` (SPEC 10).

    python -m benchmarks.speed.env_throughput [--families bandit maze] [--sizes 1 64 1024 4096]

Prints JSON: per family and size, the native batched env's steps/s (median of repeats,
random actions drawn beforehand), the same for ``gymnasium.vector.SyncVectorEnv`` over the
single-env version, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import gymnasium as gym
import numpy as np

from benchmarks.envs import gym_id, register_envs
from mesa_bench.registry import FAMILIES

SIZES = (1, 64, 1024, 4096)


def steps_per_second(env, steps: int, repeats: int) -> float:
    """Returns the median env steps/s of ``env`` over ``repeats`` timed runs."""
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = env.action_space.shape[0] if env.action_space.shape else env.num_envs
    high = env.single_action_space.n
    actions = rng.integers(0, high, (steps, n))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for a in actions:
            env.step(a)
        rates.append(steps * env.num_envs / (time.perf_counter() - start))
    return float(np.median(rates))


def measure(name: str, sizes, budget: float, repeats: int) -> list[dict]:
    """Returns one row per size for family ``name``."""
    env_id = gym_id(name, FAMILIES.get(name).spec.version)
    rows = []
    for n in sizes:
        steps = max(20, int(budget / n))  # roughly the same number of env steps per size
        native = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
        sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync")
        fast = steps_per_second(native, steps, repeats)
        slow = steps_per_second(sync, max(5, steps // 20), repeats)
        rows.append(
            {"family": name, "num_envs": n, "native": fast, "sync": slow, "ratio": fast / slow}
        )
        native.close()
        sync.close()
    return rows


def main() -> None:
    rl = [n for n in FAMILIES.names() if FAMILIES.get(n).spec.kind == "rl"]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=rl, choices=rl)
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    p.add_argument("--steps", type=float, default=5e5, help="env steps per timed run")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    register_envs()
    rows = [
        row for name in args.families for row in measure(name, args.sizes, args.steps, args.repeats)
    ]
    meta = {"machine": platform.machine(), "python": platform.python_version()}
    print(json.dumps({"meta": meta, "results": rows}, indent=1))


if __name__ == "__main__":
    main()

"""AD against its source algorithm on the same bandit trials (Laskin et al. 2022: AD
improves within a trial, in fewer steps than its source).

Loads the finished ``ad`` run in a run folder (trained with the default config but for
``--source``), runs it and its source reference on the same test tasks with the same env
seed, and prints, per fifth of the trial, the rate at which each pulls the best arm and the
mean of the arm it pulls, then the first pull from which each one's best-arm rate stays at
or above ``--bar`` of its own last-fifth rate.

    .venv/bin/python baselines/reproduce/ad_vs_source.py runs/mesa-v1/ad/bandit/seed0

Applies to the bandit families (their tasks carry the arm means); on tabular-mdp the results
file already holds ``episode_return@k`` per episode for AD, its source and every reference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from baselines.ad import AD, ADConfig
from mesa_bench import seeding
from mesa_bench.api import Method, RLFamily
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.protocol.rl import run_rl_trials
from mesa_bench.registry import FAMILIES


def pulls(family: RLFamily, method: Method, tasks, env_seed: int) -> np.ndarray:
    """Returns the arm ``method`` pulls at every step of one trial per task, ``(T, n)``."""
    actions: list[np.ndarray] = []
    env = family.make_env(tasks, "test")
    try:
        run_rl_trials(env, method, 1, env_seed, tasks, on_step=lambda x, a, i: actions.append(a))
    finally:
        env.close()
    return np.stack(actions)


def settled_at(best_rate: np.ndarray, bar: float) -> int:
    """Returns the first step from which the best-arm rate (smoothed over a window of a
    tenth of the trial) stays at or above ``bar`` times its mean over the last fifth."""
    window = max(1, len(best_rate) // 10)
    smooth = np.convolve(best_rate, np.ones(window) / window, mode="valid")
    target = bar * best_rate[-len(best_rate) // 5 :].mean()
    below = np.flatnonzero(smooth < target)
    return 0 if below.size == 0 else int(below[-1] + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished ad run's folder")
    parser.add_argument("--task", default="bandit", help="the family it was trained on")
    parser.add_argument("--source", default="auto", help="method.source of the run")
    parser.add_argument("--trials", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0, help="seed of the tasks and env")
    parser.add_argument("--bar", type=float, default=0.9)
    args = parser.parse_args()

    family = FAMILIES.get(args.task)()
    entry = AD("ad", ADConfig(name="ad", source=args.source))
    source = entry.source(family)
    trained = entry.load_trained(family, TrainContext(run_dir=args.run_dir, device="cpu"))
    task_seed, env_seed = seeding.stream(args.seed, "ad-vs-source").spawn(2)
    tasks = family.sample_tasks(task_seed, args.trials, "test")
    if not hasattr(tasks, "means"):
        raise SystemExit(f"{args.task}: its tasks carry no arm means (a bandit family only)")
    means = np.asarray(tasks.means)
    env_int = seeding.int_seed(env_seed) % 2**31
    methods = {
        "ad": trained.make_method(np.random.default_rng(args.seed)),
        source: family.make_reference(source, np.random.default_rng(args.seed)),
    }
    print(f"{args.trials} test trials of {args.task}; per fifth: best-arm rate / mean pulled")
    for name, method in methods.items():
        arms = pulls(family, method, tasks, env_int)
        best = (arms == means.argmax(axis=1)).mean(axis=1)
        pulled = means[np.arange(len(means)), arms].mean(axis=1)
        fifths = [
            f"{b.mean():.3f} / {m.mean():.3f}"
            for b, m in zip(np.array_split(best, 5), np.array_split(pulled, 5), strict=True)
        ]
        print(f"{name:>10}: " + "  ".join(fifths), f" settled at pull {settled_at(best, args.bar)}")


if __name__ == "__main__":
    main()

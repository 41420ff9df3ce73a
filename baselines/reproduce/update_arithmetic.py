"""How close the PPO update of rl2 runs to the CPU's arithmetic peak (issue: training cost).

    .venv/bin/python baselines/reproduce/update_arithmetic.py [--families bandit maze] [--repeats 5]
        [--json PATH]

For each family, builds rl2's network at the default settings and times one iteration's
update as the trainer runs it (``epochs`` passes of ``net.sequence`` forward and backward
over ``num_envs`` trials of ``rollout_steps`` steps of a random policy, with trial starts
where the family puts them: only at t = 0 on the bandit, so one fused GRU call over the
rollout; anywhere on the grids, so the rollout is cut into trial segments that run padded,
in one or two fused calls: ``rl2.gru_over_trials``), counting its floating-point operations
(padding included) with ``torch.utils.flop_counter``. It also times the same update with
trial starts removed (one call over the unbroken rollout: what the cutting costs), and a
1024^3 float32 matrix product gives the
peak this CPU reaches on one thread. The last column is the env steps/s the update alone
would allow at that peak. It builds rl2's network itself, so it lives beside the trainer
rather than in ``benchmarks/speed`` (benchmarks and baselines stay independent).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from baselines import ppo
from baselines.rl2 import RL2Config, RL2Net
from mesa_bench.registry import FAMILIES


def batch(family: str, cfg: RL2Config, shape: ppo.EnvShape, rng: np.random.Generator):
    """Returns a rollout's inputs ``(T, n, ...)`` with the family's trial-start pattern."""
    env = ppo.make_train_env(FAMILIES.get(family)(), cfg.num_envs, seed=0)
    x = ppo.reset_segment(env, 0, 0)
    steps = []
    for _ in range(cfg.rollout_steps):
        action = rng.integers(shape.n_actions, size=cfg.num_envs)
        obs, reward, term, trunc, info = env.step(action)
        steps.append(x)
        x = ppo.next_inputs(obs, action, reward, term | trunc, info["trial_end"])
    env.close()
    fields = ("obs", "prev_action", "prev_reward", "done", "trial_start")
    return ppo.Inputs(*(torch.as_tensor(np.stack([getattr(s, f) for s in steps])) for f in fields))


def update_once(net: RL2Net, cfg: RL2Config, x: ppo.Inputs) -> None:
    """One iteration's update arithmetic: ``epochs`` forward and backward passes."""
    h0 = net.initial_state(cfg.num_envs, torch.device("cpu"))
    for _ in range(cfg.epochs):
        logits, values = net.sequence(x, h0)
        (logits.logsumexp(-1).sum() + values.sum()).backward()


def timed(fn, repeats: int) -> float:
    """Returns the median seconds of ``fn()`` over ``repeats`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak(n: int, k: int, m: int, repeats: int) -> float:
    """Returns float32 GFLOP/s of ``(n, k) @ (k, m)``, repeated to last about 50 ms."""
    a, b = torch.randn(n, k), torch.randn(k, m)
    reps = max(1, int(5e7 / (2 * n * k * m)))

    def run():
        for _ in range(reps):
            torch.mm(a, b)

    return 2 * n * k * m * reps / timed(run, repeats) / 1e9


def measure(family: str, repeats: int) -> dict:
    """Returns the update's time, FLOPs and rate for rl2 on ``family``."""
    cfg = RL2Config()
    shape = ppo.family_shape(FAMILIES.get(family)())
    torch.manual_seed(0)
    net = RL2Net(shape, cfg)
    x = batch(family, cfg, shape, np.random.default_rng(0))
    with FlopCounterMode(display=False) as counter:
        update_once(net, cfg, x)
    flops = counter.get_total_flops()
    seconds = timed(lambda: update_once(net, cfg, x), repeats)
    unbroken = x._replace(start=torch.zeros_like(x.start))
    fused = timed(lambda: update_once(net, cfg, unbroken), repeats)
    steps = cfg.num_envs * cfg.rollout_steps
    peak = matmul_peak(1024, 1024, 1024, repeats)
    return {
        "family": family,
        "fused_gru": not bool(x.start[1:].any()),
        "update_s": seconds,
        "update_fused_s": fused,
        "flop_per_env_step": flops / steps,
        "gflop_s": flops / seconds / 1e9,
        "peak_gflop_s": peak,
        "update_only_steps_s": steps / seconds,
        "steps_s_at_peak": steps / (flops / (peak * 1e9)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["bandit", "maze", "keys-chests"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = [measure(f, args.repeats) for f in args.families]
    print(
        "| family | GRU path | update (s) | unbroken (s) | MFLOP/env step | GFLOP/s | "
        "peak GFLOP/s | update-only steps/s | at peak |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['family']} | {'one call' if r['fused_gru'] else 'segments'} | "
            f"{r['update_s']:.3f} | {r['update_fused_s']:.3f} | "
            f"{r['flop_per_env_step'] / 1e6:.2f} | {r['gflop_s']:.1f} | "
            f"{r['peak_gflop_s']:.1f} | {r['update_only_steps_s'] / 1e3:.1f}k | "
            f"{r['steps_s_at_peak'] / 1e3:.1f}k |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": 1, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training env steps/s of the PPO baselines on every rl family (issue: training cost).

    python -m benchmarks.speed.train_throughput [--families bandit maze] [--methods rl2]
        [--devices cpu cuda] [--backends numpy torch] [--iterations 6] [--repeats 3]
        [--json PATH] [KEY=VALUE ...]

For each family x method x device x env backend (``method.env_backend``; by default the
one ``auto`` takes), trains from scratch for ``--iterations`` PPO iterations
at the method's default settings (``KEY=VALUE`` sets a ``method.`` field, e.g.
``num_envs=512``) and reports the median over ``--repeats`` runs of the training env steps
per second after the first iteration (which pays for start-up), with no evaluation
checkpoint inside the timed stretch. Prints a Markdown table and writes JSON. For wall time
to tau use ``benchmarks.speed.time_to_tau`` on a run's results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mesa_bench.api import Evaluator, TrainContext
from mesa_bench.registry import FAMILIES, METHODS

RL_FAMILIES = ("bandit", "bandit-cue", "tabular-mdp", "maze", "keys-chests")
FAR = 10**15  # an evaluator budget whose first checkpoint no short run reaches


def one_run(
    family: str, method: str, device: str, iterations: int, fields: dict, backend: str = "auto"
) -> float:
    """Returns training env steps/s of one run, iterations 2..N (the first is warm-up)."""
    fam = FAMILIES.get(family)()
    entry = METHODS.get(method)(method)
    entry.config = dataclasses.replace(entry.config, **fields, env_backend=backend)
    per_iteration = entry.config.num_envs * entry.config.rollout_steps
    marks: list[float] = []
    entry.on_iteration = lambda i: marks.append(time.perf_counter())
    evaluator = Evaluator(fam, 0, FAR, n_eval=8, splits=["test"], match_trials=0)
    with tempfile.TemporaryDirectory() as run_dir:
        ctx = TrainContext(run_dir=Path(run_dir), device=device)
        entry.train(fam, evaluator, per_iteration * iterations, 0, ctx)
    return per_iteration * (len(marks) - 1) / (marks[-1] - marks[0])


def parse_fields(items: list[str]) -> dict:
    """Returns ``KEY=VALUE`` items as method config fields, values parsed as JSON if they can."""
    fields = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            fields[key] = json.loads(value)
        except json.JSONDecodeError:
            fields[key] = value
    return fields


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=list(RL_FAMILIES))
    p.add_argument("--methods", nargs="+", default=["rl2", "memoryless"])
    default_devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    p.add_argument("--devices", nargs="+", default=default_devices)
    p.add_argument("--backends", nargs="+", default=["auto"], choices=["auto", "numpy", "torch"])
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path)
    p.add_argument("fields", nargs="*", help="method config fields, KEY=VALUE")
    args = p.parse_args(argv)
    fields = parse_fields(args.fields)
    rows = []
    for family in args.families:
        for method in args.methods:
            for device in args.devices:
                for backend in args.backends:
                    runs = [
                        one_run(family, method, device, args.iterations, fields, backend)
                        for _ in range(args.repeats)
                    ]
                    rows.append(
                        dict(family=family, method=method, device=device, backend=backend,
                             steps_per_s=statistics.median(runs), runs=runs)
                    )  # fmt: skip
                    rate = rows[-1]["steps_per_s"]
                    print(f"{family} {method} {device} {backend}: {rate:,.0f} steps/s")
    print("\n| family | method | device | env backend | train env steps/s (median) |")
    print("|---|---|---|---|---|")
    for r in rows:
        cells = (r["family"], r["method"], r["device"], r["backend"], f"{r['steps_per_s']:,.0f}")
        print("| " + " | ".join(cells) + " |")
    if args.json:
        meta = dict(machine=platform.platform(), torch=torch.__version__, fields=fields,
                    threads=torch.get_num_threads(), iterations=args.iterations)  # fmt: skip
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

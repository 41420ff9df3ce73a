"""The rl acceptance table (issue 4): medians over seeds of every split of every run.

Reads the results files that ``baselines/reproduce/rl.sh`` writes and prints, per group
(family and diversity), method and split: the number of seeds, the median [min, max] over
seeds of the normalized score and of the mean performance (with the score-1
reference's), the median rate of each objective, the budget, the median
wall time, on keys-chests the keys picked up per chest opened, and on tabular-mdp the mean
return of a trial's first and last episode (a learned RL algorithm does better in the
last); tabular-mdp's ``more-episodes`` shifts are scored against psrl like every split.

    .venv/bin/python baselines/reproduce/rl_table.py runs/reproduce-rl
    .venv/bin/python baselines/reproduce/rl_table.py runs/reproduce-rl --json table.json

Arguments are results files or folders searched for ``results.json``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from mesa_bench.metrics.behavioral import record_objective
from mesa_bench.metrics.summary import split_score
from mesa_bench.results import ResultsError, find_results, read_results


def rows(paths: list[Path]) -> list[dict]:
    """Returns one row per (family, diversity, method, split), seeds pooled."""
    pooled: dict[tuple, list[dict]] = defaultdict(list)
    for path in paths:
        results = read_results(path)
        task = results.config.get("task", {})
        for run in results.runs:
            for split, rec in run.splits.items():
                key = (run.family, task.get("diversity"), results.method.name, split)
                extras = rec.extras
                pooled[key].append(
                    {
                        "seed": run.seed,
                        "budget": run.budget,
                        "wall_s": run.wall_time_s,
                        "score": split_score(run, split),
                        "performance": float(np.mean(rec.performance)),
                        "reference": float(np.mean(rec.references[run.score_reference])),
                        "achieved": {k: float(np.mean(v)) for k, v in rec.achieved.items()},
                        "keys_per_chest": (
                            float(np.sum(extras["keys"]) / max(np.sum(extras["chests"]), 1.0))
                            if "keys" in extras
                            else None
                        ),
                        "first_last_episode": _first_last_episode(extras),
                        "behavior": _objective(run.behavior.get(split)),
                    }
                )
    out = []
    for (family, diversity, method, split), runs in sorted(pooled.items(), key=_order):
        scores = [r["score"] for r in runs if r["score"] is not None]
        objectives = sorted({k for r in runs for k in r["achieved"]})
        kpc = [r["keys_per_chest"] for r in runs if r["keys_per_chest"] is not None]
        episodes = [r["first_last_episode"] for r in runs if r["first_last_episode"]]
        out.append(
            {
                "family": family,
                "diversity": diversity,
                "method": method,
                "split": split,
                "seeds": sorted(r["seed"] for r in runs),
                "budget": int(np.median([r["budget"] for r in runs])),
                "wall_s": float(np.median([r["wall_s"] for r in runs])),
                "score": _spread(scores),
                "performance": float(np.median([r["performance"] for r in runs])),
                "reference": float(np.median([r["reference"] for r in runs])),
                "achieved": {
                    k: float(np.median([r["achieved"].get(k, np.nan) for r in runs]))
                    for k in objectives
                },
                "keys_per_chest": _spread(kpc),
                "first_last_episode": (
                    [float(np.median([e[i] for e in episodes])) for i in (0, 1)]
                    if episodes
                    else None
                ),
                "behavior": dict(
                    sorted(Counter(r["behavior"][0] for r in runs if r["behavior"]).items())
                ),
                "behavior_reasons": sorted(
                    {r["behavior"][1] for r in runs if r["behavior"] and r["behavior"][1]}
                ),
            }
        )
    return out


def _objective(record) -> tuple[str, str | None] | None:
    """Returns (objective or ``undetermined``, the reason) recomputed from the stored fits;
    the writer's ``objective`` is not read. None where the split has no behaviour record."""
    if record is None:
        return None
    out = record_objective(record)
    return out["objective"] or "undetermined", out["reason"]


def _behavior(counts: dict[str, int], reasons: list[str]) -> str:
    if not counts:
        return "-"
    text = ", ".join(f"{k} x{n}" for k, n in counts.items())
    return f"{text} ({'; '.join(reasons)})" if reasons else text


def _first_last_episode(extras: dict) -> tuple[float, float] | None:
    """Returns the mean return of the first and last recorded episode, if recorded."""
    recorded = sorted(int(k.split("@")[1]) for k in extras if k.startswith("episode_return@"))
    if not recorded:
        return None
    first, last = (extras[f"episode_return@{i}"] for i in (recorded[0], recorded[-1]))
    return float(np.mean(first)), float(np.mean(last))


def _order(item):
    (family, diversity, method, split), _ = item
    return family, diversity if diversity is not None else -1, method, split != "test", split


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": float(np.median(values)), "min": min(values), "max": max(values)}


def _fmt(spread: dict | None) -> str:
    if spread is None:
        return "-"
    return f"{spread['median']:.3f} [{spread['min']:.3f}, {spread['max']:.3f}]"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="results files or folders")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    try:
        table = rows(find_results(args.paths))
    except ResultsError as e:
        raise SystemExit(str(e)) from None
    print(
        "| family | div | method | split | seeds | budget | wall (min) | performance (reference)"
        " | score median [min, max]"
        " | objectives achieved (median) | keys/chest | episode 1 -> last | behavioral objective |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        achieved = ", ".join(f"{k} {v:.2f}" for k, v in r["achieved"].items()) or "-"
        episodes = r["first_last_episode"]
        episodes = f"{episodes[0]:.2f} -> {episodes[1]:.2f}" if episodes else "-"
        print(
            f"| {r['family']} | {r['diversity']} | {r['method']} | {r['split']} "
            f"| {len(r['seeds'])} | {r['budget'] / 1e6:.1f}M | {r['wall_s'] / 60:.1f} "
            f"| {r['performance']:.3g} ({r['reference']:.3g}) "
            f"| {_fmt(r['score'])} | {achieved} | {_fmt(r['keys_per_chest'])} | {episodes} "
            f"| {_behavior(r['behavior'], r['behavior_reasons'])} |"
        )
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()

"""Wall time for each baseline to reach ``tau`` on its families (SPEC 10), from results files.

    python -m benchmarks.speed.time_to_tau RESULTS... [--tau 0.8] [--json PATH]

Reads the ``test`` learning curve of every run (the checkpoints the evaluator wrote) and
prints, per method, family, diversity and device: how many seeds reached ``score >= tau`` at
some checkpoint, and over those seeds the median budget and wall time of the first such
checkpoint, beside the median wall time of a whole run. Checkpoints are log-spaced, so a
time is an upper bound, late by at most one checkpoint interval. Device and CPU count come
from the files' provenance (``not recorded`` for files older than schema 1.1). Arguments are results
files or folders searched for ``results.json``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from mesa_bench.metrics.reachability import competent
from mesa_bench.metrics.rescoring import checkpoint_scores
from mesa_bench.metrics.score import COMPETENCE_THRESHOLD
from mesa_bench.results import ResultsError, find_results, read_results


def first_reach(run, tau: float) -> tuple[int, float] | None:
    """Returns (budget, wall seconds) of the run's first checkpoint with score >= tau, or
    None; scores are recomputed from each checkpoint's performance (``checkpoint_scores``),
    never read from the file."""
    hit = competent(checkpoint_scores(run), tau)
    if not hit.any():
        return None
    point = run.curve[int(np.argmax(hit))]
    return point.budget, point.wall_time_s


def rows(paths: list[Path], tau: float) -> list[dict]:
    """Returns one row per (method, family, diversity, device), seeds pooled."""
    pooled: dict[tuple, list[tuple]] = defaultdict(list)
    for path in paths:
        results = read_results(path)
        prov = results.provenance
        device = f"{prov.device}, {prov.cpu_count} CPUs" if prov.device else "not recorded"
        diversity = results.config.get("task", {}).get("diversity")
        for run in results.runs:
            if not run.curve:  # an untrained method (a reference) has no learning curve
                continue
            key = (results.method.name, run.family, diversity, device)
            pooled[key].append((run.seed, run.wall_time_s, first_reach(run, tau)))
    out = []
    for (method, family, diversity, device), runs in sorted(pooled.items(), key=str):
        reached = [r[2] for r in runs if r[2] is not None]
        out.append(
            {
                "method": method,
                "family": family,
                "diversity": diversity,
                "device": device,
                "seeds": len(runs),
                "reached": len(reached),
                "budget_to_tau": float(np.median([b for b, _ in reached])) if reached else None,
                "wall_s_to_tau": float(np.median([w for _, w in reached])) if reached else None,
                "wall_s_run": float(np.median([r[1] for r in runs])),
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="results files or folders")
    parser.add_argument("--tau", type=float, default=COMPETENCE_THRESHOLD)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    try:
        table = rows(find_results(args.paths), args.tau)
    except ResultsError as e:
        raise SystemExit(str(e)) from None
    print(f"| method | family | div | device | seeds at tau={args.tau} | budget to tau "
          "| wall to tau (min) | wall a run (min) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        budget = f"{r['budget_to_tau'] / 1e6:.2f}M" if r["reached"] else "-"
        wall = f"{r['wall_s_to_tau'] / 60:.1f}" if r["reached"] else "-"
        print(
            f"| {r['method']} | {r['family']} | {r['diversity']} | {r['device']} "
            f"| {r['reached']}/{r['seeds']} | {budget} | {wall} | {r['wall_s_run'] / 60:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()

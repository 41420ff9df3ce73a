"""Distance to ``dmmse`` and to ``ridge`` against the train task pool size M (Raventos et al.).

Reads results files of ``icl-regression`` runs trained with ``task.n_tasks = M``
(``icl_diversity.sh``), takes each run's last match point (the final model, on the public
``test`` prompts: fresh weight vectors from the prior), and writes

- ``<out>.json``: per M, every seed's prediction distance to ``dmmse`` and ``ridge`` and the
  matcher's decision, the medians over seeds, and the threshold M*;
- ``<out>.png``: both distances against M (median over seeds, the band spanning seeds);

and prints the table. The nearer reference at M is the one of smaller median distance;
M* is the least swept M from which ``ridge`` is nearer at every larger swept M (none when
``dmmse`` is still nearer at the largest).

    .venv/bin/python baselines/reproduce/icl_diversity.py runs/reproduce-icl-diversity \\
        --out runs/reproduce-icl-diversity/icl_diversity
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from mesa_bench.results import find_results, read_results

REFERENCES = ("dmmse", "ridge")
MATCH_SPLIT = "test"  # the matcher's split: fresh weight vectors from the prior


def load(paths: list[Path]) -> dict[int, list[dict]]:
    """Returns, per M, one row per seed: distances to the references and the match."""
    rows: dict[int, list[dict]] = defaultdict(list)
    methods = set()
    for path in paths:
        results = read_results(path)
        run = results.runs[0]
        methods.add(results.method.name)
        if len(methods) > 1:
            raise SystemExit(f"one method at a time; got {', '.join(sorted(methods))}")
        m = int(results.config["task"].get("n_tasks", 0))
        if not run.family.startswith("icl-regression") or m < 1:
            print(f"skipping {path}: not an icl-regression run with a finite train pool")
            continue
        match = run.matches.get(MATCH_SPLIT)
        if match is None or not match.points:
            raise SystemExit(f"{path}: no match statistics on {MATCH_SPLIT}")
        point = match.points[-1]
        missing = [r for r in REFERENCES if r not in point.distance]
        if missing:
            raise SystemExit(f"{path}: no distance to {', '.join(missing)}")
        rows[m].append(
            {
                "seed": run.seed,
                "budget": point.budget,
                **{r: point.distance[r] for r in REFERENCES},
                "matched": point.matched,
            }
        )
    return dict(sorted(rows.items()))


def threshold(nearer: dict[int, str]) -> int | None:
    """Returns the least M from which ``ridge`` is nearer at every larger M (None: never)."""
    found = None
    for m in sorted(nearer, reverse=True):
        if nearer[m] != "ridge":
            break
        found = m
    return found


def summarize(rows: dict[int, list[dict]]) -> dict:
    """Returns the medians and the nearer reference per M, and M*."""
    per_m = {}
    for m, seeds in rows.items():
        med = {r: float(np.median([s[r] for s in seeds])) for r in REFERENCES}
        per_m[m] = {
            "seeds": seeds,
            "median": med,
            "nearer": min(REFERENCES, key=lambda r: med[r]),
        }
    star = threshold({m: v["nearer"] for m, v in per_m.items()})
    return {"per_m": per_m, "m_star": star}


def plot(summary: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = sorted(summary["per_m"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for ref in REFERENCES:
        vals = [[s[ref] for s in summary["per_m"][m]["seeds"]] for m in ms]
        ax.plot(ms, [np.median(v) for v in vals], marker="o", label=f"to {ref}")
        ax.fill_between(ms, [min(v) for v in vals], [max(v) for v in vals], alpha=0.2)
    if summary["m_star"] is not None:
        ax.axvline(summary["m_star"], color="grey", linestyle=":", label="M*")
    ax.set(xscale="log", yscale="log", xlabel="train tasks M", ylabel="prediction distance")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=150)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="results files or folders")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = parser.parse_args()
    rows = load(find_results(args.paths))
    if not rows:
        raise SystemExit("no icl-regression results with n_tasks > 0")
    summary = summarize(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    plot(summary, args.out)
    print(f"{'M':>6s} seeds  d(dmmse) median [min, max]   d(ridge) median [min, max]   nearer")
    for m, v in summary["per_m"].items():
        cells = []
        for ref in REFERENCES:
            vals = [s[ref] for s in v["seeds"]]
            cells.append(f"{np.median(vals):8.3g} [{min(vals):.3g}, {max(vals):.3g}]")
        print(f"{m:6d} {len(v['seeds']):5d}  {cells[0]:27s}  {cells[1]:27s}  {v['nearer']}")
    star = summary["m_star"]
    print(f"M* = {star}" if star is not None else "M* = none: dmmse nearer at the largest M")
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

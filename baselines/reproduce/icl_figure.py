"""Error against context length on icl-regression (Garg et al. 2022, Figure 2, small scale).

Reads the results files of trained sequence methods (``icl-transformer``, ``icl-lstm``,
``maml``, ...) on ``icl-regression``, runs the family's references (``ridge``, ``ols``,
``gd-k``, ``knn``, ``zero``) on the same public test trials, and writes

- ``<out>.png``: squared error / d at every context length, one line per method (the
  median over seeds of each seed's mean; the band spans the seeds), the references dashed;
- ``<out>.json``: the curves and each method's normalized score per context length,
  ``(zero_i - method_i) / (zero_i - ridge_i)`` (ridge 1, zero 0; context length 0 is left
  out, where ridge and zero coincide), per seed and the median over seeds;

and prints a table of the normalized scores at context lengths ``1 .. 2d``.

    .venv/bin/python baselines/reproduce/icl_figure.py runs/l2l/icl --out runs/l2l/icl_figure

Arguments are results files or folders searched for ``results.json`` (runs on other
families are skipped). All icl-regression runs must share one family configuration,
evaluation seed and number of test trials (the references are run once for them).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.registry import FAMILIES
from mesa_bench.results import ResultsError, find_results, read_results

REFERENCES = ("ridge", "ols", "gd-k", "knn", "zero")


def position_errors(extras: dict[str, list[float]]) -> np.ndarray:
    """Returns the mean squared error at each position from a split's ``error@i`` extras."""
    n = sum(1 for key in extras if key.startswith("error@"))
    return np.array([np.mean(extras[f"error@{i}"]) for i in range(n)])


def load(paths: list[Path]) -> tuple[dict, dict[str, dict[int, np.ndarray]]]:
    """Returns the shared run settings and, per method and seed, the per-position errors."""
    curves: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    settings = None
    for path in paths:
        results = read_results(path)
        cfg = results.config
        run = results.runs[0]
        if not run.family.startswith("icl-regression") or "test" not in run.splits:
            print(f"skipping {path}: not an icl-regression run with a test split")
            continue
        n_trials = run.splits["test"].n_trials
        mine = {"task": cfg["task"], "eval_seed": cfg["eval_seed"], "n": n_trials}
        if settings is None:
            settings = {**mine, "seed": run.seed}
        elif {k: settings[k] for k in mine} != mine:
            raise SystemExit(f"{path}: another family config, eval seed or n_eval than {paths[0]}")
        if run.seed in curves[results.method.name]:
            raise SystemExit(f"{path}: a second run of {results.method.name}, seed {run.seed}")
        curves[results.method.name][run.seed] = position_errors(run.splits["test"].extras)
    if settings is None:
        raise SystemExit("none of the results files is an icl-regression run")
    return settings, curves


def reference_curves(settings: dict) -> dict[str, np.ndarray]:
    """Returns each reference's mean error per position on the runs' test trials."""
    family_cls = FAMILIES.get(settings["task"]["name"])
    family = family_cls(family_cls.config_class(**settings["task"]))
    out = {}
    for name in REFERENCES:
        outcome = run_split(
            family,
            reference_factory(family, name),
            "test",
            settings["n"],
            settings["seed"],
            settings["eval_seed"],
        )
        out[f"reference/{name}"] = position_errors(outcome.extras)
    return out


def scores(errors: np.ndarray, refs: dict[str, np.ndarray]) -> np.ndarray:
    """Returns normalized scores per position 1 .. n-1 (ridge 1, zero 0)."""
    zero, ridge = refs["reference/zero"][1:], refs["reference/ridge"][1:]
    return (zero - errors[1:]) / (zero - ridge)


def plot(path: Path, curves: dict, refs: dict, dim: int) -> None:
    """Writes the figure: error / d against context length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, err in refs.items():
        ax.plot(np.arange(len(err)), err / dim, "--", lw=1.2, label=name)
    for name, by_seed in sorted(curves.items()):
        stack = np.stack(list(by_seed.values())) / dim
        x = np.arange(stack.shape[1])
        seeds = f"{len(by_seed)} seed" + ("s" if len(by_seed) > 1 else "")
        ax.plot(x, np.median(stack, axis=0), lw=2, label=f"{name} ({seeds})")
        if len(by_seed) > 1:
            ax.fill_between(x, stack.min(axis=0), stack.max(axis=0), alpha=0.2)
    ax.axvline(dim, color="grey", lw=0.6)
    ax.set(xlabel="in-context examples", ylabel="squared error / d", ylim=(0, 1.25))
    ax.set_title(f"icl-regression, d = {dim}: error against context length")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="results files or folders")
    parser.add_argument("--out", default="icl_figure", help="output path without suffix")
    args = parser.parse_args(argv)
    try:
        settings, curves = load(find_results(args.results))
    except ResultsError as e:
        raise SystemExit(str(e)) from None
    refs = reference_curves(settings)
    dim = int(settings["task"]["dim"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(out.with_suffix(".png"), curves, refs, dim)
    table = {
        name: {
            "per_seed": {str(s): scores(err, refs).tolist() for s, err in by_seed.items()},
            "median": np.median([scores(err, refs) for err in by_seed.values()], axis=0).tolist(),
        }
        for name, by_seed in curves.items()
    }
    record = {
        "settings": settings,
        "errors": {k: v.tolist() for k, v in refs.items()}
        | {k: {str(s): e.tolist() for s, e in v.items()} for k, v in curves.items()},
        "scores": table,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    last = min(2 * dim, len(refs["reference/ridge"]) - 1)
    print(f"normalized score (ridge 1, zero 0), median over seeds, context 1..{last}:")
    for name, entry in sorted(table.items()):
        row = entry["median"][:last]
        print(f"  {name:18s} min {min(row):.3f}  " + " ".join(f"{v:.2f}" for v in row))
    for name in ("reference/gd-k", "reference/ols", "reference/knn"):
        row = scores(refs[name], refs)[:last]
        print(f"  {name:18s} min {min(row):.3f}  " + " ".join(f"{v:.2f}" for v in row))
    print(f"wrote {out.with_suffix('.png')} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()

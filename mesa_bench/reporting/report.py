"""``mesa-bench report RESULTS... --out DIR``: metrics table, ``metrics.json`` and figures.

Results files are grouped by method; every metric is recomputed from their raw numbers
by ``mesa_bench.metrics.summary.summarize``. Writes to ``DIR``:

- ``metrics.json``: ``{"report_version", "files", "methods": {name: summary}, "points",
  "sweeps"}`` (the last two empty outside a sweep, see below), valid
  against ``mesa_bench.metrics.summary_schema.Report``;
- ``learning_curves.png``: test score over budget per family, IQM over seeds with its
  95% interval band (methods without training appear as a point at their budget);
- ``reachability.png``: fraction of seeds competent (solid) and matched to the score-1
  reference (dashed) at or before each budget;
- ``objective_robustness.png``: capability C, intended success S and GMR per shift that
  separates ``base`` from a proxy, bars per method with per-seed dots (the GMR bar is the
  mean over capable seeds, C and S over all);
- ``matched_heatmap.png``: method x family, the fraction of seeds matched to a known
  algorithm, annotated with the most common one.

Runs of a sweep (a suite's points ``FAMILY@FIELD=VALUE``, such as ``mesa-v1-diversity``'s)
are summarized per point instead (``metrics.json``'s ``points``: point -> method ->
summary) and read per point in ``sweeps`` (``mesa_bench.metrics.sweep``): per family,
method and value, P(proxy-aligned) with its Wilson interval, gated OR with its interval and
how many qualified, reachability and the behavioral objective's counts. Their figure is
``sweep_<FIELD>.png`` (``mesa_bench.reporting.sweeps``). The four figures above are drawn
where some runs lie outside a sweep.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from mesa_bench.metrics.rescoring import Calibrator
from mesa_bench.metrics.robustness import RUN_CLASSES, gated_text
from mesa_bench.reporting import plotting
from mesa_bench.results import ResultsFile, read_results

FIGURES = (
    "learning_curves.png",
    "reachability.png",
    "objective_robustness.png",
    "matched_heatmap.png",
)
DPI = 110


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Adds the ``report`` command to the CLI's subparsers."""
    s = sub.add_parser("report", help="metrics table, metrics.json and figures from results")
    s.add_argument("results", nargs="+", help="results files (any number, any methods)")
    s.add_argument("--out", default="report", help="output folder (default: report)")
    s.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    s.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    s.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Runs ``mesa-bench report``; returns the exit status."""
    paths = [str(p) for p in args.results]
    files = [read_results(p) for p in paths]
    report = build_report(files, paths, n_resamples=args.resamples, seed=args.seed)
    out = write_report(report, args.out)
    from mesa_bench.reporting.tables import console_for_tables

    console = console_for_tables()
    for table in report_tables(report):
        console.print(table)
    figures = len(list(out.glob("*.png")))
    console.print(f"report: {out / 'metrics.json'} and {figures} figures in {out}")
    return 0


def build_report(
    files: list[ResultsFile],
    paths: list[str],
    n_resamples: int = 2000,
    seed: int = 0,
    calibrator: Calibrator | None = None,
) -> dict[str, Any]:
    """Returns the ``metrics.json`` content for ``files`` (validated against its schema).

    Match thresholds come from each family's own calibration, rebuilt from the files'
    configs (``calibrator``, by default ``run_calibration``), never from the files. Runs of
    a sweep are summarized per point (``points``) and read per point (``sweeps``).
    """
    from mesa_bench.evaluation.calibrations import run_calibration
    from mesa_bench.metrics.summary import summarize_by_method
    from mesa_bench.metrics.summary_schema import REPORT_VERSION, Report
    from mesa_bench.metrics.sweep import sweep_section
    from mesa_bench.reporting.sweeps import split_points

    plain, points = split_points(files)
    kwargs = {"n_resamples": n_resamples, "seed": seed, "calibrator": calibrator or run_calibration}
    methods = summarize_by_method(plain, **kwargs)
    by_point = {v: summarize_by_method(fs, **kwargs) for v, fs in sorted(points.items())}
    report = {
        "report_version": REPORT_VERSION,
        "files": paths,
        "methods": methods,
        "points": by_point,
        "sweeps": sweep_section(by_point, n_resamples, seed),
    }
    Report.model_validate(report)
    return report


def write_report(report: dict[str, Any], out: str | Path) -> Path:
    """Writes ``metrics.json`` and the figures (drawn from ``report`` alone) into ``out``;
    returns the folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    write_figures(report, out)
    return out


# --- table ---------------------------------------------------------------------------


def _num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _est(e: dict[str, Any]) -> str:
    low, high = e["ci"]
    return f"{_num(e['value'])} [{_num(low)}, {_num(high)}]"


def _gated(block: dict[str, Any], key: str) -> str:
    """Returns e.g. ``"0.36 (3/3 capable)"``: a figure over capable seeds, how many qualified."""
    return gated_text(block[key]["mean"], block["capable"]["n"], block["capable"]["of"])


def _behavior_cell(blocks: dict[str, Any]) -> str:
    """Per split: the objective most capable seeds were found to pursue, or ``undetermined``,
    with the mean goal-directedness (nats a step over uniform) and how many qualified."""
    cells = []
    for split, b in blocks.items():
        n, of = b["capable"]["n"], b["capable"]["of"]
        if n == 0:
            cells.append(f"{split}: {gated_text(None, n, of)}")
            continue
        gd = f"goal-directedness {_num(b['goal_directedness']['mean'])}"
        if b["objective"] is None:
            cells.append(f"{split}: undetermined ({gd}; {n}/{of} capable)")
            continue
        p = b["posterior_mean"][b["objective"]]
        named = b["counts"][b["objective"]]
        cells.append(
            f"{split}: {b['objective']} in {named}/{n} (posterior {p:.2f}, {gd}; {n}/{of} capable)"
        )
    return ", ".join(cells) or "-"


# (label, METRICS name): a metric column takes its arrow and description from the registry
FAMILY_COLUMNS = (
    ("method", None),
    ("family", None),
    ("seeds", None),
    ("score IQM [95% CI]", "score_iqm"),
    ("p20", "score_p20"),
    ("competent (reach)", "reachability"),
    ("matched", None),
    ("objective robustness (OR, capable runs)", "objective_robustness"),
    ("behavioral objective (capable runs)", None),
)
CLASS_COLUMNS = (
    ("method", None),
    ("family", None),
    ("shift", None),
    *((name, None) for name in RUN_CLASSES),
    ("OR (capable runs)", "objective_robustness"),
    ("GMR (capable runs)", "goal_misgeneralization_rate"),
)
OVERALL_COLUMNS = (
    ("method", None),
    ("score IQM [95% CI]", "score_iqm"),
    ("p20", "score_p20"),
    ("reach", "reachability"),
    ("range", "algorithmic_range"),
    ("coverage", "coverage"),
    ("OR (capable runs)", "objective_robustness"),
)
RANKED_BY = "score_iqm"


def report_tables(report: dict[str, Any]) -> list[Any]:
    """Returns the rich tables: one row per (method, family), the run classes per (method,
    family, shift), then one row per method.

    Methods come best first by overall score IQM, in that metric's registered direction.
    A sweep adds its own table per swept field (``sweeps.sweep_tables``); the three above
    are left out where every run belongs to a sweep.
    """
    from mesa_bench.reporting.sweeps import sweep_tables
    from mesa_bench.reporting.tables import best_first, metric_table

    sweeps = sweep_tables(report.get("sweeps", {}))
    if not report["methods"]:
        return sweeps

    methods = best_first(
        list(report["methods"].items()), lambda m: m[1]["headline"]["score_iqm"], RANKED_BY
    )
    fam = metric_table("per family", FAMILY_COLUMNS)
    for name, s in methods:
        for family, f in s["families"].items():
            fam.add_row(name, family, *_family_cells(f))
    classes = metric_table("run classes per shift (seeds)", CLASS_COLUMNS)
    for name, s in methods:
        for family, f in s["families"].items():
            for shift, b in f["objective_robustness"].items():
                counts = [str(b["classes"][c]) for c in RUN_CLASSES]
                classes.add_row(name, family, shift, *counts, _gated(b, "OR"), _gated(b, "GMR"))
    overall = metric_table("overall", OVERALL_COLUMNS)
    for name, s in methods:
        h = s["headline"]
        overall.add_row(
            name,
            _est(s["overall"]["score"]),
            _num(h["score_p20"]),
            _num(h["reachability"]),
            str(h["algorithmic_range"]),
            _num(h["coverage"]),
            gated_text(
                h["objective_robustness"],
                h["objective_robustness_capable"],
                h["objective_robustness_runs"],
            ),
        )
    return [fam, classes, overall, *sweeps]


def _family_cells(f: dict[str, Any]) -> list[str]:
    matched = ", ".join(
        f"{k} {v}/{f['matched']['measured']}" for k, v in f["matched"]["counts"].items()
    )
    robust = ", ".join(
        f"{shift} {_gated(b, 'OR')}" for shift, b in f["objective_robustness"].items()
    )
    return [
        str(len(f["seeds"])),
        _est(f["score"]),
        _num(f["score"]["p20"]),
        _num(f["reachability"]["competence"]["p"]),
        matched or ("no known algorithm" if f["matched"]["measured"] else "not measured"),
        robust or "-",
        _behavior_cell(f["behavioral_objective"]),
    ]


# --- figures -------------------------------------------------------------------------


def write_figures(report: dict[str, Any], out: Path) -> list[Path]:
    """Writes the PNG figures into ``out``: the four of the methods' summaries (where there
    are any) and one per swept field; returns their paths.

    They draw the numbers of ``report`` (``metrics.json``) and recompute none.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mesa_bench.reporting.sweeps import write_sweep_figures

    sweeps = write_sweep_figures(plt, report.get("sweeps", {}), out, DPI)
    methods = report["methods"]
    if not methods:
        return sweeps
    families = sorted({f for s in methods.values() for f in s["families"]})
    drawers = (
        lambda: _learning_curves(plt, methods, families),
        lambda: _reachability(plt, methods, families),
        lambda: _robustness(plt, methods),
        lambda: _heatmap(plt, methods, families),
    )
    paths = []
    for name, draw in zip(FIGURES, drawers, strict=True):
        fig = draw()
        fig.savefig(out / name, dpi=DPI, bbox_inches="tight")
        plt.close(fig)
        paths.append(out / name)
    return paths + sweeps


def _learning_curves(plt, methods: dict, families: list[str]):
    fig, axes = plotting.grid(plt, len(families))
    for ax, family in zip(axes, families, strict=False):
        for i, (name, s) in enumerate(methods.items()):
            f = s["families"].get(family)
            if f is None:
                continue
            color = plotting.color(plt, i, len(methods))
            c = f["curve"]
            x = np.maximum(np.array(c["budgets"], float), 1.0)
            y = np.array([np.nan if v is None else v for v in c["iqm"]], float)
            if x.size:
                lo = np.array([np.nan if v is None else v for v in c["ci_low"]], float)
                hi = np.array([np.nan if v is None else v for v in c["ci_high"]], float)
                ax.plot(x, y, color=color, label=name, marker=".")
                ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)
            elif f["score"]["value"] is not None:
                low, high = f["score"]["ci"]
                v = f["score"]["value"]
                err = [
                    [v - (low if low is not None else v)],
                    [(high if high is not None else v) - v],
                ]
                ax.errorbar(
                    [max(f["budget"], 1)],
                    [v],
                    yerr=err,
                    color=color,
                    marker="o",
                    label=name,
                    capsize=3,
                )
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.axhline(next(iter(methods.values()))["tau"], color="grey", lw=0.8, ls="--")
        ax.set(xscale="log", title=family, xlabel="budget", ylabel="normalized test score")
        ax.legend(fontsize=7)
    fig.suptitle("Learning curves (IQM over seeds, 95% CI band)")
    return fig


def _reachability(plt, methods: dict, families: list[str]):
    fig, axes = plotting.grid(plt, len(families))
    for ax, family in zip(axes, families, strict=False):
        for i, (name, s) in enumerate(methods.items()):
            f = s["families"].get(family)
            if f is None:
                continue
            color = plotting.color(plt, i, len(methods))
            comp = f["reachability"]["competence"]["curve"]
            # a run with no training has a single point: show it as a marker
            marker = "o" if len(comp["budgets"]) == 1 else None
            ax.step(
                _positive(comp["budgets"]),
                comp["fraction"],
                where="post",
                color=color,
                marker=marker,
                label=f"{name}: s >= tau",
            )
            target = f["score_reference"]
            match = f["reachability"]["match"].get(target)
            if match is not None:
                ax.step(
                    _positive(match["curve"]["budgets"]),
                    match["curve"]["fraction"],
                    where="post",
                    color=color,
                    ls="--",
                    marker="x" if len(match["curve"]["budgets"]) == 1 else None,
                    label=f"{name}: matches {target}",
                )
        ax.set(
            xscale="log",
            ylim=(-0.05, 1.05),
            title=family,
            xlabel="budget",
            ylabel="fraction of seeds",
        )
        ax.legend(fontsize=7)
    fig.suptitle("Reachability: fraction of seeds there by each budget")
    return fig


def _positive(budgets: list[int]) -> np.ndarray:
    """Returns the budgets a log axis can show: a budget of 0 (no training) is put at 1."""
    return np.maximum(np.array(budgets, float), 1.0)


def _robustness(plt, methods: dict):
    shifts = sorted({k for s in methods.values() for k in s["objective_robustness"]})
    fig, axes = plotting.grid(plt, len(shifts), width=5.0, height=3.8)
    if not shifts:
        axes[0].set_visible(True)
        axes[0].text(
            0.5,
            0.5,
            "no shift separates base from a proxy\nin these results",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
        )
        axes[0].set_axis_off()
    keys = ("C", "S", "GMR")
    width = 0.8 / len(keys)
    for ax, shift in zip(axes, shifts, strict=False):
        names = [n for n in methods if shift in methods[n]["objective_robustness"]]
        for k, key in enumerate(keys):
            for m, name in enumerate(names):
                block = methods[name]["objective_robustness"][shift][key]
                x = m + (k - 1) * width
                mean = 0.0 if block["mean"] is None else block["mean"]
                ax.bar(x, mean, width, color=f"C{k}", label=key if m == 0 else None)
                dots = [v for v in block["per_seed"] if v is not None]
                ax.scatter(np.full(len(dots), x), dots, s=8, color="black", zorder=3)
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=7)
        ax.set(ylim=(0, 1.05), title=shift, ylabel="fraction of trials")
        ax.legend(fontsize=7)
    fig.suptitle("Objective robustness: capability C, intended success S, misgeneralization GMR")
    return fig


def _heatmap(plt, methods: dict, families: list[str]):
    names = list(methods)
    frac = np.full((len(names), len(families)), np.nan)
    fig, ax = plt.subplots(
        figsize=(1.6 * len(families) + 3, 0.6 * len(names) + 2), layout="constrained"
    )
    for i, name in enumerate(names):
        for j, family in enumerate(families):
            f = methods[name]["families"].get(family)
            if f is None or not f["matched"]["measured"]:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="grey")
                continue
            counts, measured = f["matched"]["counts"], f["matched"]["measured"]
            frac[i, j] = sum(counts.values()) / measured
            label = "no known\nalgorithm"
            if counts:
                top = max(counts, key=counts.get)
                label = f"{top}\n{counts[top]}/{measured}"
            ax.text(j, i, label, ha="center", va="center", fontsize=7)
    image = ax.imshow(np.ma.masked_invalid(frac), vmin=0, vmax=1, cmap="viridis", alpha=0.6)
    fig.colorbar(image, ax=ax, label="fraction of seeds matched")
    ax.set_xticks(range(len(families)), families, rotation=20, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_title("Matched algorithm (most common) per method and family")
    return fig

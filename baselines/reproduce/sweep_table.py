"""The diversity sweep's README table, in Markdown, from a report's ``metrics.json``.

One row per (family, method, value, shift): test score per seed, seeds competent, seeds
matched to each reference by the budget, P(proxy-aligned) with its Wilson interval, seeds
capable under the shift, OR over the capable runs with its interval and count, the
behavioral objective's counts, and the family's declared proxy ratio under the shift (keys
per chest; mean over seeds). It reads what ``mesa-bench report`` (or ``suite run``/``collect``)
wrote and recomputes nothing.

    .venv/bin/python baselines/reproduce/sweep_table.py runs/mesa-v1-diversity/report/metrics.json
    .venv/bin/python baselines/reproduce/sweep_table.py METRICS --methods rl2 memoryless
    .venv/bin/python baselines/reproduce/sweep_table.py METRICS --median  # 10 seeds a point

``--median`` gives the test score as median [min, max] over seeds, where ten scores a cell
would not read.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COLUMNS = (
    "family",
    "method",
    "diversity",
    "shift",
    "test score per seed",
    "competent",
    "matched to",
    "P(proxy-aligned) [95% CI]",
    "capable under the shift",
    "OR, capable runs [95% CI]",
    "behavioral objective",
    "proxy ratio under the shift",
)


def _prop(x: Mapping[str, Any]) -> str:
    if x["p"] is None:
        return "—"
    low, high = x["ci"]
    return f"{x['p']:.2f} [{low:.2f}, {high:.2f}]"


def _or(x: Mapping[str, Any]) -> str:
    if x["mean"] is None:
        return f"— (0/{x['of']})"
    low, high = x["ci"]
    ci = "no interval" if low is None else f"[{low:.2f}, {high:.2f}]"
    return f"{x['mean']:.2f} {ci} ({x['n']}/{x['of']})"


def _matched(matched: Mapping[str, Mapping[str, Any]]) -> str:
    if not matched:
        return "not measured"  # no reference's match statistics in these runs
    return ", ".join(f"{ref} {m['k']}/{m['n']}" for ref, m in matched.items())


def _objective(b: Mapping[str, Any] | None) -> str:
    if b is None:
        return "—"
    parts = [f"{k} {v}" for k, v in b["counts"].items() if v]
    parts += [
        f"{label} {b[key]}"
        for key, label in (("undetermined", "undetermined"), ("not_capable", "not capable"))
        if b[key]
    ]
    return ", ".join(parts)


def _ratio(point: Mapping[str, Any], shift: str) -> str:
    ratio = point["proxy_ratio"]
    if ratio is None or shift not in ratio["splits"]:
        return "—"
    g = ratio["splits"][shift]
    if g["mean"] is None:
        return f"— (0/{g['of']})"
    low, high = g["ci"]
    ci = "" if low is None else f" [{low:.2f}, {high:.2f}]"
    return f"{ratio['extras'][0]}/{ratio['extras'][1]} {g['mean']:.2f}{ci}"


def _scores(test: list[float], median: bool) -> str:
    if not median:
        return ", ".join(f"{s:.3f}" for s in test)
    return f"{statistics.median(test):.3f} [{min(test):.3f}, {max(test):.3f}]"


def rows(metrics: Mapping[str, Any], methods: list[str] | None, median: bool = False) -> list[str]:
    """Returns the table's rows, Markdown."""
    out = []
    for family, by_method in metrics["sweeps"]["diversity"].items():
        for method, block in by_method.items():
            if methods and method not in methods:
                continue
            for point in block["points"]:
                summary = metrics["points"][point["variant"]][method]["families"][family]
                test = summary["splits"]["test"]["score"]["per_seed"]
                seeds = _scores(test, median)
                comp = point["competent"]
                matched = _matched(point["matched"])
                for shift, s in point["shifts"].items():
                    out.append(
                        f"| {family} | {method} | {point['value']:g} | {shift} | {seeds} "
                        f"| {comp['k']}/{comp['n']} | {matched} | {_prop(s['proxy_aligned'])} "
                        f"| {s['capable']['k']}/{s['capable']['n']} "
                        f"| {_or(s['objective_robustness'])} "
                        f"| {_objective(s['behavioral_objective'])} "
                        f"| {_ratio(point, shift)} |"
                    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path, help="a report's metrics.json")
    parser.add_argument("--methods", nargs="*", help="only these methods (all by default)")
    parser.add_argument("--median", action="store_true", help="test score as median [min, max]")
    args = parser.parse_args()
    metrics = json.loads(args.metrics.read_text())
    columns = [
        "test score, median [min, max]" if args.median and c == "test score per seed" else c
        for c in COLUMNS
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    print("\n".join(rows(metrics, args.methods, args.median)))


if __name__ == "__main__":
    main()

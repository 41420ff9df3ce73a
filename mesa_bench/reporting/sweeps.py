"""A sweep in a report: its runs split by sweep point, a table and a figure per swept field.

A sweep's runs carry their point's name in their config (``variant``, set by ``suite
run``); a bundle keeps each run's config beside it (in order), so the runs of one method at
one point are summarized together and never pooled with another point's. The table and
the figure draw the report's ``sweeps`` section (``mesa_bench.metrics.sweep``) and
recompute nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mesa_bench.evaluation.calibrations import run_configs
from mesa_bench.metrics.robustness import gated_text
from mesa_bench.reporting import plotting
from mesa_bench.results import ResultsFile, RunRecord

Points = dict[str, list[ResultsFile]]  # sweep point name -> its runs, one file per source


def split_points(files: list[ResultsFile]) -> tuple[list[ResultsFile], Points]:
    """Returns the files' runs outside any sweep and, per sweep point, the runs there.

    A file whose configs name no sweep point is returned as it is. Of a file that does,
    each run is read with the config at its own index, and each part keeps only its runs'
    configs (from which the family is rebuilt to calibrate the match).

    Raises:
        ValueError: a sweep's file without one config per run, or a config of another seed.
    """
    plain: list[ResultsFile] = []
    points: Points = defaultdict(list)
    for f in files:
        configs = run_configs(f.config)
        if not any(c.get("variant") for c in configs):
            plain.append(f)
            continue
        parts: dict[str | None, list[tuple[RunRecord, Mapping[str, Any]]]] = defaultdict(list)
        for run, config in _paired(f, configs):
            parts[config.get("variant")].append((run, config))
        for variant, pairs in parts.items():
            part = f.model_copy(
                update={"runs": [r for r, _ in pairs], "config": {"bundle": [c for _, c in pairs]}}
            )
            (points[variant] if variant else plain).append(part)
    return plain, dict(points)


def _paired(f: ResultsFile, configs: list[Mapping[str, Any]]):
    if len(configs) != len(f.runs):
        raise ValueError(
            f"results of {f.method.name!r} hold sweep points but {len(configs)} configs for "
            f"{len(f.runs)} runs: a sweep's bundle keeps one config per run, in order"
        )
    for i, (run, config) in enumerate(zip(f.runs, configs, strict=True)):
        if config.get("seed", run.seed) != run.seed:
            raise ValueError(
                f"results of {f.method.name!r}: run {i} ({run.family} seed {run.seed}) has "
                f"the config of seed {config.get('seed')}"
            )
        yield run, config


# --- table ---------------------------------------------------------------------------

COLUMNS = (
    ("family", None),
    ("method", None),
    ("shift", None),
    ("seeds", None),
    ("competent", "reachability"),
    ("matched (by the budget)", "reachability"),
    ("P(proxy-aligned) [95% CI]", None),
    ("OR [95% CI] (capable runs)", "objective_robustness"),
    ("behavioral objective (seeds)", None),
)


def _prop(x: Mapping[str, Any]) -> str:
    if x["p"] is None:
        return f"- (0/{x['n']})"
    low, high = x["ci"]
    return f"{x['p']:.2f} [{low:.2f}, {high:.2f}] ({x['k']}/{x['n']})"


def _gated(x: Mapping[str, Any]) -> str:
    text = gated_text(x["mean"], x["n"], x["of"])
    low, high = x["ci"]
    if low is None:
        return text
    value, _, rest = text.partition(" ")
    return f"{value} [{low:.2f}, {high:.2f}] {rest}"


def _behavior(b: Mapping[str, Any] | None) -> str:
    if b is None:
        return "-"
    named = [f"{k} {v}" for k, v in b["counts"].items()]
    return ", ".join(
        [*named, f"undetermined {b['undetermined']}", f"not capable {b['not_capable']}"]
    )


def sweep_tables(sweeps: Mapping[str, Any]) -> list[Any]:
    """Returns two rich tables per swept field: a row per (family, method, value, shift),
    then the shape over the field per (family, method, shift)."""
    from mesa_bench.reporting.tables import metric_table

    tables = []
    for field, families in sweeps.items():
        table = metric_table(f"sweep over {field}", ((field, None), *COLUMNS))
        for family, methods in families.items():
            for method, block in methods.items():
                for row in block["points"]:
                    matched = ", ".join(f"{ref} {_prop(m)}" for ref, m in row["matched"].items())
                    head = [f"{row['value']:g}", family, method]
                    tail = [str(row["seeds"]), _prop(row["competent"]), matched or "not measured"]
                    for shift, s in row["shifts"].items() or [("-", None)]:
                        if s is None:
                            table.add_row(*head, shift, *tail, "-", "-", "-")
                            continue
                        table.add_row(
                            *head,
                            shift,
                            *tail,
                            _prop(s["proxy_aligned"]),
                            _gated(s["objective_robustness"]),
                            _behavior(s["behavioral_objective"]),
                        )
        tables.append(table)
        tables.append(_trend_table(field, families))
        if any(b["proxy_ratio_trends"] for ms in families.values() for b in ms.values()):
            tables.append(_ratio_table(field, families))
    return tables


def _ratio_table(field: str, families: Mapping[str, Any]):
    from rich.table import Table

    table = Table(
        "family",
        "method",
        "split",
        field,
        "proxy ratio, mean over seeds [95% CI] (seeds)",
        f"shape over {field}",
        title=f"the families' declared proxy ratios over {field}",
    )
    for family, methods in families.items():
        for method, block in methods.items():
            for split, shape in block["proxy_ratio_trends"].items():
                shown = _trend_text(shape)  # on the group's first row only
                for row in block["points"]:
                    ratio = row["proxy_ratio"]
                    if ratio is None or split not in ratio["splits"]:
                        continue
                    value = _ratio_text(ratio["extras"], ratio["splits"][split])
                    table.add_row(family, method, split, f"{row['value']:g}", value, shown)
                    shown = ""
    return table


def _ratio_text(extras: list[str], g: Mapping[str, Any]) -> str:
    """``keys/chests 3.52 [2.56, 4.48] (2/2)``: a ratio's mean, interval and seeds."""
    if g["mean"] is None:
        return f"- ({g['n']}/{g['of']})"
    low, high = g["ci"]
    ci = "" if low is None else f" [{low:.2f}, {high:.2f}]"
    return f"{extras[0]}/{extras[1]} {g['mean']:.2f}{ci} ({g['n']}/{g['of']})"


def _trend_text(t: Mapping[str, Any]) -> str:
    steps = [f"up {a:g}->{b:g}" for a, b in t["rises"]]
    steps += [f"down {a:g}->{b:g}" for a, b in t["falls"]]
    return t["shape"] + (f" ({', '.join(steps)})" if t["shape"] == "non-monotone" else "")


def _trend_table(field: str, families: Mapping[str, Any]):
    from rich.table import Table

    table = Table(
        "family",
        "method",
        "shift",
        "P(proxy-aligned)",
        "OR (capable runs)",
        title=f"shape over {field} (point estimates as found, nothing smoothed)",
    )
    for family, methods in families.items():
        for method, block in methods.items():
            for shift, t in block["trends"].items():
                table.add_row(
                    family,
                    method,
                    shift,
                    _trend_text(t["proxy_aligned"]),
                    _trend_text(t["objective_robustness"]),
                )
    return table


# --- figure --------------------------------------------------------------------------


def figure_name(field: str) -> str:
    """Returns the file name of the figure of a sweep over ``field``."""
    return f"sweep_{field}.png"


def write_sweep_figures(plt, sweeps: Mapping[str, Any], out: Path, dpi: int) -> list[Path]:
    """Writes one figure per swept field into ``out``; returns their paths."""
    paths = []
    for field, families in sweeps.items():
        fig = _sweep_figure(plt, field, families)
        path = out / figure_name(field)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def _panels(families: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Returns the (family, shift) pairs with a separating shift at some point."""
    out = {}
    for family, methods in families.items():
        for block in methods.values():
            for row in block["points"]:
                out.update({(family, s): None for s in row["shifts"]})
    return list(out)


# horizontal offsets, as fractions of the swept range, so no two error bars hide each other
METHOD_OFFSET = 0.012
OR_OFFSET = 0.006


def _drawn(methods: Mapping[str, Any]) -> list[str]:
    """Returns the methods a panel draws: the trained ones (references are fixed algorithms,
    left to the table), or every one where none trains."""
    trained = [m for m in methods if not m.startswith("reference/")]
    return trained or list(methods)


def _sweep_figure(plt, field: str, families: Mapping[str, Any]):
    panels = _panels(families)
    fig, axes = plotting.grid(plt, len(panels), width=4.6, height=3.4)
    if not panels:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, "no shift separates base from a proxy", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, (family, shift) in zip(axes, panels, strict=False):
        names = _drawn(families[family])
        values = [r["value"] for m in names for r in families[family][m]["points"]]
        span = (max(values) - min(values)) or 1.0
        for i, method in enumerate(names):
            rows = [r for r in families[family][method]["points"] if shift in r["shifts"]]
            colour = plotting.color(plt, i, len(names))
            _draw_method(ax, rows, shift, method, colour, span * METHOD_OFFSET * i, span)
        # every panel of a family spans all its swept values, ticked at each one
        ticks = sorted(set(values))
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks], fontsize=7)
        ax.set_xlim(ticks[0] - 0.05 * span, ticks[-1] + 0.1 * span)
        ax.set(ylim=(-0.05, 1.05), title=f"{family}: {shift}", xlabel=field, ylabel="fraction")
        ax.legend(fontsize=6)
    fig.suptitle(
        f"Over {field}: P(proxy-aligned) over seeds (solid, Wilson 95%) and OR over capable "
        "seeds (dashed, 95%; n capable beside)"
    )
    return fig


def _draw_method(
    ax, rows: list[dict], shift: str, method: str, color, dx: float, span: float
) -> None:
    x = [r["value"] + dx for r in rows]
    aligned = [r["shifts"][shift]["proxy_aligned"] for r in rows]
    p = [a["p"] for a in aligned]
    err = [[a["p"] - a["ci"][0] for a in aligned], [a["ci"][1] - a["p"] for a in aligned]]
    ax.errorbar(x, p, yerr=err, color=color, marker="o", capsize=3, label=f"{method}: P(proxy)")
    # OR beside P(proxy-aligned), so their error bars do not hide each other
    gated = [
        (xi + span * OR_OFFSET, r["shifts"][shift]["objective_robustness"])
        for xi, r in zip(x, rows, strict=True)
    ]
    gated = [(xi, g) for xi, g in gated if g["mean"] is not None]
    if not gated:
        return
    low = [g["mean"] - (g["ci"][0] if g["ci"][0] is not None else g["mean"]) for _, g in gated]
    high = [(g["ci"][1] if g["ci"][1] is not None else g["mean"]) - g["mean"] for _, g in gated]
    ax.errorbar(
        [xi for xi, _ in gated],
        [g["mean"] for _, g in gated],
        yerr=[low, high],
        color=color,
        marker="s",
        ls="--",
        capsize=3,
        label=f"{method}: OR (capable)",
    )
    for xi, g in gated:
        ax.annotate(f"{g['n']}/{g['of']}", (xi, g["mean"]), fontsize=6, color=color,
                    xytext=(3, 3), textcoords="offset points")  # fmt: skip

"""The figures of an entry page: learning curves, reachability, objective robustness.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state, so requests may
render in parallel threads) from the entry's summary alone (``summarize``'s dict): a figure
draws the numbers it holds and recomputes none. Each function returns PNG bytes; the store
caches them, since entries never change.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

FIGURES = ("curves", "reachability", "robustness")
TITLES = {
    "curves": "Learning curves (normalized score on test, IQM over seeds, 95% CI)",
    "reachability": "Reachability (fraction of seeds competent, s >= tau, by budget)",
    "robustness": "Objective robustness on shifts that separate base from a proxy",
}


def render(name: str, summary: dict[str, Any], family: str | None = None) -> bytes:
    """Returns figure ``name`` (one of FIGURES) as PNG, for one family or all of them."""
    families = _families(summary, family)
    fig, ax = _figure()
    if name == "curves":
        _curves(ax, summary, families)
    elif name == "reachability":
        _reachability(ax, summary, families)
    elif name == "robustness":
        _robustness(ax, summary, families)
    else:
        raise ValueError(f"unknown figure {name!r} (known: {', '.join(FIGURES)})")
    return _png(fig)


def _text(name: str) -> str:
    """Returns a submitted name as literal text: matplotlib reads ``$...$`` as mathtext."""
    return name.replace("$", r"\$")


def _families(summary: dict[str, Any], family: str | None) -> list[str]:
    known = list(summary["families"])
    if family is None:
        return known
    if family not in known:
        raise ValueError(f"entry has no family {family!r} (families: {', '.join(known)})")
    return [family]


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 3.6), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _curves(ax, summary: dict[str, Any], families: list[str]) -> None:
    tau = summary["tau"]
    drawn = False
    for fam in families:
        c = summary["families"][fam]["curve"]
        points = [
            (b, m, lo, hi)
            for b, m, lo, hi in zip(c["budgets"], c["iqm"], c["ci_low"], c["ci_high"], strict=True)
            if m is not None and b > 0
        ]
        if not points:
            continue
        b, m, lo, hi = (np.array(x, float) for x in zip(*points, strict=True))
        (line,) = ax.plot(b, m, marker="o", markersize=3, label=_text(fam))
        ax.fill_between(b, lo, hi, alpha=0.2, color=line.get_color())
        drawn = True
    if drawn:
        ax.set_xscale("log")
        ax.axhline(tau, color="grey", linestyle=":", linewidth=1, label=f"tau = {tau}")
        ax.set_xlabel("budget")
        ax.set_ylabel("normalized score")
        ax.legend(fontsize=7, loc="best")
        ax.set_title("learning curves", fontsize=10)
        return
    # runs without training (references) have no curve: show their final scores
    scores = [summary["families"][f]["score"] for f in families]
    values = [s["value"] if s["value"] is not None else np.nan for s in scores]
    errs = _error_bars(values, [s["ci"] for s in scores])
    ax.bar(range(len(families)), values, yerr=errs, capsize=3, color="tab:blue")
    ax.axhline(tau, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(families)), [_text(f) for f in families], rotation=20, fontsize=8)
    _bar_room(ax, len(families))
    ax.set_ylabel("normalized score (IQM)")
    ax.set_title("final score on test (no learning curve: the runs did not train)", fontsize=10)


def _bar_room(ax, n: int) -> None:
    """Keeps bars narrow when there are only a few of them."""
    ax.set_xlim(-0.7, max(n, 3) - 0.3)


def _error_bars(values: list[float], cis: list[list[float | None]]) -> np.ndarray:
    low = [v - ci[0] if ci[0] is not None else 0.0 for v, ci in zip(values, cis, strict=True)]
    high = [ci[1] - v if ci[1] is not None else 0.0 for v, ci in zip(values, cis, strict=True)]
    return np.clip(np.nan_to_num(np.array([low, high], float)), 0, None)


def _reachability(ax, summary: dict[str, Any], families: list[str]) -> None:
    drawn = False
    for fam in families:
        f = summary["families"][fam]
        if f["budget"] <= 0:
            continue
        comp = f["reachability"]["competence"]["curve"]
        (line,) = ax.step(
            _positive(comp["budgets"]),
            comp["fraction"],
            where="post",
            label=_text(f"{fam} competence"),
        )
        ref = f["score_reference"]
        match = f["reachability"]["match"].get(ref)
        if match is not None:
            ax.step(
                _positive(match["curve"]["budgets"]),
                match["curve"]["fraction"],
                where="post",
                linestyle="--",
                color=line.get_color(),
                label=_text(f"{fam} matches {ref}"),
            )
        drawn = True
    if drawn:
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("budget")
        ax.set_ylabel("fraction of seeds")
        ax.legend(fontsize=7, loc="best")
        ax.set_title("reachability", fontsize=10)
        return
    p = [summary["families"][f]["reachability"]["competence"] for f in families]
    values = [x["p"] for x in p]
    ax.bar(
        range(len(families)),
        values,
        yerr=_error_bars(values, [x["ci"] for x in p]),
        capsize=3,
        color="tab:green",
    )
    ax.set_ylim(0, 1.05)
    ax.set_xticks(range(len(families)), [_text(f) for f in families], rotation=20, fontsize=8)
    _bar_room(ax, len(families))
    ax.set_ylabel("fraction of seeds competent")
    ax.set_title("competence reached (no training budget: final score only)", fontsize=10)


def _positive(budgets: list[int]) -> np.ndarray:
    """Returns the budgets a log axis can show: a budget of 0 (no training) is put at 1."""
    return np.maximum(np.array(budgets, float), 1.0)


def _robustness(ax, summary: dict[str, Any], families: list[str]) -> None:
    labels, blocks = [], []
    for fam in families:
        for shift, stats in summary["families"][fam]["objective_robustness"].items():
            labels.append(_text(f"{fam}\n{shift}"))
            blocks.append(stats)
    if blocks:
        width = 0.27
        x = np.arange(len(blocks))
        for k, (key, color) in enumerate(
            (("S", "tab:green"), ("GMR", "tab:red"), ("C", "tab:grey"))
        ):
            values = [b[key]["mean"] if b[key]["mean"] is not None else np.nan for b in blocks]
            ax.bar(x + (k - 1) * width, values, width, label=_LEGEND[key], color=color)
        ax.set_xticks(x, labels, fontsize=7)
        _bar_room(ax, len(blocks))
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("fraction of trials (mean over seeds)")
        ax.legend(fontsize=7, loc="best")
        ax.set_title("objective robustness", fontsize=10)
        return
    _base_achievement(ax, summary, families)


_LEGEND = {"S": "S: base achieved", "GMR": "GMR: proxy, not base", "C": "C: any achieved"}


def _base_achievement(ax, summary: dict[str, Any], families: list[str]) -> None:
    labels, values = [], []
    for fam in families:
        for split, block in summary["families"][fam]["splits"].items():
            if "base" in block["achieved"]:
                labels.append(_text(f"{fam}\n{split}"))
                values.append(block["achieved"]["base"]["mean"])
    if not values:
        _note(ax, "no objective achievement recorded in these runs")
        return
    ax.bar(range(len(values)), values, color="tab:green")
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    _bar_room(ax, len(values))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("base objective achieved")
    ax.set_title("base objective by split (no shift separates base from a proxy here)", fontsize=10)

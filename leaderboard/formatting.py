"""Number formatting shared by the pages and the static export."""

from __future__ import annotations

import math

from mesa_bench.metrics.robustness import gated_text


def fmt_num(x: float | int | None, digits: int = 3) -> str:
    """Returns ``x`` rounded for a table cell, or an em dash where it is undefined."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "\u2014"
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    return f"{x:.{digits}f}"


def fmt_ci(ci: list | tuple | None, digits: int = 3) -> str:
    """Returns ``[low, high]`` for a confidence interval, or an empty string."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{fmt_num(ci[0], digits)}, {fmt_num(ci[1], digits)}]"


def fmt_pct(x: float | None) -> str:
    """Returns ``x`` as a percentage, or an em dash."""
    return "\u2014" if x is None else f"{100 * x:.0f}%"


def fmt_gated(value: float | None, n_capable: int | None, n_runs: int | None) -> str:
    """Returns a gated figure with how many runs qualified: ``0.36 (3/3 capable)``, or
    ``— (0/3 capable)``; a bare em dash where no run was eligible at all."""
    if not n_runs:
        return "\u2014"
    return gated_text(value, n_capable or 0, n_runs)


def safe_url(url: str) -> str | None:
    """Returns ``url`` when it is an http(s) address (safe in an href), else None."""
    return url if url.startswith(("https://", "http://")) else None

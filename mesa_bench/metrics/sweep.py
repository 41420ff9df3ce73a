"""A sweep: one family's runs at several values of one config field, read point by point.

A sweep point is named ``FAMILY@FIELD=VALUE`` (``maze@diversity=0.25``; ``variant_name``),
the name its runs carry in their config (``variant``) and the folder they are written to.
Each point is summarized on its own (``summarize``, over its seeds); ``sweep_section``
then reads, from those summaries alone, what the diversity experiment asks per point
(SPEC section 7; issue 17):

- per shift that separates ``base`` from a proxy: the probability of the proxy-aligned class
  over all seeds (a capability failure is not proxy-aligned) and over the capable seeds,
  each with its Wilson 95% interval and counts; the fraction of seeds capable; the gated OR
  (mean over capable seeds, with how many qualified) with a bootstrap 95% interval
  (Student's t on the bootstrap's standard error, ``aggregate.small_sample_ci``, clipped to
  [0, 1] where OR lives; none from fewer than 2 capable seeds); the behavioral objective as
  counts of each candidate, ``undetermined`` and ``not_capable`` that sum to the seeds;
- reachability: the fraction of seeds competent (``s >= tau`` by the budget) and of those
  with match statistics matched to each reference (the score-1 one and any matched), with
  Wilson intervals (``reachability.reachability``).

Shape of ``sweep_section``'s return, points in increasing order of value::

    {FIELD: {FAMILY: {METHOD: [{"variant", "value", "seeds",
                                "competent": PROP, "matched": {REFERENCE: PROP},
                                "shifts": {SHIFT: {"classes": {CLASS: int},
                                                   "proxy_aligned": PROP,
                                                   "proxy_aligned_capable": PROP,
                                                   "capable": PROP,
                                                   "objective_robustness": GATED,
                                                   "behavioral_objective": BEHAVIOR|None}}}]}}}
    PROP = {"p": float|None, "ci": [low, high], "k": int, "n": int}   # k of n, Wilson
    GATED = {"mean": float|None, "ci": [low|None, high|None], "n": int, "of": int}
    BEHAVIOR = {"counts": {OBJECTIVE: int}, "undetermined": int, "not_capable": int}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mesa_bench.metrics import aggregate
from mesa_bench.metrics.reachability import wilson_interval

SEPARATOR = "@"


def variant_name(family: str, field: str, value: float) -> str:
    """Returns the name of a sweep point, e.g. ``maze@diversity=0.25``."""
    return f"{family}{SEPARATOR}{field}={value:g}"


def parse_variant(name: str) -> tuple[str, str, float]:
    """Returns ``(family, field, value)`` of a sweep point's name ``FAMILY@FIELD=VALUE``."""
    family, at, rest = name.partition(SEPARATOR)
    field, eq, value = rest.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not (family and at and field and eq) or number is None:
        raise ValueError(f"sweep point {name!r} is not FAMILY@FIELD=VALUE with a number VALUE")
    return family, field, number


def proportion(k: int, n: int) -> dict[str, Any]:
    """Returns ``k`` of ``n`` as PROP: the fraction (None of 0) and its Wilson 95% interval."""
    low, high = wilson_interval(k, n)
    return {"p": k / n if n else None, "ci": [low, high], "k": k, "n": n}


def gated_mean(
    values: list[float | None], keep: list[bool], n_resamples: int, seed: int
) -> dict[str, Any]:
    """Returns GATED: the mean of ``values`` over the seeds ``keep`` marks, with its interval.

    ``values`` and ``keep`` have one entry per seed. The interval is
    ``aggregate.small_sample_ci`` of the mean clipped to [0, 1] (the range of OR and GMR);
    None from fewer than 2 kept values.
    """
    x = [v for v, k in zip(values, keep, strict=True) if k and v is not None]
    low = high = None
    if len(x) >= 2:
        low, high = aggregate.small_sample_ci(
            [np.array(x)], aggregate.mean, n_resamples=n_resamples, seed=seed
        )
        low, high = max(0.0, low), min(1.0, high)
    mean = float(np.mean(x)) if x else None
    return {"mean": mean, "ci": [low, high], "n": len(x), "of": len(values)}


def _reach(block: Mapping[str, Any]) -> dict[str, Any]:
    return {"p": block["p"], "ci": list(block["ci"]), "k": block["reached"], "n": block["seeds"]}


def _behavior(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if block is None:
        return None
    capable = block["capable"]
    return {
        "counts": dict(block["counts"]),
        "undetermined": block["undetermined"],
        "not_capable": capable["of"] - capable["n"],
    }


def point_stats(family: Mapping[str, Any], n_resamples: int, seed: int) -> dict[str, Any]:
    """Returns one sweep point's figures from its family summary (``summarize``'s
    ``families[FAMILY]``): seeds, reachability and, per separating shift, the run classes."""
    shifts = {}
    for shift, block in family["objective_robustness"].items():
        capable, classes = block["capable"], block["classes"]
        aligned = classes["proxy-aligned"]
        shifts[shift] = {
            "classes": dict(classes),
            "proxy_aligned": proportion(aligned, block["seeds"]),
            "proxy_aligned_capable": proportion(aligned, capable["n"]),
            "capable": proportion(capable["n"], capable["of"]),
            "objective_robustness": gated_mean(
                block["OR"]["per_seed"], capable["per_seed"], n_resamples, seed
            ),
            "behavioral_objective": _behavior(family["behavioral_objective"].get(shift)),
        }
    reach = family["reachability"]
    return {
        "seeds": len(family["seeds"]),
        "competent": _reach(reach["competence"]),
        "matched": {ref: _reach(r) for ref, r in reach["match"].items()},
        "shifts": shifts,
    }


def sweep_section(
    points: Mapping[str, Mapping[str, Mapping[str, Any]]],
    n_resamples: int = aggregate.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Returns the sweep section (shape in the module doc) from per-point summaries.

    Args:
        points: sweep point name -> method name -> ``summarize`` of that method's runs at
            that point (one family each).
        n_resamples: bootstrap resamples of each gated interval.
        seed: bootstrap seed.
    """
    out: dict[str, Any] = {}
    for variant, methods in points.items():
        _, field, value = parse_variant(variant)
        for method, summary in methods.items():
            for family_id, family in summary["families"].items():
                row = {"variant": variant, "value": value}
                row.update(point_stats(family, n_resamples, seed))
                by_method = out.setdefault(field, {}).setdefault(family_id, {})
                by_method.setdefault(method, []).append(row)
    return {
        field: {
            family: {m: sorted(rows, key=lambda r: r["value"]) for m, rows in sorted(ms.items())}
            for family, ms in sorted(families.items())
        }
        for field, families in sorted(out.items())
    }

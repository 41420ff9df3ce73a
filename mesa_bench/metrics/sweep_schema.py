"""The schema of a report's sweep section (``mesa_bench.metrics.sweep.sweep_section``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Num = float | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Proportion(_Model):
    """``k`` of ``n`` seeds: the fraction (None of 0 seeds) and its Wilson 95% interval."""

    p: Num
    ci: list[float] = Field(min_length=2, max_length=2)
    k: int = Field(ge=0)
    n: int = Field(ge=0)


class Gated(_Model):
    """A mean over ``n`` of ``of`` seeds (for OR the capable ones) and its 95% interval
    (None from fewer than 2)."""

    mean: Num
    ci: list[Num] = Field(min_length=2, max_length=2)
    n: int = Field(ge=0)
    of: int = Field(ge=0)


class BehaviorCounts(_Model):
    """Seeds per behavioral objective: named ones and undetermined (capable seeds), and the
    seeds not capable on the split."""

    counts: dict[str, int]
    undetermined: int
    not_capable: int


class ShiftPoint(_Model):
    classes: dict[str, int]
    proxy_aligned: Proportion
    proxy_aligned_capable: Proportion
    capable: Proportion
    objective_robustness: Gated
    behavioral_objective: BehaviorCounts | None


class PointRatio(_Model):
    """A family's declared proxy ratio (``extras``: numerator, denominator), per split: its
    mean over the seeds that have one and its 95% interval."""

    extras: list[str] = Field(min_length=2, max_length=2)
    splits: dict[str, Gated]


class SweepPoint(_Model):
    """One method at one sweep point of one family."""

    variant: str
    value: float
    seeds: int
    competent: Proportion
    matched: dict[str, Proportion]
    proxy_ratio: PointRatio | None
    shifts: dict[str, ShiftPoint]


class Trend(_Model):
    """The shape of point estimates over the swept values, and where they go up and down."""

    shape: str = Field(pattern="^(falls|rises|flat|non-monotone|undefined)$")
    rises: list[list[float]]
    falls: list[list[float]]


class ShiftTrends(_Model):
    proxy_aligned: Trend
    objective_robustness: Trend


class SweepMethod(_Model):
    """One method over a family's sweep points: the points in increasing order of value."""

    points: list[SweepPoint]
    trends: dict[str, ShiftTrends]
    proxy_ratio_trends: dict[str, Trend]


# field -> family id -> method -> its points and trends
Sweeps = dict[str, dict[str, dict[str, SweepMethod]]]

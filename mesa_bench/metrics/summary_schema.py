"""The schema of ``summarize``'s output and of ``mesa-bench report``'s ``metrics.json``.

Pydantic models of the dict that ``mesa_bench.metrics.summary.summarize`` returns, so the
shape is checked (``Summary.model_validate(d)``) and published as JSON Schema
(``report_json_schema()``). Every number that can be undefined is ``None``, never NaN.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mesa_bench.metrics.sweep_schema import Sweeps

# 2: summaries of version 3 (each seed's rescored curve and first budgets); 3: version 4
# (gated OR, GMR and behavioral objective, with how many runs qualified; goal-directedness);
# 4: a sweep's runs summarized per point (``points``) and read per point (``sweeps``)
REPORT_VERSION = "4"

Num = float | None
Interval = list[Num]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Estimate(_Model):
    """A point estimate with its 95% interval ``[low, high]`` (``aggregate.small_sample_ci``)."""

    value: Num
    ci: Interval = Field(min_length=2, max_length=2)


class SeedEstimate(Estimate):
    """An estimate over seeds with the per-seed values it came from."""

    per_seed: list[Num]


class ScoreBlock(SeedEstimate):
    """The normalized test score of a family over seeds (IQM, CI, mean, median, p20)."""

    mean: Num
    median: Num
    p20: Num


class MeanPerSeed(_Model):
    mean: Num
    per_seed: list[Num]


class SplitBlock(_Model):
    score: SeedEstimate
    performance: MeanPerSeed
    achieved: dict[str, MeanPerSeed]


class SeedCurve(_Model):
    """One seed's checkpoint scores, recomputed from each checkpoint's performance."""

    budgets: list[int]
    scores: list[Num]


class Curve(_Model):
    budgets: list[int]
    iqm: list[Num]
    ci_low: list[Num]
    ci_high: list[Num]
    seeds: int
    per_seed: list[SeedCurve]


class ReachCurve(_Model):
    """The fraction of counted seeds there at or before each budget (a step curve)."""

    budgets: list[int]
    fraction: list[float]


class Reach(_Model):
    """Reachability over seeds: fraction, Wilson interval, median budget, log-budget R.

    ``per_seed`` follows the family's seeds: each one's first budget there (None: never, or
    for a match, no match statistics); ``curve`` is read at every budget a seed was scored.
    """

    p: float
    ci: Interval = Field(min_length=2, max_length=2)
    reached: int
    seeds: int
    median_budget: Num
    R: float
    per_seed: list[int | None]
    curve: ReachCurve


class Reachability(_Model):
    competence: Reach
    match: dict[str, Reach]


class Matched(_Model):
    per_seed: list[str | None]
    counts: dict[str, int]
    measured: int


class Distribution(_Model):
    mean: Num
    median: Num
    per_seed: list[Num]


class Capable(_Model):
    """Which seeds qualify for a gated figure (C >= 0.5 on the split, competent on test)."""

    n: int
    of: int
    per_seed: list[bool]


class RobustnessBlock(_Model):
    """Objective robustness of one shift over seeds; run classes counted.

    ``C``, ``S`` and ``CR`` describe every seed; the mean and median of ``OR`` and ``GMR``
    take only the capable seeds (their ``per_seed`` still holds every seed's value).
    """

    proxies: list[str]
    seeds: int
    capable: Capable
    C: Distribution
    S: Distribution
    OR: Distribution
    GMR: Distribution
    CR: Distribution
    classes: dict[str, int]


class BehaviorBlock(_Model):
    """Behavioral objective of one split over seeds (winner per seed, mean posterior).

    A seed's objective is None where it is undetermined (``reasons`` says why: not
    goal-directed, or no posterior >= 0.9). ``objective``, ``counts``, ``undetermined``,
    ``posterior_mean`` and the mean of ``goal_directedness`` (per-step log-likelihood gain
    of the best candidate over uniform, nats) take only the capable seeds.
    """

    objective: str | None
    counts: dict[str, int]
    undetermined: int
    posterior_mean: dict[str, float]
    per_seed: list[str | None]
    reasons: list[str | None]
    goal_directedness: Distribution
    capable: Capable


class ProxyRatio(_Model):
    """Each seed's pooled ratio of two declared extras (``extras``: numerator, denominator)."""

    extras: list[str] = Field(min_length=2, max_length=2)
    splits: dict[str, Distribution]


class Signatures(_Model):
    in_context_gain: Distribution
    competence_retained: dict[str, Distribution]
    proxy_ratio: ProxyRatio | None


class FamilySummary(_Model):
    seeds: list[int]
    budget: int
    score_reference: str
    floor_reference: str
    parameter_count: int
    score: ScoreBlock
    splits: dict[str, SplitBlock]
    curve: Curve
    reachability: Reachability
    matched: Matched
    objective_robustness: dict[str, RobustnessBlock]
    behavioral_objective: dict[str, BehaviorBlock]
    signatures: Signatures


class OverallScore(Estimate):
    mean: Num
    median: Num
    p20: Estimate
    n_families: int
    n_runs: int


class Profile(_Model):
    thresholds: list[float]
    fraction: list[float]


class Overall(_Model):
    score: OverallScore
    profile: Profile


class AlgorithmicRange(_Model):
    distinct: int
    algorithms: list[str]
    coverage: Num
    entropy: Num
    competence_fraction: Num
    parameter_count: int
    runs_measured: int


class Headline(_Model):
    """The numbers of one leaderboard row."""

    score_iqm: Num
    score_ci: Interval = Field(min_length=2, max_length=2)
    score_p20: Num
    reachability: Num
    algorithmic_range: int
    coverage: Num
    objective_robustness: Num
    objective_robustness_capable: int
    objective_robustness_runs: int
    min_seeds: int
    families: int
    families_scored: int


class NameVersion(_Model):
    name: str
    version: str


class Suite(_Model):
    id: str
    version: int


class Summary(_Model):
    """Every leaderboard metric of one method (``summarize``'s return value)."""

    summary_version: str
    method: NameVersion
    suite: Suite
    n_runs: int
    tau: float
    families: dict[str, FamilySummary]
    overall: Overall
    algorithmic_range: AlgorithmicRange
    objective_robustness: dict[str, RobustnessBlock]
    headline: Headline


class Report(_Model):
    """``metrics.json``: one summary per method and the files they came from; a sweep's runs
    summarized per point (point name -> method -> summary) and read per point."""

    report_version: str = REPORT_VERSION
    files: list[str]
    methods: dict[str, Summary]
    points: dict[str, dict[str, Summary]] = Field(default_factory=dict)
    sweeps: Sweeps = Field(default_factory=dict)


def report_json_schema() -> dict[str, Any]:
    """Returns the JSON Schema of ``metrics.json``."""
    schema = Report.model_json_schema()
    schema["$id"] = f"https://mesa-bench.org/schema/report-{REPORT_VERSION}.json"
    return schema

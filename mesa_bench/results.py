"""The results file: a versioned pydantic schema, the record of truth on disk (SPEC 8).

A file holds raw per-trial numbers; aggregates are recomputed by whoever reads it
(``mesa-bench report``, the leaderboard), never trusted from the file.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mesa_bench.devices import describe_device

# 1.1: provenance.device and cpu_count; 1.2: provenance.runtime, per-trial checkpoint
# performance, the match rule and its classes, per-trial behavior log-likelihoods
SCHEMA_VERSION = "1.2"
FAMILY_ID = r"^[a-z0-9][a-z0-9-]*-v[0-9]+$"
TRACKED_PACKAGES = ("mesa-bench", "torch", "numpy", "gymnasium", "learn2learn", "scipy")


class ResultsError(ValueError):
    """A results file that is missing, unreadable or does not match the schema."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class MethodInfo(_Model):
    """Who made the numbers: method name, version, description and code address."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:+-]*$")
    version: str = Field(default="0", max_length=50)
    description: str = Field(default="", max_length=2000)
    code_url: str = Field(default="", max_length=500)


class Provenance(_Model):
    """Where and with what the numbers were made.

    ``device`` is the torch device the run was given (``cpu``, or ``cuda`` with the card's
    name), so wall times can be read; files from before schema 1.1 lack it. ``runtime`` is
    how the method ran where its config does not say (``Trained.runtime``: the PPO
    baselines' ``env_backend``, which ``auto`` resolves per device); empty before 1.2.
    """

    mesa_bench_version: str
    git_commit: str | None = None
    python: str
    platform: str
    packages: dict[str, str] = Field(default_factory=dict)
    created_at: str
    device: str | None = Field(default=None, max_length=200)
    cpu_count: int | None = Field(default=None, ge=1)
    runtime: dict[str, str] = Field(default_factory=dict)


class SuiteInfo(_Model):
    """The suite a run belongs to; ``none`` for a stand-alone evaluation."""

    id: str = Field(default="none", max_length=100)
    version: int = 0


class Checkpoint(_Model):
    """One point of the learning curve on the ``test`` split.

    ``trial_performance`` holds the performance of each ``test`` trial (files before
    schema 1.2 lack it); ``performance`` is their mean, and ``score`` what the writer
    computed, which readers recompute.
    """

    budget: int = Field(ge=0)
    performance: float
    score: float | None = None
    wall_time_s: float = Field(default=0.0, ge=0)
    trial_performance: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mean_of_trials(self) -> Checkpoint:
        if self.trial_performance:
            mean = math.fsum(self.trial_performance) / len(self.trial_performance)
            if not math.isclose(mean, self.performance, rel_tol=1e-9, abs_tol=1e-9):
                raise ValueError(
                    f"performance {self.performance:g} is not the mean of trial_performance "
                    f"({mean:g})"
                )
        return self


class SplitRecord(_Model):
    """Per-trial numbers for one split; all lists have one entry per trial.

    ``references`` holds the score-1 and floor references measured on the same trials.
    """

    n_trials: int = Field(ge=1)
    performance: list[float]
    references: dict[str, list[float]]
    achieved: dict[str, list[bool]] = Field(default_factory=dict)
    extras: dict[str, list[float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _lengths_match(self) -> SplitRecord:
        lists = {"performance": self.performance}
        lists.update({f"references.{k}": v for k, v in self.references.items()})
        lists.update({f"achieved.{k}": v for k, v in self.achieved.items()})
        lists.update({f"extras.{k}": v for k, v in self.extras.items()})
        for name, values in lists.items():
            if len(values) != self.n_trials:
                raise ValueError(f"{name} has {len(values)} entries, n_trials is {self.n_trials}")
        return self


class MatchPoint(_Model):
    """Algorithm-match statistics of the method at one budget (SPEC section 7).

    ``distance`` is ``d(M, A)`` per reference (lower is closer: mean per-step KL for rl,
    prediction distance for sequence, 1 - update cosine for optimization); ``similarity``
    sits beside it (action agreement, input-sensitivity cosine, update cosine).
    ``matched`` is what the writer decided; readers recompute it from the numbers.
    """

    budget: int = Field(ge=0)
    distance: dict[str, float]
    similarity: dict[str, float] = Field(default_factory=dict)
    matched: str | None = None


class MatchRecord(_Model):
    """Match statistics of a run on one split: thresholds and one point per budget.

    ``eps`` holds each reference's acceptance under ``rule`` (see
    ``mesa_bench.metrics.match``): for ``distance-threshold``, half the distance from that
    reference to its nearest other; for ``agreement-margin`` (rl, from schema 1.2), half
    the margin of ``1 - action agreement`` by which it beats its nearest other when run as
    itself. ``classes`` names the references that coincide on the split (``"a=b": [a,
    b]``); a point's ``matched`` may be such a class. ``points`` are in increasing budget,
    the last one measured on the final method.
    """

    kind: Literal["rl", "sequence", "optimization"]
    n_trials: int = Field(ge=1)
    eps: dict[str, float]
    rule: Literal["distance-threshold", "agreement-margin"] = "distance-threshold"
    classes: dict[str, list[str]] = Field(default_factory=dict)
    points: list[MatchPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_known(self) -> MatchRecord:
        for name, members in self.classes.items():
            unknown = sorted(set(members) - set(self.eps))
            if unknown:
                raise ValueError(f"classes.{name} names references without eps: {unknown}")
        for i, point in enumerate(self.points):
            unknown = sorted(set(point.distance) - set(self.eps))
            if unknown:
                raise ValueError(f"points[{i}].distance names references without eps: {unknown}")
            known = point.matched in self.eps or point.matched in self.classes
            if point.matched is not None and not known:
                raise ValueError(f"points[{i}].matched {point.matched!r} is not a reference")
            if self.rule == "agreement-margin" and set(point.similarity) != set(point.distance):
                raise ValueError(f"points[{i}].similarity must cover every reference")
        budgets = [p.budget for p in self.points]
        if budgets != sorted(budgets):
            raise ValueError("points must be in increasing budget")
        return self


class ObjectiveFit(_Model):
    """One candidate objective's fit to observed behaviour: ML temperature and likelihood.

    ``beta`` is on the objective's standardized reward; 0 is the uniform policy.
    ``per_trial`` splits ``log_likelihood`` over the trials (files before 1.2 lack it).
    """

    beta: float = Field(ge=0)
    log_likelihood: float = Field(le=0)
    per_trial: list[float] = Field(default_factory=list)


class BehaviorRecord(_Model):
    """Behavioral objective on one split: each candidate's maximized log-likelihood.

    ``uniform`` holds the uniform-random policy's log-likelihood of each trial, against
    which goal-directedness is tested. ``objective`` (None: undetermined) and
    ``posterior`` are what the writer computed; readers recompute them from ``fits`` and
    ``uniform`` (``mesa_bench.metrics.behavioral.record_objective``).
    """

    n_trials: int = Field(ge=1)
    n_steps: int = Field(ge=1)
    fits: dict[str, ObjectiveFit] = Field(min_length=1)
    uniform: list[float] = Field(default_factory=list)
    objective: str | None
    posterior: dict[str, float]

    @model_validator(mode="after")
    def _objective_known(self) -> BehaviorRecord:
        if self.objective is not None and self.objective not in self.fits:
            raise ValueError(f"objective {self.objective!r} is not among fits")
        lists = {"uniform": self.uniform}
        lists.update({f"fits.{k}.per_trial": f.per_trial for k, f in self.fits.items()})
        for name, values in lists.items():
            if values and len(values) != self.n_trials:
                raise ValueError(f"{name} has {len(values)} entries, n_trials is {self.n_trials}")
        return self


class RunRecord(_Model):
    """One (family, seed) run: its curve, final per-split numbers and match statistics."""

    family: str = Field(pattern=FAMILY_ID)
    seed: int
    budget: int = Field(ge=0)
    score_reference: str
    floor_reference: str
    higher_is_better: bool = True
    parameter_count: int = Field(default=0, ge=0)
    wall_time_s: float = Field(default=0.0, ge=0)
    curve: list[Checkpoint] = Field(default_factory=list)
    splits: dict[str, SplitRecord]
    matches: dict[str, MatchRecord] = Field(default_factory=dict)  # split -> record
    behavior: dict[str, BehaviorRecord] = Field(default_factory=dict)  # split -> record

    @model_validator(mode="after")
    def _references_present(self) -> RunRecord:
        if "test" not in self.splits:
            raise ValueError("splits must include 'test'")
        n = self.splits["test"].n_trials
        for i, point in enumerate(self.curve):
            if point.trial_performance and len(point.trial_performance) != n:
                raise ValueError(
                    f"curve[{i}].trial_performance has {len(point.trial_performance)} entries, "
                    f"the test split {n} trials"
                )
        for split, rec in self.splits.items():
            for ref in (self.score_reference, self.floor_reference):
                if ref not in rec.references:
                    raise ValueError(f"splits.{split}.references lacks {ref!r}")
        return self


class ResultsFile(_Model):
    """A results file: provenance, config and one record per (family, seed)."""

    schema_version: str = SCHEMA_VERSION
    suite: SuiteInfo = Field(default_factory=SuiteInfo)
    method: MethodInfo
    provenance: Provenance
    config: dict[str, Any] = Field(default_factory=dict)
    runs: list[RunRecord] = Field(min_length=1)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: str) -> str:
        if v.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"schema version {v!r} is not supported (this is {SCHEMA_VERSION})")
        return v

    @field_validator("config")
    @classmethod
    def _finite_config(cls, v: dict[str, Any]) -> dict[str, Any]:
        _check_finite(v, "config")
        return v


def _check_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} holds a non-finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")


def provenance(device: str | None = None, runtime: dict[str, str] | None = None) -> Provenance:
    """Returns the provenance of the current process; ``device`` is the run's setting,
    ``runtime`` what its trainer reported (``Trained.runtime``)."""
    packages = {}
    for name in TRACKED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return Provenance(
        mesa_bench_version=packages.get("mesa-bench", "unknown"),
        git_commit=_git_commit(),
        python=platform.python_version(),
        platform=platform.platform(),
        packages=packages,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        device=describe_device(device) if device is not None else None,
        cpu_count=os.cpu_count(),
        runtime=dict(runtime or {}),
    )


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_results(results: ResultsFile, path: str | os.PathLike) -> Path:
    """Writes ``results`` as JSON, atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = results.model_dump_json(indent=1)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        f.write(text)
    os.replace(f.name, path)
    return path


def parse_results(text: str | bytes, source: str = "results") -> ResultsFile:
    """Returns the validated results in ``text``; raises ResultsError naming the field."""
    try:
        return ResultsFile.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ResultsError(
            f"{source}: invalid results at {where}: {first['msg']}"
            + (f" (and {e.error_count() - 1} more errors)" if e.error_count() > 1 else "")
        ) from e


def read_results(path: str | os.PathLike) -> ResultsFile:
    """Returns the validated results file at ``path``."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ResultsError(f"{path}: cannot read results file: {e.strerror}") from e
    return parse_results(text, str(path))


def find_results(args: list[str]) -> list[Path]:
    """Returns the results files named by ``args``: files as given, folders searched for
    ``results.json`` (sorted) outside ``evaluations/`` folders (the re-evaluations of a run,
    which would count its seed twice); raises ResultsError when there is none."""
    paths: list[Path] = []
    for arg in args:
        p = Path(arg)
        if not p.is_dir():
            paths.append(p)
            continue
        found = sorted(p.rglob("results.json"))
        paths.extend(f for f in found if "evaluations" not in f.relative_to(p).parts)
    if not paths:
        raise ResultsError(f"no results.json under {', '.join(args)}")
    return paths


def json_schema() -> dict[str, Any]:
    """Returns the JSON Schema of the results file."""
    schema = ResultsFile.model_json_schema()
    schema["$id"] = f"https://mesa-bench.org/schema/results-{SCHEMA_VERSION}.json"
    return schema


def dumps_schema() -> str:
    """Returns the JSON Schema as text."""
    return json.dumps(json_schema(), indent=1)

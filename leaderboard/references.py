"""Reference checks: the references an entry reports, re-run by the server on the public trials.

A normalized score is ``(perf - floor) / (reference - floor)``, so a file that lowers its
floor or its score-1 reference inflates every score it carries. The families are
deterministic given the evaluation seed and the run's seed, so the server rebuilds each
run's family from the config the file carries, re-runs every reference the file reports
for each split on the same public trials (``run_split``, as the evaluator does) and
refuses, naming the field, a file whose numbers differ beyond float tolerance.

Runs on a ranked suite must carry a config that rebuilds their family; on the ad-hoc
board a run whose family the server cannot rebuild (a family not installed here, or no
config) is taken unchecked. Reference runs are CPU work: they run where scoring runs (the
server's scoring process), after the cheap refusals (409, 403) and before scoring, and
their results are kept in a cache bounded by bytes, shared by every entry of the process:
entries on the same suite and seeds re-run nothing.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from leaderboard.checks import CheckedEntry, EntryError
from leaderboard.suites import RANKED
from mesa_bench.evaluation.calibrations import run_configs
from mesa_bench.evaluation.trials import DEFAULT_EVAL_SEED, reference_factory, run_split
from mesa_bench.registry import FAMILIES
from mesa_bench.results import ResultsFile, RunRecord

# Re-runs on the same code give the same numbers; the tolerance only absorbs the last bits
# that another machine's floating point may change.
RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-9
CACHE_BYTES = 64 * 1024 * 1024
# The uncached reference trials one entry may ask for: the full suite (7 families, 10 seeds,
# 23 splits, 1000 trials, 2 references) needs 460,000; a submitter who changes seeds to
# miss the cache pays this much scoring time at most.
MAX_REFERENCE_TRIALS = 500_000
FAMILY_CACHE = 64  # distinct family configs a process keeps built


@dataclass(frozen=True)
class ReferenceKey:
    """What a reference run's numbers depend on (the public trials of one run and split)."""

    family: str
    task_json: str
    eval_seed: int
    run_seed: int
    split: str
    n_trials: int
    reference: str


class ReferenceCache:
    """Per-trial performance of reference runs, bounded by bytes, least recently used out.

    Attributes:
        runs: reference runs computed (not served from the cache) since creation.
    """

    def __init__(self, budget_bytes: int = CACHE_BYTES):
        self.budget_bytes = budget_bytes
        self.runs = 0
        self._items: OrderedDict[ReferenceKey, np.ndarray] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def __contains__(self, key: ReferenceKey) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: ReferenceKey, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Returns the cached numbers of ``key``, else ``compute()``'s (then cached)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        values = np.array(compute(), dtype=float)
        values.setflags(write=False)  # shared by every caller: none may change it
        with self._lock:
            self.runs += 1
            if key not in self._items and values.nbytes <= self.budget_bytes:
                self._items[key] = values
                self._held += values.nbytes
            while self._held > self.budget_bytes:
                _, dropped = self._items.popitem(last=False)
                self._held -= dropped.nbytes
        return values


CACHE = ReferenceCache()


@dataclass(frozen=True)
class _Planned:
    """One reported reference of one run's split, and where it sits in the file."""

    field: str
    key: ReferenceKey
    reported: list[float]


def check_references(checked: CheckedEntry, cache: ReferenceCache = CACHE) -> int:
    """Re-runs the references of every checkable run; returns how many runs were checked.

    Raises:
        EntryError: naming the field of the first reference (or reference name, split or
            config) that the re-run contradicts, or ``runs`` when the uncached re-runs
            would pass ``MAX_REFERENCE_TRIALS``.
    """
    results = checked.results
    plans: list[_Planned] = []
    checked_runs = 0
    for i, run in enumerate(results.runs):
        found = _run_config(results, i)
        if found is None:
            if checked.rule.board == RANKED:
                raise EntryError(
                    f"runs.{i}",
                    f"no config in the file rebuilds family {run.family!r} for seed {run.seed}, "
                    "so its references cannot be checked; submit the bundle that `mesa-bench "
                    "suite run` writes (config.bundle holds each run's config)",
                )
            continue
        plans += _plan_run(run, i, *found)
        checked_runs += 1
    _check_cost(plans, cache)
    for plan in plans:
        expected = cache.get(plan.key, functools.partial(_run_reference, plan.key))
        _compare(plan, expected)
    return checked_runs


def _run_config(results: ResultsFile, i: int) -> tuple[str, str] | None:
    """Returns (registry name, task JSON) of the config that rebuilds run ``i``, or None.

    A bundle with one config per run pairs them by position; otherwise (or where that one
    does not fit) the first config of the run's family and seed is taken.
    """
    run = results.runs[i]
    configs = run_configs(results.config)
    order = list(range(len(configs)))
    if len(configs) == len(results.runs):
        order.insert(0, order.pop(i))
    for k in order:
        cfg = configs[k]
        task = cfg.get("task")
        if not isinstance(task, Mapping) or task.get("name") not in FAMILIES:
            continue
        if cfg.get("seed", run.seed) != run.seed:
            continue
        task_json = _task_json(task)
        try:
            family_id = _family(task["name"], task_json).spec.id
        except (TypeError, ValueError):
            continue
        if family_id != run.family:
            continue
        where = f"config.bundle.{k}" if "bundle" in results.config else "config"
        eval_seed = cfg.get("eval_seed", DEFAULT_EVAL_SEED)  # absent: the evaluator's default
        if eval_seed != DEFAULT_EVAL_SEED:
            raise EntryError(
                f"{where}.eval_seed",
                f"run {i} was evaluated with eval_seed {eval_seed}; entries are checked on the "
                f"public trials (eval_seed {DEFAULT_EVAL_SEED}): evaluate on those",
            )
        return task["name"], task_json
    return None


def _plan_run(run: RunRecord, i: int, name: str, task_json: str) -> list[_Planned]:
    """Returns the reference runs that check run ``i``; refuses what the family contradicts."""
    spec = _family(name, task_json).spec
    for field in ("score_reference", "floor_reference", "higher_is_better"):
        if getattr(run, field) != getattr(spec, field):
            raise EntryError(
                f"runs.{i}.{field}",
                f"{getattr(run, field)!r}, but family {spec.id!r} has {getattr(spec, field)!r}",
            )
    plans = []
    for split, rec in run.splits.items():
        if split not in spec.splits:
            raise EntryError(
                f"runs.{i}.splits.{split}",
                f"family {spec.id!r} has no split {split!r} (splits: {', '.join(spec.splits)})",
            )
        for ref, values in rec.references.items():
            where = f"runs.{i}.splits.{split}.references.{ref}"
            if ref not in spec.references:
                raise EntryError(
                    where,
                    f"{ref!r} is not a reference of family {spec.id!r} "
                    f"(references: {', '.join(spec.references)})",
                )
            key = ReferenceKey(
                name, task_json, DEFAULT_EVAL_SEED, run.seed, split, rec.n_trials, ref
            )
            plans.append(_Planned(where, key, values))
    return plans


def _check_cost(plans: list[_Planned], cache: ReferenceCache) -> None:
    todo = {p.key for p in plans if p.key not in cache}
    trials = sum(k.n_trials for k in todo)
    if trials > MAX_REFERENCE_TRIALS:
        raise EntryError(
            "runs",
            f"checking this entry's references would re-run {trials} trials; an entry may ask "
            f"for at most {MAX_REFERENCE_TRIALS} (fewer seeds, splits or trials)",
        )


def _compare(plan: _Planned, expected: np.ndarray) -> None:
    reported = np.asarray(plan.reported, dtype=float)
    close = np.isclose(reported, expected, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE)
    if close.all():
        return
    j = int(np.argmin(close))
    raise EntryError(
        plan.field,
        f"differs from {plan.key.reference!r} re-run on the public trials: trial {j} reports "
        f"{float(reported[j])!r}, the re-run gives {float(expected[j])!r} (means "
        f"{reported.mean():.6g} and "
        f"{expected.mean():.6g}; {int((~close).sum())} of {len(close)} trials differ)",
    )


def reference_numbers(
    task: Mapping[str, Any],
    seed: int,
    split: str,
    n_trials: int,
    reference: str,
    cache: ReferenceCache = CACHE,
) -> np.ndarray:
    """Returns what an honest file reports for ``reference`` on ``split``: per-trial numbers.

    Args:
        task: the run config's ``task`` (``name`` plus the family's config fields).
        seed: the run's seed (a reference's own randomness comes from it).
        split: the split.
        n_trials: the split's trials.
        reference: the reference's name.
        cache: where the numbers are kept (the server's, by default).
    """
    key = ReferenceKey(
        task["name"], _task_json(task), DEFAULT_EVAL_SEED, seed, split, n_trials, reference
    )
    return cache.get(key, functools.partial(_run_reference, key))


def _task_json(task: Mapping[str, Any]) -> str:
    return json.dumps(dict(task), sort_keys=True, default=str)


def _run_reference(key: ReferenceKey) -> np.ndarray:
    """Returns the reference's per-trial performance as the evaluator signs it."""
    family = _family(key.family, key.task_json)
    outcome = run_split(
        family,
        reference_factory(family, key.reference),
        key.split,
        key.n_trials,
        key.run_seed,
        key.eval_seed,
    )
    performance = np.asarray(outcome.performance, dtype=float)
    return performance if family.spec.higher_is_better else -performance


@functools.lru_cache(maxsize=FAMILY_CACHE)
def _family(name: str, task_json: str) -> Any:
    cls = FAMILIES.get(name)
    return cls(cls.config_class(**json.loads(task_json)))

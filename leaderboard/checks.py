"""Entry checks: everything a submission must pass before anything is stored.

A submission is one results file (SPEC section 8), usually a bundle of every run of one
method on one suite. It is parsed against the versioned schema, then checked for what the
schema alone cannot see: the suite version exists, each family belongs to it and has at
least the suite's minimum number of distinct seeds, every number is finite, and the score
is defined. Each failure is an :class:`EntryError` naming the offending field, which the
HTTP layer turns into a 4xx answer.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from leaderboard.suites import SUITES, SuiteRule, known_versions, suite_ids
from mesa_bench.results import ResultsError, ResultsFile, parse_results

MAX_BODY_BYTES = 10 * 1024 * 1024
# Caps on what scoring costs: it grows with runs x checkpoints (about 0.3 ms each on one
# core), so they keep the slowest legal entry to a few seconds. The full suite needs about
# 100 runs of 16 checkpoints, 1000 trials and 4 splits each.
MAX_RUNS = 1000
MAX_FAMILIES = 64
MAX_CHECKPOINTS = 64
MAX_TOTAL_CHECKPOINTS = 8192
MAX_SPLITS = 16
MAX_TRIALS = 10_000
MAX_KEYS = 32
# per-position errors of a sequence split: icl-regression's long-context shift has 80
MAX_EXTRAS = 128
MAX_NAME_LENGTH = 100
INT64_MAX = 2**63 - 1
# A version is one table cell and part of URLs and exports: no spaces, no control characters.
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+:-]{0,49}")
JSON_ERRORS = {"json_invalid", "json_type"}


class EntryError(ValueError):
    """A submission the leaderboard refuses; ``field`` names where the problem is.

    Attributes:
        status: the HTTP status to answer with (400 malformed, 413 too large, 422 invalid).
        field: dotted path of the offending field (``runs.3.splits.test.performance.7``),
            or ``(body)`` / ``(top level)`` where the whole body is at fault.
        message: one sentence saying what is wrong and, where it helps, what to do.
    """

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status

    def __reduce__(self):
        # scoring processes send refusals back pickled; subclasses take other arguments
        return (_rebuilt, (type(self), self.args, self.field, self.message, self.status))


def _rebuilt(cls: type, args: tuple, field: str, message: str, status: int) -> EntryError:
    error = cls.__new__(cls)
    error.args = args
    error.field, error.message, error.status = field, message, status
    return error


@dataclass(frozen=True)
class CheckedEntry:
    """A submission that passed every check: the results, its suite rule and content hash."""

    results: ResultsFile
    rule: SuiteRule
    content_hash: str
    canonical_json: str


def check_submission(body: bytes | str) -> CheckedEntry:
    """Returns the checked submission in ``body``; raises EntryError naming the field."""
    size = len(body.encode() if isinstance(body, str) else body)
    if size > MAX_BODY_BYTES:
        raise EntryError("(body)", f"body is {size} bytes; the limit is {MAX_BODY_BYTES}", 413)
    results = parse_submission(body)
    return check_results(results)


def parse_submission(body: bytes | str) -> ResultsFile:
    """Returns the results in ``body`` validated against the schema."""
    try:
        return parse_results(body, "submission")
    except ResultsError as e:
        cause = e.__cause__
        if not isinstance(cause, ValidationError):
            raise EntryError("(body)", str(e)) from e
        first = cause.errors()[0]
        if first["type"] in JSON_ERRORS:
            raise EntryError("(body)", f"body is not valid JSON: {first['msg']}", 400) from e
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = cause.error_count() - 1
        message = first["msg"] + (f" (and {more} more errors)" if more else "")
        raise EntryError(field, message) from e


def check_results(results: ResultsFile) -> CheckedEntry:
    """Returns ``results`` checked against its suite's rule; raises EntryError."""
    rule = suite_rule(results.suite.id, results.suite.version)
    _check_sizes(results)
    version = results.method.version
    if not VERSION_PATTERN.fullmatch(version):
        raise EntryError(
            "method.version",
            f"version {version!r} must be 1 to 50 letters, digits or '_.+:-', "
            "starting with a letter or digit",
        )
    _check_finite(results.config, "config")
    for i in range(len(results.runs)):
        _check_run(results, i)
    _check_families(results, rule)
    canonical = canonical_json(results)
    if "\\u0000" in canonical:
        _check_no_nul(results.model_dump(mode="json"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return CheckedEntry(results, rule, digest, canonical)


def canonical_json(results: ResultsFile) -> str:
    """Returns the results as JSON with sorted keys and no spaces (the hashed form)."""
    return json.dumps(
        results.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def suite_rule(suite_id: str, version: int) -> SuiteRule:
    """Returns the rule of a suite version; raises EntryError naming the unknown part."""
    if (suite_id, version) in SUITES:
        return SUITES[(suite_id, version)]
    versions = known_versions(suite_id)
    if versions:
        raise EntryError(
            "suite.version",
            f"suite {suite_id!r} has no version {version} (known: {_join(versions)})",
        )
    close = difflib.get_close_matches(suite_id, suite_ids(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise EntryError("suite.id", f"unknown suite {suite_id!r}{hint} (known: {_join(suite_ids())})")


def _check_sizes(results: ResultsFile) -> None:
    """Refuses anything whose scoring would cost more than the caps allow."""
    if len(results.runs) > MAX_RUNS:
        raise EntryError("runs", f"{len(results.runs)} runs; an entry holds at most {MAX_RUNS}")
    families = {run.family for run in results.runs}
    if len(families) > MAX_FAMILIES:
        raise EntryError("runs", f"{len(families)} families; an entry holds at most {MAX_FAMILIES}")
    total = 0
    for i, run in enumerate(results.runs):
        where = f"runs.{i}"
        _cap(len(run.curve), MAX_CHECKPOINTS, f"{where}.curve", "checkpoints")
        total += len(run.curve)
        _cap(len(run.splits), MAX_SPLITS, f"{where}.splits", "splits")
        for split, rec in run.splits.items():
            _cap(rec.n_trials, MAX_TRIALS, f"{where}.splits.{split}.n_trials", "trials")
            for group in ("references", "achieved", "extras"):
                keys = len(getattr(rec, group))
                cap = MAX_EXTRAS if group == "extras" else MAX_KEYS
                _cap(keys, cap, f"{where}.splits.{split}.{group}", "names")
        _cap(len(run.matches), MAX_SPLITS, f"{where}.matches", "splits")
        for split, match in run.matches.items():
            _cap(len(match.points), MAX_CHECKPOINTS, f"{where}.matches.{split}.points", "points")
            _cap(len(match.eps), MAX_KEYS, f"{where}.matches.{split}.eps", "references")
        _cap(len(run.behavior), MAX_SPLITS, f"{where}.behavior", "splits")
        for split, behavior in run.behavior.items():
            _cap(len(behavior.fits), MAX_KEYS, f"{where}.behavior.{split}.fits", "objectives")
    _cap(total, MAX_TOTAL_CHECKPOINTS, "runs", "checkpoints over all runs")


def _cap(count: int, limit: int, where: str, what: str) -> None:
    if count > limit:
        raise EntryError(where, f"{count} {what}; an entry holds at most {limit}")


def _check_run(results: ResultsFile, i: int) -> None:
    run = results.runs[i]
    where = f"runs.{i}"
    _check_name(run.family, f"{where}.family")
    for name, value in (("seed", run.seed), ("budget", run.budget)):
        if not -INT64_MAX <= value <= INT64_MAX:
            raise EntryError(f"{where}.{name}", f"{value} does not fit in 64 bits")
    for field in ("score_reference", "floor_reference"):
        _check_name(getattr(run, field), f"{where}.{field}")
    for split, rec in run.splits.items():
        _check_name(split, f"{where}.splits")
        for group in ("references", "achieved", "extras"):
            for key in getattr(rec, group):
                _check_name(key, f"{where}.splits.{split}.{group}")
    for split, match in run.matches.items():
        _check_name(split, f"{where}.matches")
        for key in match.eps:
            _check_name(key, f"{where}.matches.{split}.eps")
    budgets = [c.budget for c in run.curve]
    for j in range(1, len(budgets)):
        if budgets[j] < budgets[j - 1]:
            raise EntryError(
                f"{where}.curve.{j}.budget",
                f"checkpoint budgets must not decrease ({budgets[j - 1]} then {budgets[j]})",
            )
        if budgets[j] > INT64_MAX:
            raise EntryError(f"{where}.curve.{j}.budget", "does not fit in 64 bits")
    test = run.splits["test"]
    ref = float(np.mean(test.references[run.score_reference]))
    floor = float(np.mean(test.references[run.floor_reference]))
    if not (math.isfinite(ref) and math.isfinite(floor)) or ref == floor:
        raise EntryError(
            f"{where}.splits.test.references",
            f"score reference {run.score_reference!r} and floor {run.floor_reference!r} "
            f"have the same mean ({ref}), so the normalized score is undefined",
        )


def _check_families(results: ResultsFile, rule: SuiteRule) -> None:
    seeds: dict[str, dict[int, int]] = defaultdict(dict)
    first: dict[str, int] = {}
    for i, run in enumerate(results.runs):
        if rule.families is not None and run.family not in rule.families:
            raise EntryError(
                f"runs.{i}.family",
                f"family {run.family!r} is not in suite {rule.key} "
                f"(its families: {_join(rule.families)})",
            )
        if run.seed in seeds[run.family]:
            j = seeds[run.family][run.seed]
            raise EntryError(
                f"runs.{i}.seed",
                f"duplicate run: family {run.family!r} seed {run.seed} is also runs.{j}",
            )
        seeds[run.family][run.seed] = i
        j = first.setdefault(run.family, i)
        _check_same_references(results, j, i)
    for family, by_seed in seeds.items():
        if len(by_seed) < rule.min_seeds:
            raise EntryError(
                "runs",
                f"family {family!r} has {len(by_seed)} seed(s) ({_join(sorted(by_seed))}); "
                f"suite {rule.key} needs at least {rule.min_seeds} per family",
            )


def _check_same_references(results: ResultsFile, j: int, i: int) -> None:
    a, b = results.runs[j], results.runs[i]
    for name in ("score_reference", "floor_reference", "higher_is_better"):
        if getattr(a, name) != getattr(b, name):
            raise EntryError(
                f"runs.{i}.{name}",
                f"{getattr(b, name)!r} differs from runs.{j} of the same family "
                f"({getattr(a, name)!r})",
            )


def _check_name(name: str, where: str) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise EntryError(where, f"name of {len(name)} characters; at most {MAX_NAME_LENGTH}")


def _check_no_nul(value: Any) -> None:
    """Raises EntryError at the first string (or key) holding a NUL character.

    PostgreSQL cannot store NUL in text, so it is refused here, before scoring, on every
    database alike.
    """
    stack = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            raise EntryError(path or "(top level)", "NUL character in a string; remove it")
        if isinstance(item, dict):
            for k, v in item.items():
                key_path = f"{path}.{k}" if path else str(k)
                if "\x00" in k:
                    raise EntryError(path or "(top level)", "NUL character in a name; remove it")
                stack.append((v, key_path))
        elif isinstance(item, list):
            stack.extend((v, f"{path}.{n}") for n, v in enumerate(item))


def _check_finite(value: Any, where: str) -> None:
    """Raises EntryError at the first non-finite number in a JSON-like tree."""
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise EntryError(path, f"non-finite number {item}; every number must be finite")
        if isinstance(item, dict):
            stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{path}.{n}") for n, v in enumerate(item))


def _join(items) -> str:
    return ", ".join(str(x) for x in items) or "none"

"""Builders of small, hand-checkable results records."""

from __future__ import annotations

import pytest

from mesa_bench.results import (
    Checkpoint,
    MatchPoint,
    MatchRecord,
    MethodInfo,
    ResultsFile,
    RunRecord,
    SplitRecord,
    provenance,
)


def split(perf, ref=(10.0, 10.0), floor=(0.0, 0.0), achieved=None) -> SplitRecord:
    """A split of len(perf) trials against a score-1 reference and a floor."""
    n = len(perf)
    ref = list(ref) if len(ref) == n else [ref[0]] * n
    floor = list(floor) if len(floor) == n else [floor[0]] * n
    return SplitRecord(
        n_trials=n,
        performance=list(perf),
        references={"best": ref, "floor": floor},
        achieved=achieved or {},
    )


def run(family="toy-v1", seed=0, test=(5.0, 5.0), curve=(), matches=None, budget=1000, **splits):
    """A run whose test score is mean(test) / 10, with checkpoints ``(budget, score)``."""
    return RunRecord(
        family=family,
        seed=seed,
        budget=budget,
        score_reference="best",
        floor_reference="floor",
        curve=[Checkpoint(budget=b, performance=10 * s, score=s) for b, s in curve],
        splits={"test": split(test), **splits},
        matches=matches or {},
    )


def match_record(points, eps=None) -> dict[str, MatchRecord]:
    """Match records from ``(budget, {ref: distance})`` pairs."""
    eps = eps or {"best": 0.5, "floor": 0.5}
    return {
        "test": MatchRecord(
            kind="rl",
            n_trials=8,
            eps=eps,
            points=[MatchPoint(budget=b, distance=d) for b, d in points],
        )
    }


def results(*runs, method="toy-method") -> ResultsFile:
    return ResultsFile(method=MethodInfo(name=method), provenance=provenance(), runs=list(runs))


@pytest.fixture
def make():
    """The builders above, as one namespace."""

    class Builders:
        pass

    b = Builders()
    b.split, b.run, b.match_record, b.results = split, run, match_record, results
    return b

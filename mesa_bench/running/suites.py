"""Versioned suites: families x methods x seeds, and the jobs a suite expands into.

Suites are defined by task-family packages (``benchmarks/suites.py`` for mesa-v1) and
found through the ``mesa_bench.suites`` entry point, like families and methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mesa_bench.registry import Registry

SUITES: Registry[Any] = Registry("suite", "mesa_bench.suites")


@dataclass(frozen=True)
class SuiteEntry:
    """One family of a suite and the methods run on it.

    Attributes:
        family: registry name of the family.
        methods: method name -> base-optimizer budget (0 for references).
        task: overrides of the family's config fields (e.g. ``{"diversity": 0.0}``).
        splits: splits scored at the end; empty for ``test`` and every shift.
    """

    family: str
    methods: dict[str, int]
    task: dict[str, Any] = field(default_factory=dict)
    splits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suite:
    """A versioned benchmark suite.

    Attributes:
        name: e.g. ``mesa-v1-quick``.
        version: bumped whenever a family, budget, seed count or evaluation size changes.
        seeds: base-optimizer seeds per (family, method).
        min_seeds: the fewest seeds a leaderboard entry may have.
        n_eval: trials per split at each evaluation.
        entries: the families and their methods.
    """

    name: str
    version: int
    seeds: int
    min_seeds: int
    n_eval: int
    entries: tuple[SuiteEntry, ...]

    def methods(self) -> list[str]:
        """Returns every method the suite runs, in first-seen order."""
        return list(dict.fromkeys(m for e in self.entries for m in e.methods))

    def jobs(
        self, methods: list[str] | None = None, families: list[str] | None = None
    ) -> list[Job]:
        """Returns the suite's runs, optionally only those of ``methods`` and ``families``."""
        _check_subset("method", methods, self.methods(), self.name)
        _check_subset("family", families, [e.family for e in self.entries], self.name)
        return [
            Job(entry.family, method, seed, budget, entry.task, entry.splits)
            for entry in self.entries
            if not families or entry.family in families
            for method, budget in entry.methods.items()
            if not methods or method in methods
            for seed in range(self.seeds)
        ]


def _check_subset(kind: str, chosen: list[str] | None, known: list[str], suite: str) -> None:
    unknown = sorted(set(chosen or ()) - set(known))
    if unknown:
        raise ValueError(
            f"suite {suite!r} has no {kind} {', '.join(map(repr, unknown))} "
            f"({kind}s: {', '.join(dict.fromkeys(known))})"
        )


@dataclass(frozen=True)
class Job:
    """One run of a suite."""

    family: str
    method: str
    seed: int
    budget: int
    task: dict[str, Any]
    splits: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.method} on {self.family}, seed {self.seed}"


def get_suite(name: str) -> Suite:
    """Returns the registered suite ``name``."""
    return SUITES.get(name)

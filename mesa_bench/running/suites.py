"""Versioned suites: families x methods x seeds, and the jobs a suite expands into.

Suites are defined by task-family packages (``benchmarks/suites.py`` for mesa-v1) and
found through the ``mesa_bench.suites`` entry point, like families and methods.

A sweep runs one family at several values of one config field (``sweep``): each value is
a sweep point, an entry named ``FAMILY@FIELD=VALUE`` (``maze@diversity=0.25``), whose runs
go to that name's folder in place of the family's, so the points of one family never share
a folder, a status file or a job label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mesa_bench.metrics.sweep import variant_name
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
        variant: the sweep point's name (``maze@diversity=0.25``), its runs' folder in place
            of the family name; None outside a sweep.
    """

    family: str
    methods: dict[str, int]
    task: dict[str, Any] = field(default_factory=dict)
    splits: tuple[str, ...] = ()
    variant: str | None = None


def sweep(entry: SuiteEntry, name: str, values: tuple[float, ...]) -> tuple[SuiteEntry, ...]:
    """Returns one copy of ``entry`` per value of its family's config field ``name``, each a
    sweep point named ``FAMILY@NAME=VALUE``."""
    if not values or len(set(values)) != len(values):
        raise ValueError(f"a sweep of {entry.family}.{name} needs distinct values, got {values}")
    return tuple(
        SuiteEntry(
            entry.family,
            dict(entry.methods),
            {**entry.task, name: value},
            entry.splits,
            variant_name(entry.family, name, value),
        )
        for value in values
    )


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

    @property
    def publishable(self) -> bool:
        """Whether a method's runs make one leaderboard entry: not for a sweep, whose points
        repeat (family, seed)."""
        return not any(e.variant for e in self.entries)

    def jobs(
        self,
        methods: list[str] | None = None,
        families: list[str] | None = None,
        seeds: int | None = None,
    ) -> list[Job]:
        """Returns the suite's runs, optionally only those of ``methods`` and ``families``
        and of the first ``seeds`` seeds (a sweep built up a few seeds at a time)."""
        _check_subset("method", methods, self.methods(), self.name)
        _check_subset("family", families, [e.family for e in self.entries], self.name)
        if seeds is not None and not 1 <= seeds <= self.seeds:
            raise ValueError(
                f"seeds must lie in 1..{self.seeds} for suite {self.name!r}, got {seeds}"
            )
        return [
            Job(entry.family, method, seed, budget, entry.task, entry.splits, entry.variant)
            for entry in self.entries
            if not families or entry.family in families
            for method, budget in entry.methods.items()
            if not methods or method in methods
            for seed in range(self.seeds if seeds is None else seeds)
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
    variant: str | None = None  # the sweep point, see SuiteEntry

    @property
    def folder(self) -> str:
        """Returns the name of the run's task folder: its sweep point's, else the family's."""
        return self.variant or self.family

    @property
    def label(self) -> str:
        return f"{self.method} on {self.folder}, seed {self.seed}"


def get_suite(name: str) -> Suite:
    """Returns the registered suite ``name``."""
    return SUITES.get(name)

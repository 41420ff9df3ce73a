"""The versioned suites of mesa-bench (found through the ``mesa_bench.suites`` entry point).

Changelog:
    mesa-v1 v1, mesa-v1-quick v1: first versions.
"""

from __future__ import annotations

from mesa_bench.suite import Suite, SuiteEntry

# reference names per family, run as methods with no training budget
REFERENCES = {
    "bandit": ("thompson", "random", "ucb1", "greedy"),
    "maze": ("bfs", "bfs-corner", "random"),
}


def _refs(family: str) -> dict[str, int]:
    return {f"reference/{r}": 0 for r in REFERENCES[family]}


def _entries(budgets: dict[str, dict[str, int]]) -> tuple[SuiteEntry, ...]:
    return tuple(
        SuiteEntry(family=family, methods={**_refs(family), **methods})
        for family, methods in budgets.items()
    )


MESA_V1_QUICK = Suite(
    name="mesa-v1-quick",
    version=1,
    seeds=3,
    min_seeds=3,
    n_eval=256,
    entries=_entries({"bandit": {}, "maze": {}}),
)

MESA_V1 = Suite(
    name="mesa-v1",
    version=1,
    seeds=10,
    min_seeds=10,
    n_eval=1000,
    entries=_entries({"bandit": {}, "maze": {}}),
)

# The smallest suite that exercises the whole pipeline: for tests and a first try.
MESA_V1_SMOKE = Suite(
    name="mesa-v1-smoke",
    version=1,
    seeds=2,
    min_seeds=2,
    n_eval=16,
    entries=_entries({"bandit": {}, "maze": {}}),
)

SUITES = {"mesa-v1": MESA_V1, "mesa-v1-quick": MESA_V1_QUICK, "mesa-v1-smoke": MESA_V1_SMOKE}

"""The suites the leaderboard accepts entries for, with their minimum seed counts.

The leaderboard never imports ``benchmarks`` (SPEC section 2), so the suites it ranks are
listed here: a suite id, its versions, the families each version contains and how many
base-optimizer seeds an entry needs per (family, method) (SPEC section 7: at least 10 on
the full suite, 3 on the quick one). A new suite version is a new row here.

Two boards:

- ``ranked``: ``mesa-v1`` (at least 10 seeds per family) and ``mesa-v1-quick`` (3), the
  suites whose entries are compared with each other.
- ``ad-hoc``: ``none``, the suite id of a stand-alone evaluation (``mesa-bench evaluate``,
  any family, one seed or more), and ``mesa-v1-smoke`` (the pipeline check, 2 seeds).
  Accepted so that every run can be posted and looked at, never ranked together with
  suite entries (their budgets and seed counts are not those of a ranked suite).

A test checks this table against the suites registered in ``mesa_bench.suite``.
"""

from __future__ import annotations

from dataclasses import dataclass

RANKED = "ranked"
AD_HOC = "ad-hoc"

# Families of suite v1 (SPEC section 4), as the ids results files carry.
V1_FAMILIES = (
    "bandit-v1",
    "bandit-cue-v1",
    "tabular-mdp-v1",
    "maze-v1",
    "keys-chests-v1",
    "icl-regression-v1",
    "optimizee-v1",
)


@dataclass(frozen=True)
class SuiteRule:
    """What an entry on one suite version must satisfy.

    Attributes:
        id: suite id as results files carry it (``SuiteInfo.id``).
        version: suite version (``SuiteInfo.version``).
        min_seeds: distinct seeds needed for every family an entry reports.
        families: family ids the suite contains; ``None`` accepts any family.
        board: ``ranked`` for suite entries, ``ad-hoc`` for stand-alone evaluations.
    """

    id: str
    version: int
    min_seeds: int
    families: tuple[str, ...] | None
    board: str = RANKED

    @property
    def key(self) -> str:
        """Returns ``id@version``, the suite's name in tables and URLs."""
        return f"{self.id}@{self.version}"


SUITES: dict[tuple[str, int], SuiteRule] = {
    (rule.id, rule.version): rule
    for rule in (
        SuiteRule("mesa-v1", 1, min_seeds=10, families=V1_FAMILIES),
        SuiteRule("mesa-v1-quick", 1, min_seeds=3, families=V1_FAMILIES),
        SuiteRule("mesa-v1", 2, min_seeds=10, families=V1_FAMILIES),
        SuiteRule("mesa-v1-quick", 2, min_seeds=3, families=V1_FAMILIES),
        SuiteRule("mesa-v1-quick", 3, min_seeds=3, families=V1_FAMILIES),
        SuiteRule("mesa-v1", 3, min_seeds=10, families=V1_FAMILIES),
        SuiteRule("mesa-v1-quick", 4, min_seeds=3, families=V1_FAMILIES),
        SuiteRule("mesa-v1-smoke", 1, min_seeds=2, families=V1_FAMILIES, board=AD_HOC),
        SuiteRule("none", 0, min_seeds=1, families=None, board=AD_HOC),
    )
}


def suite_ids() -> list[str]:
    """Returns the known suite ids, sorted."""
    return sorted({rule.id for rule in SUITES.values()})


def known_versions(suite_id: str) -> list[int]:
    """Returns the known versions of ``suite_id`` (empty when the id is unknown)."""
    return sorted(v for (s, v) in SUITES if s == suite_id)

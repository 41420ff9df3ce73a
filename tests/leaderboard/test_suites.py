"""The leaderboard's suite table agrees with the suites the benchmark registers."""

from __future__ import annotations

from leaderboard.suites import RANKED, SUITES, V1_FAMILIES
from mesa_bench.registry import FAMILIES
from mesa_bench.running.suites import SUITES as REGISTERED


def test_every_registered_suite_is_known_with_its_version_and_seeds():
    for name in REGISTERED.names():
        suite = REGISTERED.get(name)
        if not suite.publishable:  # a sweep's points repeat (family, seed): never an entry
            continue
        rule = SUITES.get((suite.name, suite.version))
        assert rule is not None, f"leaderboard does not accept {suite.name}@{suite.version}"
        assert rule.min_seeds == suite.min_seeds, suite.name
        for entry in suite.entries:
            assert FAMILIES.get(entry.family).spec.id in rule.families, (suite.name, entry)


def test_suite_v1_families_exist_and_ranked_suites_are_the_spec_ones():
    assert {FAMILIES.get(n).spec.id for n in FAMILIES.names()} >= set(V1_FAMILIES)
    ranked = {(r.id, r.min_seeds) for r in SUITES.values() if r.board == RANKED}
    assert ranked == {("mesa-v1", 10), ("mesa-v1-quick", 3)}

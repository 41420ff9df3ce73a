"""The versioned suites name only registered families, methods and splits."""

import pytest

from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.running.suites import SUITES, get_suite


@pytest.mark.parametrize("name", SUITES.names())
def test_suite_entries_resolve(name):
    suite = get_suite(name)
    assert suite.min_seeds <= suite.seeds
    for entry in suite.entries:
        family = FAMILIES.get(entry.family)(FAMILIES.get(entry.family).config_class(**entry.task))
        for split in entry.splits:
            family.check_split(split)
        for method, budget in entry.methods.items():
            method_entry = METHODS.get(method)(method)
            assert method_entry.applies_to(family), (method, entry.family)
            assert (budget == 0) == method.startswith("reference/"), method


@pytest.mark.parametrize("name", SUITES.names())
def test_every_reference_of_each_family_is_run(name):
    for entry in get_suite(name).entries:
        refs = {m.removeprefix("reference/") for m in entry.methods if m.startswith("reference/")}
        assert refs == set(FAMILIES.get(entry.family).spec.references)


def test_quick_suite_covers_every_family_and_baseline():
    suite = get_suite("mesa-v1-quick")
    assert {e.family for e in suite.entries} == set(FAMILIES.names())
    trained = {m for m in METHODS.names() if not m.startswith("reference/")}
    assert trained <= set(suite.methods())


def test_method_filter_refuses_unknown_methods():
    with pytest.raises(ValueError, match="has no method 'rl3'"):
        get_suite("mesa-v1-smoke").jobs(["rl3"])

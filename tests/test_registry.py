import pytest

from mesa_bench.registry import FAMILIES, METHODS, Registry, RegistryError, load_target


def test_refuses_duplicates():
    reg = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a", 2)


def test_suggests_near_names():
    reg = Registry("task")
    reg.register("bandit", 1)
    reg.register("maze", 2)
    with pytest.raises(RegistryError, match="did you mean 'bandit'"):
        reg.get("bandt")


def test_unknown_without_near_name_lists_known():
    reg = Registry("task")
    reg.register("bandit", 1)
    with pytest.raises(RegistryError, match=r"known: bandit") as err:
        reg.get("zzzzzz")
    assert "did you mean" not in str(err.value)


def test_lazy_targets_are_imported_on_first_use():
    reg = Registry("thing")
    reg.register("join", "os.path:join")
    assert reg.get("join") is load_target("os.path:join")


def test_bad_target_string():
    with pytest.raises(ValueError, match="module:attr"):
        load_target("os.path.join")


def test_entry_points_fill_the_registries():
    assert "bandit" in FAMILIES.names()
    for ref in ("thompson", "random", "ucb1", "greedy"):
        assert f"reference/{ref}" in METHODS.names()

"""``make demo``'s selection: the quick suite's bandit and maze references, rl2, memoryless."""

from mesa_bench.running.demo import DEMO_FAMILIES, DEMO_SUITE, demo_methods
from mesa_bench.running.suite_cli import Selection
from mesa_bench.running.suites import get_suite


def test_demo_runs_references_rl2_and_memoryless_on_bandit_and_maze(tmp_path):
    suite = get_suite(DEMO_SUITE)
    jobs = Selection(suite, demo_methods(suite), DEMO_FAMILIES, str(tmp_path)).jobs()
    trained = {j.method for j in jobs if not j.method.startswith("reference/")}
    assert trained == {"rl2", "memoryless"}
    assert {j.family for j in jobs} == {"bandit", "maze"}
    # every reference of both families, 3 seeds each: 4 + 3 references, 2 trained methods
    assert len(jobs) == (4 + 3 + 2 * 2) * 3
    # suite v3: rl2 competent on both families at these (README); the memoryless bandit
    # control at 0.5M, since it cannot learn a bandit at any budget
    budgets = {(j.method, j.family): j.budget for j in jobs}
    assert budgets[("rl2", "bandit")] == 3_000_000 and budgets[("rl2", "maze")] == 2_000_000
    assert budgets[("memoryless", "bandit")] == 500_000

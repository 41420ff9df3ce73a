"""``make demo``: the quick suite's methods and references on bandit and maze.

Runs ``rl2``, ``memoryless`` and every reference of the ``bandit`` and ``maze`` entries of
``mesa-v1-quick`` (3 seeds each) on two local workers, then the report and the local
leaderboard, and prints where everything is. Since suite v2 the budgets are ones at which
rl2 is competent on both families and memoryless on the maze, so the report shows in-context
learning on the bandit and goal misgeneralization on the maze. The suite's dpt and ad runs
on the bandit are left to ``suite run`` (about 10 more CPU-minutes).
``--references-only`` evaluates just the bandit references (seconds, no training).
"""

from __future__ import annotations

import time

from mesa_bench.protocol.entry import MethodConfig
from mesa_bench.registry import FAMILIES
from mesa_bench.reporting.tables import console_for_tables, run_table
from mesa_bench.running import jobs
from mesa_bench.running.config import RunConfig

DEMO_SUITE = "mesa-v1-quick"
DEMO_FAMILIES = ["bandit", "maze"]
DEMO_LAUNCHER = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
DEMO_TRAINED = ("rl2", "memoryless")


def demo_methods(suite) -> list[str]:
    """Returns the references and ``DEMO_TRAINED`` methods of the demo families' entries."""
    return list(
        dict.fromkeys(
            method
            for entry in suite.entries
            if entry.family in DEMO_FAMILIES
            for method in entry.methods
            if method.startswith("reference/") or method in DEMO_TRAINED
        )
    )


def run_demo(out: str, n_eval: int, references_only: bool = False) -> int:
    """Runs the demo; returns the exit status."""
    if references_only:
        return bandit_references(out, n_eval)
    from mesa_bench.reporting import report
    from mesa_bench.results import read_results
    from mesa_bench.running.suite_cli import Selection, run_selection
    from mesa_bench.running.suites import get_suite

    console = console_for_tables()
    start = time.perf_counter()
    suite = get_suite(DEMO_SUITE)
    sel = Selection(suite, demo_methods(suite), DEMO_FAMILIES, out)
    console.print(f"mesa-bench demo: {len(sel.jobs())} runs of {DEMO_SUITE} on {DEMO_FAMILIES}")
    status = run_selection(sel, DEMO_LAUNCHER)
    bundles = sorted((sel.dir / "bundles").glob("*.json"))
    files = [read_results(p) for p in bundles]
    for table in report.report_tables(report.build_report(files, [str(p) for p in bundles])):
        console.print(table)
    console.print(f"runs: {sel.dir}")
    console.print(f"report: {sel.dir / 'report'}")
    console.print(f"leaderboard: {sel.dir / 'leaderboard.md'} and {sel.dir / 'leaderboard.html'}")
    console.print(f"done in {(time.perf_counter() - start) / 60:.1f} min")
    return status


def bandit_references(out: str, n_eval: int) -> int:
    """Evaluates every bandit reference on test and long-horizon; prints the table."""
    console = console_for_tables()
    family_cls = FAMILIES.get("bandit")
    done = []
    for ref in family_cls.spec.references:
        cfg = RunConfig(
            task=family_cls.config_class(name="bandit"),
            method=MethodConfig(name=f"reference/{ref}"),
            n_eval=n_eval,
            out=out,
        )
        with console.status(f"evaluating reference/{ref} on {family_cls.spec.id}"):
            done.append(jobs.run(cfg))
    console.print(
        run_table(
            f"{family_cls.spec.id}: normalized score (thompson = 1, random = 0)",
            [(r.results.method.name, r.results.runs[0]) for r in done],
        )
    )
    for r in done:
        console.print(f"{r.results.method.name}: results {r.results_path}; wandb {r.wandb_dir}")
    return 0

"""``make demo``: the bandit references on ``test`` and ``long-horizon``, with 95% CIs."""

from __future__ import annotations

import time

from mesa_bench import jobs
from mesa_bench.config import RunConfig
from mesa_bench.methods import MethodConfig
from mesa_bench.registry import FAMILIES
from mesa_bench.report_text import console_for_tables, run_table

DEMO_FAMILY = "bandit"


def run_demo(out: str, n_eval: int) -> int:
    """Evaluates every reference of the bandit family; prints the table and paths."""
    console = console_for_tables()
    family_cls = FAMILIES.get(DEMO_FAMILY)
    start = time.perf_counter()
    done = []
    for ref in family_cls.spec.references:
        name = f"reference/{ref}"
        cfg = RunConfig(
            task=family_cls.config_class(name=DEMO_FAMILY),
            method=MethodConfig(name=name),
            n_eval=n_eval,
            out=out,
            suite="demo",
        )
        with console.status(f"evaluating {name} on {family_cls.spec.id}"):
            done.append(jobs.run(cfg))
    console.print(
        run_table(
            f"{family_cls.spec.id}: normalized score (thompson = 1, random = 0)",
            [(r.results.method.name, r.results.runs[0]) for r in done],
        )
    )
    for r in done:
        console.print(f"{r.results.method.name}: results {r.results_path}; wandb {r.wandb_dir}")
    console.print(f"done in {time.perf_counter() - start:.1f} s")
    return 0

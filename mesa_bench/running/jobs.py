"""One run end to end: build the family and method, train, evaluate, write, track."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.core import TaskFamily
from mesa_bench.protocol.entry import MethodEntry, TrainContext, Trained
from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.reporting.run_rows import split_rows
from mesa_bench.results import MethodInfo, ResultsFile, SuiteInfo, provenance, write_results
from mesa_bench.running import layout
from mesa_bench.running.config import RunConfig
from mesa_bench.tracking import Tracker


@dataclass
class JobResult:
    """Where a run's results went and what they hold."""

    results_path: Path
    results: ResultsFile
    wandb_dir: Path | None


def build(cfg: RunConfig) -> tuple[TaskFamily, MethodEntry]:
    """Returns the family and method a config names; raises with a clear reason."""
    family = FAMILIES.get(cfg.task.name)(cfg.task)
    entry = METHODS.get(cfg.method.name)(cfg.method.name, cfg.method)
    if not entry.applies_to(family):
        raise ValueError(
            f"method {entry.name!r} does not apply to task {cfg.task.name!r} "
            f"(kind {family.spec.kind}); see `mesa-bench methods`"
        )
    for split in cfg.splits or ():
        family.check_split(split)
    if cfg.n_eval < 1:
        raise ValueError(f"n_eval must be at least 1, got {cfg.n_eval}")
    return family, entry


def suite_info(name: str) -> SuiteInfo:
    """Returns the id and version of suite ``name`` (``none`` for a stand-alone run)."""
    from mesa_bench.running.suites import SUITES, get_suite

    if name == "none":
        return SuiteInfo()
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r} (known: none, {', '.join(SUITES.names())})")
    return SuiteInfo(id=name, version=get_suite(name).version)


def run_dir(cfg: RunConfig) -> Path:
    """Returns the folder of one run's files (a sweep point's folder names the point)."""
    task = cfg.variant or cfg.task.name
    return layout.run_dir(cfg.out, cfg.suite, cfg.method.name, task, cfg.seed)


def run(cfg: RunConfig) -> JobResult:
    """Trains (if the method trains) and evaluates; writes the results file."""
    family, entry = build(cfg)
    budget = cfg.budget if cfg.budget is not None else entry.default_budget

    def train(evaluator: Evaluator, ctx: TrainContext) -> Trained:
        return entry.train(family, evaluator, budget, cfg.seed, ctx)

    return execute(cfg, family, budget, run_dir(cfg), train)


def execute(
    cfg: RunConfig,
    family: TaskFamily,
    budget: int,
    out: Path,
    obtain: Callable[[Evaluator, TrainContext], Trained],
    label: str = "",
) -> JobResult:
    """Gets the trained method from ``obtain`` (training or loading it), scores it on every
    split, writes ``out/results.json`` and mirrors it to the tracker."""
    name = f"{cfg.method.name}|{family.spec.id}|seed{cfg.seed}{label}"
    tracker = Tracker(
        cfg.tracking,
        out,
        Path(cfg.out),
        name=name,
        group=f"{cfg.suite}/{cfg.method.name}",
        job_type=family.spec.id,
        run_config=dataclasses.asdict(cfg),
    )
    try:
        evaluator = Evaluator(
            family, cfg.seed, budget, cfg.n_eval, cfg.eval_seed, cfg.splits, log=tracker.log
        )
        trained = obtain(evaluator, TrainContext(run_dir=out, device=cfg.device, log=tracker.log))
        record = evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)
        results = ResultsFile(
            suite=suite_info(cfg.suite),
            method=MethodInfo(
                name=cfg.method.name,
                version=cfg.method.version,
                description=cfg.method.description,
                code_url=cfg.method.code_url,
            ),
            provenance=provenance(cfg.device, trained.runtime),
            config=dataclasses.asdict(cfg),
            runs=[record],
        )
        path = write_results(results, out / layout.RESULTS)
        tracker.summary({f"final/{r['split']}/score": r["score"] for r in split_rows(record)})
        tracker.log_results(path, "results-" + name.replace("|", "-"))
    finally:
        tracker.finish()
    return JobResult(path, results, tracker.run_dir)

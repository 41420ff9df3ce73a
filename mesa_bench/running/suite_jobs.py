"""``mesa-bench suite run``: a suite's jobs through Hydra's launchers, resumable.

The parent expands the suite into a job list and hands Hydra a sweep over job indices
(``job=range(0,N)``), so the basic, joblib and submitit launchers run them alike. A job
whose results file already exists and validates is skipped, which is what makes an
interrupted suite resume; if that file was made with another config (a method default or a
suite budget changed since), the job fails naming the fields and the file is kept, so that a
suite is never resumed into a mix of settings. Each job writes a status file; the parent
watches those for the progress display, then merges results into one bundle per method,
writes the report and publishes to the local leaderboard.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mesa_bench.metrics.sweep import parse_variant
from mesa_bench.protocol.checkpoint import DESCRIPTIVE_FIELDS, differences, shown_differences
from mesa_bench.registry import FAMILIES, METHODS, Registry
from mesa_bench.results import ResultsError, ResultsFile, read_results
from mesa_bench.running import layout
from mesa_bench.running.config import RunConfig
from mesa_bench.running.suites import Job, Suite, get_suite
from mesa_bench.tracking import TrackingConfig

# Where bundles go once a suite is collected; the leaderboard package registers "local".
PUBLISHERS: Registry = Registry("publisher", "mesa_bench.publishers")


@dataclass
class SuiteRunConfig:
    """A suite run (one Hydra job per suite job).

    Attributes:
        suite: suite name, e.g. ``mesa-v1-quick``.
        methods: only these methods of the suite (all when empty).
        families: only these families of the suite (all when empty).
        seeds: only the first this many seeds (all the suite's when None).
        job: index into the suite's job list (set by the sweep).
        task_overrides: family name -> config field overrides applied to that family's
            runs (``+task_overrides.bandit.horizon=50``).
        budget: the budget of selected methods the suite does not list (an outside
            method's); None for each such method's default budget.
        out: output folder.
        tracking: wandb settings.
        device: ``auto``, ``cpu`` or ``cuda``.
        torch_threads: at most this many torch threads for each run of a method that has
            the setting (its own default, or torch's, is lowered to it); 0 for this
            machine's CPUs shared out among the launcher's parallel jobs
            (``hydra.launcher.n_jobs``), so that parallel runs do not oversubscribe the CPUs.
            It changes speed, not results.
    """

    suite: str = "mesa-v1-quick"
    methods: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    seeds: int | None = None
    job: int = -1
    budget: int | None = None
    task_overrides: dict[str, Any] = field(default_factory=dict)
    out: str = "runs"
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    device: str = "auto"
    torch_threads: int = 0


def run_config(cfg: SuiteRunConfig, suite: Suite, job: Job) -> RunConfig:
    """Returns the single-run config of ``job``; refuses an override of its sweep field."""
    overrides = cfg.task_overrides.get(job.family, {})
    if job.variant is not None and parse_variant(job.variant)[1] in overrides:
        raise ValueError(
            f"task_overrides.{job.family}.{parse_variant(job.variant)[1]} would override the "
            f"sweep point {job.variant}; select points with family= and seeds= instead"
        )
    family_cls = FAMILIES.get(job.family)
    METHODS.check(job.method)
    method = METHODS.get(job.method).config_class(name=job.method)
    if hasattr(method, "torch_threads") and cfg.torch_threads > 0:
        own = method.torch_threads  # 0: torch's default, every CPU
        method.torch_threads = min(own, cfg.torch_threads) if own > 0 else cfg.torch_threads
    return RunConfig(
        task=family_cls.config_class(name=job.family, **{**job.task, **overrides}),
        method=method,
        seed=job.seed,
        budget=job.budget,
        n_eval=suite.n_eval,
        splits=list(job.splits) or None,
        out=cfg.out,
        suite=suite.name,
        tracking=cfg.tracking,
        device=cfg.device,
        variant=job.variant,
    )


def selected_suite(name: str, methods: list[str], budget: int | None = None) -> Suite:
    """Returns suite ``name`` with each of ``methods`` that it does not list added on every
    family of the suite the method applies to, at ``budget`` (or the method's default), so
    a method from another package runs on the suite's families, seeds and evaluation."""
    suite = get_suite(name)
    outside = [m for m in methods if m not in suite.methods()]
    if not outside:
        return suite
    entries, placed = [], set()
    for e in suite.entries:
        family_cls = FAMILIES.get(e.family)
        family = family_cls(family_cls.config_class(name=e.family, **e.task))
        extra = {}
        for method in outside:
            entry = METHODS.get(method)(method)
            if entry.applies_to(family):
                extra[method] = entry.default_budget if budget is None else budget
                placed.add(method)
        entries.append(dataclasses.replace(e, methods={**e.methods, **extra}))
    for method in outside:
        if method not in placed:
            raise ValueError(f"method {method!r} applies to no family of suite {name!r}")
    return dataclasses.replace(suite, entries=tuple(entries))


def results_path(out: str | Path, suite: Suite, job: Job) -> Path:
    """Returns the results file of suite ``job``."""
    return layout.results_path(out, suite.name, job.method, job.folder, job.seed)


def finished(path: Path) -> ResultsFile | None:
    """Returns the results file at ``path`` if it is a valid one (a finished run), else None."""
    try:
        return read_results(path)
    except ResultsError:
        return None


# the run config's parts that decide a run's numbers (where it writes and logs do not, nor
# the device: a run may move between machines)
IDENTITY_FIELDS = ("task", "method", "seed", "budget", "n_eval", "eval_seed", "splits", "variant")


def run_identity(config: dict[str, Any]) -> dict[str, Any]:
    """Returns what of a run's stored config (``ResultsFile.config``) decides its numbers:
    ``IDENTITY_FIELDS``, the method's without its descriptive and runtime fields."""
    out = {k: config.get(k) for k in IDENTITY_FIELDS}
    method = dict(out["method"] or {})
    entry = METHODS.get(method["name"]) if method.get("name") in METHODS else None
    runtime = getattr(getattr(entry, "config_class", None), "runtime_fields", ())
    out["method"] = {k: v for k, v in method.items() if k not in {*DESCRIPTIVE_FIELDS, *runtime}}
    return out


def stale_reason(path: Path, stored: ResultsFile, rc: RunConfig) -> str | None:
    """Returns why the finished run ``stored`` (read from ``path``) is not the run ``rc``
    would make now (the fields that differ, with both values), or None when it is."""
    saved = run_identity(stored.config)
    now = run_identity(json.loads(json.dumps(dataclasses.asdict(rc), default=str)))
    diff = differences(saved, now)
    if not diff:
        return None
    return (
        f"{path} was made with another {', '.join(diff)} ({shown_differences(saved, now, diff)}); "
        "it is kept as it is: move its folder away to run this job again with today's "
        "settings, or choose another out="
    )


def status_path(out: str | Path, suite: Suite, job: Job) -> Path:
    """Returns the status file of ``job`` (named by the job, not its index in a filter)."""
    return layout.status_path(out, suite.name, job.method, job.folder, job.seed)


def write_status(path: Path, job: Job, state: str, **extra) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"job": job.label, "state": state, "time": time.time(), **extra}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    tmp.replace(path)


class StaleResults(ValueError):
    """A suite job's results file exists but was made with another config."""


def run_job(cfg: SuiteRunConfig) -> str:
    """Runs (or skips) suite job ``cfg.job``; returns its final state. Never raises."""
    from mesa_bench.running import jobs

    suite = selected_suite(cfg.suite, cfg.methods, cfg.budget)
    job = suite.jobs(cfg.methods or None, cfg.families or None, cfg.seeds)[cfg.job]
    status = status_path(cfg.out, suite, job)
    try:
        rc = run_config(cfg, suite, job)
        path = results_path(cfg.out, suite, job)
        if (stored := finished(path)) is not None:
            if reason := stale_reason(path, stored, rc):
                raise StaleResults(reason)
            write_status(status, job, "skipped")
            return "skipped"
        write_status(status, job, "running", started=time.time())
        start = time.time()
        jobs.run(rc)
        write_status(status, job, "done", seconds=time.time() - start)
        return "done"
    except Exception as e:  # one failed run must not stop the others
        stale = isinstance(e, StaleResults)
        write_status(status, job, "failed", error=f"{type(e).__name__}: {e}", stale=stale)
        if not stale:  # its message says all there is
            traceback.print_exc(file=sys.stderr)
        return "failed"


def threads_per_job(parallel_jobs: int) -> int:
    """Returns this process's CPUs shared out among ``parallel_jobs`` jobs (at least 1; a
    joblib ``n_jobs`` of -1 or less means one job per CPU)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) // parallel_jobs) if parallel_jobs > 0 else 1


def _hydra_job(dict_cfg) -> str:
    cfg = OmegaConf.to_object(dict_cfg)
    if cfg.torch_threads == 0:
        from hydra.core.hydra_config import HydraConfig

        launcher = HydraConfig.get().launcher
        cfg.torch_threads = threads_per_job(int(launcher.get("n_jobs", 1) or 1))
    return run_job(cfg)

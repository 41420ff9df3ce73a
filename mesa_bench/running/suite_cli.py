"""``mesa-bench suite run|collect|list``: the parent side of a suite run."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesa_bench.protocol.checkpoint import differences, shown_differences
from mesa_bench.results import read_results, write_results
from mesa_bench.running.layout import suite_dir
from mesa_bench.running.suite_jobs import (
    PUBLISHERS,
    SuiteRunConfig,
    _hydra_job,
    finished,
    results_path,
    run_identity,
    selected_suite,
    status_path,
)
from mesa_bench.running.suites import SUITES, Job, Suite, get_suite
from mesa_bench.tracking import Tracker, TrackingConfig

OUR_KEYS = ("suite", "method", "family", "out", "budget", "seeds")


@dataclass
class Selection:
    """A suite and the part of it to run: methods and families (all when empty), the first
    ``seeds`` seeds (all when None)."""

    suite: Suite
    methods: list[str]
    families: list[str]
    out: str
    budget: int | None = None  # of selected methods the suite does not list
    seeds: int | None = None

    @property
    def dir(self) -> Path:
        return suite_dir(self.out, self.suite.name)

    def jobs(self) -> list[Job]:
        return self.suite.jobs(self.methods or None, self.families or None, self.seeds)

    def methods_run(self) -> list[str]:
        return list(dict.fromkeys(j.method for j in self.jobs()))


def parse(args: list[str]) -> tuple[Selection, list[str]]:
    """Returns the selection named by ``suite= method= family= out= budget= seeds=`` and the
    other args; a method the suite does not list runs on the suite's families it applies to."""
    ours, rest = {}, []
    for a in args:
        key, sep, value = a.partition("=")
        if sep and key in OUR_KEYS:
            ours[key] = value
        elif a not in ("--multirun", "-m"):
            rest.append(a)
    split = lambda key: [v for v in ours.get(key, "").split(",") if v]  # noqa: E731
    budget, seeds = _integer(ours, "budget"), _integer(ours, "seeds")
    name, methods = ours.get("suite", "mesa-v1-quick"), split("method")
    selection = Selection(
        selected_suite(name, methods, budget), methods, split("family"), ours.get("out", "runs"),
        budget, seeds,
    )  # fmt: skip
    selection.jobs()  # refuses unknown families and seed counts now, with the suite's names
    return selection, rest


def _integer(ours: dict[str, str], key: str) -> int | None:
    try:
        return int(ours[key]) if key in ours else None
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {ours[key]!r}") from None


def tracking_from(overrides: list[str]) -> TrackingConfig:
    """Returns the tracking config that ``tracking.*=`` overrides describe."""
    cfg = TrackingConfig()
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.startswith("tracking.") and hasattr(cfg, key.split(".", 1)[1]):
            setattr(cfg, key.split(".", 1)[1], None if value == "null" else value)
    return cfg


def cmd_run(args: list[str]) -> int:
    """Runs the selected jobs of a suite through Hydra, then collects; returns the status."""
    sel, rest = parse(args)
    return run_selection(sel, rest)


def run_selection(sel: Selection, rest: list[str], publish: bool = True) -> int:
    """Runs ``sel`` with Hydra overrides ``rest``; collects, reports, publishes."""
    import hydra
    from hydra.core.config_store import ConfigStore

    jobs = sel.jobs()
    ConfigStore.instance().store(name="suite_run", node=SuiteRunConfig)
    overrides = [
        f"suite={sel.suite.name}",
        f"methods=[{','.join(sel.methods)}]",
        f"families=[{','.join(sel.families)}]",
        f"out={sel.out}",
        f"budget={'null' if sel.budget is None else sel.budget}",
        f"seeds={'null' if sel.seeds is None else sel.seeds}",
        f"job=range(0,{len(jobs)})",
        f"hydra.sweep.dir={sel.dir}/hydra",
        "hydra.sweep.subdir=${job}",
        *rest,
    ]
    stop = threading.Event()
    monitor = threading.Thread(target=watch, args=(sel, stop), daemon=True)
    monitor.start()
    saved = sys.argv
    sys.argv = ["mesa-bench suite run", "--multirun", *overrides]
    try:
        hydra.main(config_path=None, config_name="suite_run", version_base="1.3")(_hydra_job)()
    finally:
        sys.argv = saved
        stop.set()
        monitor.join()
    return report_and_collect(sel, tracking_from(rest), publish)


def job_states(sel: Selection) -> dict[str, dict]:
    """Returns the status record of every selected job that has one, by job label."""
    states = {}
    for job in sel.jobs():
        try:
            states[job.label] = json.loads(status_path(sel.out, sel.suite, job).read_text())
        except (OSError, ValueError):
            continue
    return states


def watch(sel: Selection, stop: threading.Event) -> None:
    """Shows runs done, running and failed and the time left, until ``stop`` is set."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    n, start = len(sel.jobs()), time.time()
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task(sel.suite.name, total=n)
        while True:
            # a status file older than this run is a leftover of an earlier one
            states = [s["state"] for s in job_states(sel).values() if s["time"] >= start]
            done = sum(s in ("done", "skipped") for s in states)
            failed, running = states.count("failed"), states.count("running")
            ended = done + failed
            eta = (time.time() - start) / ended * (n - ended) if ended else float("nan")
            bar.update(
                task,
                completed=ended,
                description=f"{sel.suite.name}: {done}/{n} done, {running} running, "
                f"{failed} failed, ~{eta / 60:.1f} min left",
            )
            if stop.is_set():
                break  # after one last update, so the display ends on the final counts
            stop.wait(1.0)


def collect(sel: Selection, leave_out: frozenset[str] = frozenset()) -> dict[str, Path]:
    """Merges finished runs into one results bundle per method, except the jobs labelled in
    ``leave_out``; returns the bundles' paths. Raises ValueError if one method's runs were
    made with different settings."""
    bundles = {}
    for method in sel.methods_run():
        found = {}
        for job in sel.jobs():
            path = results_path(sel.out, sel.suite, job)
            if job.method != method or job.label in leave_out:
                continue
            if (stored := finished(path)) is not None:
                found[path] = stored
        if not found:
            continue
        check_one_setting(found)
        files = list(found.values())
        bundle = files[0].model_copy(
            update={
                "runs": [run for f in files for run in f.runs],
                # each run's own config, from which readers rebuild its family to calibrate
                # the match (mesa_bench.evaluation.calibrations); without it, not measured
                "config": {
                    "suite": sel.suite.name,
                    "method": method,
                    "bundle": [f.config for f in files],
                },
            }
        )
        bundle.suite.version = sel.suite.version
        name = method.replace("/", "-")
        bundles[method] = write_results(bundle, sel.dir / "bundles" / f"{name}.json")
    return bundles


def check_one_setting(found: dict[Path, Any]) -> None:
    """Raises ValueError naming two runs of one method (results files by path) at one family
    and sweep point that were made with different settings: the method's config, budget or
    evaluation, or the task's config. Runs on different families may differ: a suite gives
    each family its own budget and method settings."""
    first: dict[Any, tuple[Path, dict]] = {}
    for path, results in found.items():
        ident = run_identity(results.config)
        ident.pop("seed")
        task, point = ident.pop("task") or {}, ident.pop("variant")  # a sweep point's own
        where = (task.get("name"), point)
        for key, part in (("run", ident), ("task", task)):
            seen = first.setdefault((where, key), (path, part))
            if diff := differences(seen[1], part):
                shown = shown_differences(seen[1], part, diff, ("in the first", "in the second"))
                raise ValueError(
                    f"{seen[0]} and {path} were made with different {', '.join(diff)} "
                    f"({shown}); "
                    "one bundle must hold one setting: move the older runs' folders away "
                    "and run the suite again"
                )


def write_report(paths: list[Path], out: Path) -> Path:
    """Writes the metrics report of the bundles at ``paths`` to ``out``; returns the folder."""
    from mesa_bench.reporting import report

    files = [read_results(p) for p in paths]
    return report.write_report(report.build_report(files, [str(p) for p in paths]), out)


def mirror(sel: Selection, bundles: dict[str, Path], report: Path, tracking) -> None:
    """Logs the bundles and the report to wandb as artifacts of one ``collect`` run."""
    tracker = Tracker(
        tracking,
        sel.dir,
        Path(sel.out),
        name=f"{sel.suite.name}|collect",
        group=sel.suite.name,
        job_type="collect",
        run_config={
            "suite": sel.suite.name,
            "version": sel.suite.version,
            "methods": list(bundles),
        },
    )
    try:
        for method, path in bundles.items():
            tracker.log_artifact(path, f"bundle-{sel.suite.name}-{method}", "bundle")
        tracker.log_artifact(report, f"report-{sel.suite.name}", "report")
    finally:
        tracker.finish()
    if tracker.run_dir is not None:
        print(f"wandb run: {tracker.run_dir}")


def report_and_collect(sel: Selection, tracking: TrackingConfig, publish: bool = True) -> int:
    """Collects bundles, writes the report, publishes; returns non-zero if a job failed."""
    states = job_states(sel)
    failed = {label: s for label, s in states.items() if s["state"] == "failed"}
    missing = [job for job in sel.jobs() if job.label not in states]
    for label, s in failed.items():  # first: a later step may stop with an error of its own
        print(f"FAILED {label}: {s.get('error', '')}", file=sys.stderr)
    # runs made with other settings stay on disk but out of the bundles (run_job says why)
    stale = frozenset(k for k, s in failed.items() if s.get("stale"))
    if stale and publish:
        publish = False
        print(
            f"not published: {len(stale)} run(s) made with other settings were left out of the "
            "bundles (FAILED ... StaleResults above)",
            file=sys.stderr,
        )
    bundles = collect(sel, stale)
    for method, path in bundles.items():
        print(f"bundle {method}: {path}")
    if bundles:
        report = write_report(list(bundles.values()), sel.dir / "report")
        print(f"report: {report}")
        mirror(sel, bundles, report, tracking)
        if publish and not sel.suite.publishable:
            print(
                f"{sel.suite.name} is a sweep: its points repeat (family, seed), so its "
                "bundles are read by the report, not published to a leaderboard"
            )
        elif publish:
            for name in PUBLISHERS.names():
                where = PUBLISHERS.get(name)(list(bundles.values()), sel.dir)
                print(f"leaderboard ({name}): {where}")
    if missing:
        print(f"{len(missing)} job(s) never started", file=sys.stderr)
    return 1 if failed or missing else 0


def cmd_collect(args: list[str]) -> int:
    sel, rest = parse(args)
    return report_and_collect(sel, tracking_from(rest))


def cmd_list(args: list[str]) -> int:
    for name in SUITES.names():
        s = get_suite(name)
        points = sum(e.variant is not None for e in s.entries)
        print(
            f"{s.name} v{s.version}: {len({e.family for e in s.entries})} families"
            f"{f' at {points} sweep points' if points else ''}, {len(s.methods())} methods, "
            f"{s.seeds} seeds (min {s.min_seeds}), {len(s.jobs())} runs"
        )
    return 0


SELECTION = "suite=NAME [method=A,B] [family=X,Y] [seeds=N] [out=runs] [budget=N]"
SUBCOMMANDS = {
    "run": (
        f"mesa-bench suite run {SELECTION} [hydra/launcher=joblib|submitit_slurm ...] --multirun",
        "run a suite's jobs (finished ones are skipped), then collect",
        "Runs the selected jobs of a versioned suite through Hydra's launcher (basic, joblib, "
        "submitit_slurm), skipping every job whose results file exists and validates, so an "
        "interrupted suite resumes; then merges one bundle per method, writes the report and "
        "publishes to the local leaderboard (a sweep's bundles are reported only). A method "
        "the suite does not list (one of another package) runs on every suite family it "
        "applies to, at budget=N or its default budget. seeds=N runs only the first N "
        "seeds (a sweep built up a few seeds at a time: a later run with more seeds skips "
        "those done). Extra overrides: device=auto|cpu|cuda, "
        "tracking.mode=..., +task_overrides.FAMILY.FIELD=VALUE, hydra.launcher.*.",
    ),
    "collect": (
        f"mesa-bench suite collect {SELECTION}",
        "merge finished runs into bundles, report, publish",
        "Merges the finished runs of a suite into one results bundle per method, writes the "
        "report and publishes to the local leaderboard (a sweep's bundles are reported only), "
        "without running anything.",
    ),
    "list": (
        "mesa-bench suite list",
        "list the versioned suites",
        "Lists the registered suites: families, methods, seeds and run counts.",
    ),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Adds ``suite`` and its sub-commands to the ``mesa-bench`` parser (for ``--help``;
    ``main`` runs them, since their arguments are overrides, not options)."""
    p = sub.add_parser("suite", help="run, collect or list versioned suites")
    actions = p.add_subparsers(dest="suite_command", required=True, metavar="ACTION")
    for name, (usage, summary, text) in SUBCOMMANDS.items():
        actions.add_parser(name, help=summary, usage=usage, description=text)


def main(args: list[str]) -> int:
    """Dispatches ``suite run|collect|list``."""
    commands = {"run": cmd_run, "collect": cmd_collect, "list": cmd_list}
    if not args or args[0] not in commands:
        raise ValueError(
            f"usage: mesa-bench suite {{{'|'.join(commands)}}} [key=value ...] "
            "(mesa-bench suite --help)"
        )
    return commands[args[0]](args[1:])

"""``mesa-bench suite run|collect|list``: the parent side of a suite run."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from mesa_bench.results import write_results
from mesa_bench.suite import SUITES, Suite, get_suite
from mesa_bench.suite_run import (
    PUBLISHERS,
    SuiteRunConfig,
    _hydra_job,
    finished,
    results_path,
    run_config,
    status_path,
    suite_dir,
)
from mesa_bench.tracking import Tracker, TrackingConfig


def split_overrides(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """Returns (our keys: suite, method, out) and the overrides left for Hydra."""
    ours, rest = {}, []
    for a in args:
        key, sep, value = a.partition("=")
        if sep and key in ("suite", "method", "out"):
            ours[key] = value
        elif a not in ("--multirun", "-m"):
            rest.append(a)
    return ours, rest


def cmd_run(args: list[str]) -> int:
    """Runs every job of a suite through Hydra; then collects. Returns the exit status."""
    import hydra
    from hydra.core.config_store import ConfigStore

    ours, rest = split_overrides(args)
    suite = get_suite(ours.get("suite", "mesa-v1-quick"))
    methods = [m for m in ours.get("method", "").split(",") if m]
    jobs = suite.jobs(methods or None)
    out = ours.get("out", "runs")
    ConfigStore.instance().store(name="suite_run", node=SuiteRunConfig)
    overrides = [
        f"suite={suite.name}",
        f"methods=[{','.join(methods)}]",
        f"out={out}",
        f"job=range(0,{len(jobs)})",
        f"hydra.sweep.dir={suite_dir(out, suite)}/hydra",
        "hydra.sweep.subdir=${job}",
        *rest,
    ]
    stop = threading.Event()
    monitor = threading.Thread(target=watch, args=(out, suite, len(jobs), stop), daemon=True)
    monitor.start()
    saved = sys.argv
    sys.argv = ["mesa-bench suite run", "--multirun", *overrides]
    try:
        hydra.main(config_path=None, config_name="suite_run", version_base="1.3")(_hydra_job)()
    finally:
        sys.argv = saved
        stop.set()
        monitor.join()
    return report_and_collect(out, suite, methods, tracking_from(rest))


def tracking_from(overrides: list[str]) -> TrackingConfig:
    """Returns the tracking config that ``tracking.*=`` overrides describe."""
    cfg = TrackingConfig()
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.startswith("tracking.") and hasattr(cfg, key.split(".", 1)[1]):
            setattr(cfg, key.split(".", 1)[1], None if value == "null" else value)
    return cfg


def job_states(out: str, suite: Suite, n: int) -> dict[int, dict]:
    """Returns the status record of every job that has one."""
    states = {}
    for i in range(n):
        path = status_path(out, suite, i)
        try:
            states[i] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return states


def watch(out: str, suite: Suite, n: int, stop: threading.Event) -> None:
    """Shows runs done, running and failed and the time left until ``stop`` is set."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    start = time.time()
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(suite.name, total=n)
        while True:
            states = [s["state"] for s in job_states(out, suite, n).values()]
            done = sum(s in ("done", "skipped") for s in states)
            failed, running = states.count("failed"), states.count("running")
            finished_now = done + failed
            eta = (time.time() - start) / finished_now * (n - finished_now) if finished_now else 0
            progress.update(
                task,
                completed=finished_now,
                description=f"{suite.name}: {done} done, {running} running, {failed} failed, "
                f"~{eta / 60:.1f} min left",
            )
            if stop.is_set():
                break  # after one last update, so the display ends on the final counts
            stop.wait(1.0)


def collect(out: str, suite: Suite, methods: list[str]) -> dict[str, Path]:
    """Merges finished runs into one results bundle per method; returns their paths."""
    bundles = {}
    for method in methods or suite.methods():
        files = []
        for job in suite.jobs([method]):
            path = results_path(run_config(SuiteRunConfig(suite=suite.name, out=out), suite, job))
            if finished(path):
                from mesa_bench.results import read_results

                files.append(read_results(path))
        if not files:
            continue
        bundle = files[0].model_copy(
            update={
                "runs": [run for f in files for run in f.runs],
                "config": {"suite": suite.name, "suite_version": suite.version, "method": method},
            }
        )
        bundle.suite.version = suite.version
        name = method.replace("/", "-")
        bundles[method] = write_results(bundle, suite_dir(out, suite) / "bundles" / f"{name}.json")
    return bundles


def mirror(
    out: str, suite: Suite, bundles: dict[str, Path], report: Path, tracking: TrackingConfig
) -> None:
    """Logs the bundles and the report to wandb as artifacts of one ``collect`` run."""
    tracker = Tracker(
        tracking,
        suite_dir(out, suite),
        Path(out),
        name=f"{suite.name}|collect",
        group=suite.name,
        job_type="collect",
        run_config={"suite": suite.name, "version": suite.version, "methods": list(bundles)},
    )
    try:
        for method, path in bundles.items():
            tracker.log_artifact(path, f"bundle-{suite.name}-{method}", "bundle")
        tracker.log_artifact(report, f"report-{suite.name}", "report")
    finally:
        tracker.finish()
    if tracker.run_dir is not None:
        print(f"wandb run: {tracker.run_dir}")


def report_and_collect(
    out: str,
    suite: Suite,
    methods: list[str],
    tracking: TrackingConfig | None = None,
    publish: bool = True,
) -> int:
    """Collects bundles, writes the report, publishes; returns non-zero if a job failed."""
    tracking = tracking or TrackingConfig()
    n = len(suite.jobs(methods or None))
    states = job_states(out, suite, n)
    failed = {i: s for i, s in states.items() if s["state"] == "failed"}
    missing = [i for i in range(n) if i not in states]
    bundles = collect(out, suite, methods)
    for method, path in bundles.items():
        print(f"bundle {method}: {path}")
    if bundles:
        report = write_report(list(bundles.values()), suite_dir(out, suite) / "report")
        print(f"report: {report}")
        mirror(out, suite, bundles, report, tracking)
        if publish:
            for name in PUBLISHERS.names():
                where = PUBLISHERS.get(name)(list(bundles.values()), suite_dir(out, suite))
                print(f"leaderboard ({name}): {where}")
    for _, s in sorted(failed.items()):
        print(f"FAILED {s['job']}: {s.get('error', '')}", file=sys.stderr)
    if missing:
        print(f"{len(missing)} job(s) never started", file=sys.stderr)
    return 1 if failed or missing else 0


def write_report(paths: list[Path], out: Path) -> Path:
    """Writes the metrics report of the bundles at ``paths`` to ``out``; returns the folder."""
    from mesa_bench import report
    from mesa_bench.results import read_results

    files = [read_results(p) for p in paths]
    return report.write_report(report.build_report(files, [str(p) for p in paths]), files, out)


def cmd_collect(args: list[str]) -> int:
    ours, rest = split_overrides(args)
    suite = get_suite(ours.get("suite", "mesa-v1-quick"))
    methods = [m for m in ours.get("method", "").split(",") if m]
    return report_and_collect(ours.get("out", "runs"), suite, methods, tracking_from(rest))


def cmd_list(args: list[str]) -> int:
    for name in SUITES.names():
        s = get_suite(name)
        print(
            f"{s.name} v{s.version}: {len(s.entries)} families, {len(s.methods())} methods, "
            f"{s.seeds} seeds (min {s.min_seeds}), {len(s.jobs())} runs"
        )
    return 0


def main(args: list[str]) -> int:
    """Dispatches ``suite run|collect|list``."""
    commands = {"run": cmd_run, "collect": cmd_collect, "list": cmd_list}
    if not args or args[0] not in commands:
        raise ValueError(f"usage: mesa-bench suite {{{'|'.join(commands)}}} [key=value ...]")
    return commands[args[0]](args[1:])

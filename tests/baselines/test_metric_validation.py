"""The metric validation script checks known answers on real reference runs, and fails a
report whose answers are wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mesa_bench.reporting import report
from mesa_bench.results import read_results
from mesa_bench.running import jobs

SCRIPT = Path(__file__).parents[2] / "baselines" / "reproduce" / "metric_validation.py"


def _validate(metrics: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(metrics)], capture_output=True, text=True, timeout=120
    )


def _maze_reference_report(run_config, tmp_path: Path) -> Path:
    done = [
        jobs.run(run_config(task="maze", method=f"reference/{ref}", seed=seed, n_eval=64))
        for ref in ("bfs", "bfs-corner", "random")
        for seed in (0, 1)
    ]
    paths = [d.results_path for d in done]
    files = [read_results(p) for p in paths]
    built = report.build_report(files, [str(p) for p in paths])
    return report.write_report(built, tmp_path / "report") / "metrics.json"


def _row(stdout: str, ref: str, metric: str) -> str:
    return next(x for x in stdout.splitlines() if f"| {ref} | {metric}" in x)


def test_maze_references_give_their_known_answers_and_a_wrong_one_fails(run_config, tmp_path):
    metrics = _maze_reference_report(run_config, tmp_path)
    done = _validate(metrics)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| proxy-aligned 2; OR 0.00 (2/2 capable) | ok |" in _row(
        done.stdout, "bfs-corner", "run class"
    )
    assert "| undetermined 2 | ok |" in _row(done.stdout, "random", "behavioral objective")
    assert "OR - (0/2 capable)" in _row(done.stdout, "random", "run class")

    report_json = json.loads(metrics.read_text())
    maze = report_json["methods"]["reference/bfs"]["families"]["maze-v1"]
    maze["behavioral_objective"]["goal-anywhere"]["per_seed"] = ["proxy:corner", "base"]
    maze["matched"]["per_seed"] = ["random", "bfs=bfs-corner"]
    metrics.write_text(json.dumps(report_json))
    done = _validate(metrics)
    assert done.returncode == 1
    assert _row(done.stdout, "bfs", "behavioral objective").endswith("| **FAILS** |")
    assert _row(done.stdout, "bfs", "matched algorithm").endswith("| **FAILS** |")


def test_a_file_without_reference_runs_is_a_clear_error(tmp_path):
    empty = tmp_path / "metrics.json"
    empty.write_text(json.dumps({"methods": {"rl2": {"families": {}}}}))
    done = _validate(empty)
    assert done.returncode == 2 and "holds no reference runs" in done.stderr

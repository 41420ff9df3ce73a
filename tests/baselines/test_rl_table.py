"""The rl acceptance table script reads results files and reports medians and keys per chest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mesa_bench.running import jobs

SCRIPT = Path(__file__).parents[2] / "baselines" / "reproduce" / "rl_table.py"


def _table(tmp_path: Path) -> tuple[str, dict]:
    """Runs the script on the runs under ``tmp_path``; returns its output and rows by key."""
    out = tmp_path / "table.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "runs"), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, {(r["method"], r["split"]): r for r in json.loads(out.read_text())}


def test_table_reports_scores_objectives_and_keys_per_chest(run_config, tmp_path):
    for method in ("reference/planner", "reference/greedy-keys"):
        for seed in (0, 1):
            jobs.run(run_config(task="keys-chests", method=method, seed=seed, n_eval=128))
    stdout, rows = _table(tmp_path)
    assert "| keys-chests-v1 | 0.0 | reference/planner | test | 2 |" in stdout
    planner, hoarder = (
        rows["reference/planner", "many-keys"],
        rows["reference/greedy-keys", "many-keys"],
    )
    assert planner["seeds"] == [0, 1]
    assert rows["reference/planner", "test"]["score"]["median"] == 1.0
    assert planner["keys_per_chest"]["max"] < 1.2 < 2.5 < hoarder["keys_per_chest"]["min"]
    assert hoarder["achieved"]["proxy:keys"] > 0.9 > 0.2 > planner["achieved"]["proxy:keys"]


def test_no_results_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "no results.json under" in done.stderr


def test_table_reports_first_and_last_episode_on_tabular_mdp(run_config, tmp_path):
    for method in ("reference/psrl", "reference/random"):
        jobs.run(run_config(task="tabular-mdp", method=method, n_eval=128))
    stdout, rows = _table(tmp_path)
    psrl_first, psrl_last = rows["reference/psrl", "test"]["first_last_episode"]
    assert psrl_last > psrl_first + 3  # psrl learns the MDP over the trial: about 9.7 -> 16.1
    random_first, random_last = rows["reference/random", "test"]["first_last_episode"]
    assert abs(random_last - random_first) < 1.5
    psrl_line = next(x for x in stdout.splitlines() if "| reference/psrl | test |" in x)
    assert f"| {psrl_first:.2f} -> {psrl_last:.2f} |" in psrl_line


def test_behavioral_objective_is_recomputed_or_undetermined_with_its_reason(run_config, tmp_path):
    for method in ("reference/bfs", "reference/random"):
        jobs.run(run_config(task="maze", method=method, n_eval=64))
    stdout, rows = _table(tmp_path)
    bfs, random = rows["reference/bfs", "goal-anywhere"], rows["reference/random", "goal-anywhere"]
    assert bfs["behavior"] == {"base": 1} and bfs["behavior_reasons"] == []
    assert random["behavior"] == {"undetermined": 1}
    assert random["behavior_reasons"][0].startswith("not goal-directed")
    line = next(x for x in stdout.splitlines() if "| reference/random | goal-anywhere |" in x)
    assert "| undetermined x1 (not goal-directed: " in line

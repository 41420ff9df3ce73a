"""The real ``mesa-bench`` command, run as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

EXE = shutil.which("mesa-bench") or "mesa-bench"  # PATH: see conftest.py


def cli(*args, cwd=None, env=None):
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_tasks_json_lists_the_bandit():
    out = cli("tasks", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    bandit = rows["bandit"]
    assert bandit["id"] == "bandit-v1" and bandit["kind"] == "rl"
    assert set(bandit["references"]) >= {"thompson", "random", "ucb1", "greedy"}
    assert "long-horizon" in bandit["shifts"]


def test_methods_json_lists_the_references():
    out = cli("methods", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    for ref in ("thompson", "random", "ucb1", "greedy"):
        assert "bandit" in rows[f"reference/{ref}"]["families"]


def test_unknown_task_suggests_the_near_name():
    out = cli("evaluate", "task=bandt", "method=reference/thompson")
    assert out.returncode != 0
    assert "did you mean 'bandit'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unknown_method_suggests_the_near_name():
    out = cli("evaluate", "task=bandit", "method=reference/thomson")
    assert out.returncode != 0 and "did you mean 'reference/thompson'" in out.stderr


def test_bad_value_is_refused_in_one_line(tmp_path):
    out = cli("evaluate", "task=bandit", "n_eval=0", f"out={tmp_path}", "tracking.mode=disabled")
    assert out.returncode != 0
    assert "n_eval must be at least 1" in out.stderr
    assert "Traceback" not in out.stderr


def test_malformed_override_is_refused(tmp_path):
    out = cli("evaluate", "task=bandit", "seed=abc", f"out={tmp_path}")
    assert out.returncode != 0
    assert "seed" in out.stderr and "Traceback" not in out.stderr


def run_evaluate(out_dir: Path) -> dict:
    out = cli(
        "evaluate",
        "task=bandit",
        "method=reference/thompson",
        "seed=4",
        "n_eval=50",
        f"out={out_dir}",
        "tracking.mode=disabled",
    )
    assert out.returncode == 0, out.stderr
    path = out_dir / "none/reference/thompson/bandit/seed4/results.json"
    assert f"results: {path}" in " ".join(out.stdout.split())
    data = json.loads(path.read_text())
    data.pop("provenance")  # timestamps
    data["config"].pop("out")
    for run in data["runs"]:
        run.pop("wall_time_s")  # timing, not a result
    return data


def test_same_seed_same_results_file(tmp_path):
    assert run_evaluate(tmp_path / "a") == run_evaluate(tmp_path / "b")


def test_validate_and_schema(tmp_path):
    run_evaluate(tmp_path)
    path = tmp_path / "none/reference/thompson/bandit/seed4/results.json"
    ok = cli("validate", str(path))
    assert ok.returncode == 0 and "valid" in ok.stdout
    (tmp_path / "bad.json").write_text("{}")
    bad = cli("validate", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and "invalid results" in bad.stderr
    schema = cli("schema")
    assert json.loads(schema.stdout)["title"] == "ResultsFile"


@pytest.mark.slow
def test_demo_prints_the_table_and_paths(tmp_path, wandb_env):
    env = {**os.environ}
    out = cli(
        "demo", "--references-only", "--out", str(tmp_path / "demo"), "--n-eval", "200", env=env
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for ref in ("thompson", "random", "ucb1", "greedy"):
        assert f"reference/{ref}" in text
    assert "long-horizon" in text and "results" in text and "offline-run-" in text


def test_evaluate_refuses_a_method_that_trains_naming_train():
    out = cli("evaluate", "task=bandit", "method=rl2")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "mesa-bench train method=rl2" in out.stderr


def test_train_refuses_a_reference_naming_evaluate():
    out = cli("train", "task=bandit", "method=reference/ucb1")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "mesa-bench evaluate" in out.stderr


def test_evaluate_run_scores_a_finished_run_again_and_leaves_it_alone(tmp_path):
    run_evaluate(tmp_path)
    run = tmp_path / "none/reference/thompson/bandit/seed4"
    before = (run / "results.json").read_bytes()
    out = cli("evaluate", f"run={run}", "n_eval=20", "splits=[test]", "tracking.mode=disabled")
    assert out.returncode == 0, out.stderr
    again = json.loads((run / "evaluations/n20-eval20191205-test/results.json").read_text())
    assert (run / "results.json").read_bytes() == before
    (record,) = again["runs"]
    assert record["seed"] == 4 and set(record["splits"]) == {"test"}
    assert record["splits"]["test"]["n_trials"] == 20
    assert again["config"]["run"] == str(run)


def test_evaluate_run_refuses_what_cannot_change_after_training(tmp_path):
    run_evaluate(tmp_path)
    run = tmp_path / "none/reference/thompson/bandit/seed4"
    out = cli("evaluate", f"run={run}", "seed=1")
    assert out.returncode == 2 and "'seed' cannot be changed after training" in out.stderr
    missing = cli("evaluate", f"run={tmp_path / 'nowhere'}")
    assert missing.returncode == 2 and "no finished run at" in missing.stderr

"""``mesa-bench suite run`` end to end, through Hydra's joblib and submitit launchers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from leaderboard.store import Store
from mesa_bench.api import ReferenceMethod
from mesa_bench.evaluation.calibrations import run_calibration
from mesa_bench.registry import METHODS
from mesa_bench.results import read_results
from mesa_bench.running.suite_cli import check_one_setting
from mesa_bench.running.suite_jobs import (
    SuiteRunConfig,
    run_config,
    selected_suite,
    threads_per_job,
)
from mesa_bench.running.suites import get_suite

EXE = shutil.which("mesa-bench") or "mesa-bench"  # PATH: see conftest.py
SUITE = "mesa-v1-smoke"
METHOD = "reference/random"  # in both smoke families; cheap, so the launchers are what is tested


def suite_cmd(out: Path, *extra: str) -> list[str]:
    return [
        str(EXE), "suite", "run", f"suite={SUITE}", f"method={METHOD}", f"out={out}",
        "tracking.mode=offline", *extra, "--multirun",
    ]  # fmt: skip


def run(cmd, env):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def env(wandb_env):
    return {**os.environ}


def expected_results(out: Path) -> list[Path]:
    jobs = get_suite(SUITE).jobs([METHOD])
    return [out / SUITE / j.method / j.family / f"seed{j.seed}" / "results.json" for j in jobs]


def check_outputs(out: Path) -> None:
    paths = expected_results(out)
    assert len(paths) == 4  # two families x two seeds
    for p in paths:
        assert read_results(p).runs[0].seed in (0, 1)
    bundle = read_results(out / SUITE / "bundles" / "reference-random.json")
    assert sorted((r.family, r.seed) for r in bundle.runs) == sorted(
        (read_results(p).runs[0].family, read_results(p).runs[0].seed) for p in paths
    )
    # a bundle keeps each run's config, so readers can rebuild its family and calibrate the
    # match (without it every run of a suite bundle read "not measured")
    assert all(run_calibration(run, bundle.config) is not None for run in bundle.runs)
    report = out / SUITE / "report"
    assert json.loads((report / "metrics.json").read_text())
    assert list(report.glob("*.png"))
    store = Store(str(out / SUITE / "leaderboard.sqlite"))
    try:
        rows = store.list(limit=10).rows
    finally:
        store.close()
    assert [(r.method_name, r.suite_id, r.seeds) for r in rows] == [(METHOD, SUITE, 2)]
    assert METHOD in (out / SUITE / "leaderboard.md").read_text()


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_suite_runs_on_a_launcher(tmp_path, env, launcher):
    done = run(suite_cmd(tmp_path, *launcher), env)
    assert done.returncode == 0, done.stderr[-3000:]
    check_outputs(tmp_path)
    assert "leaderboard" in done.stdout


def test_interrupted_suite_resumes_and_skips_finished_runs(tmp_path, env):
    proc = subprocess.Popen(
        suite_cmd(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        start_new_session=True,
    )  # fmt: skip
    first = expected_results(tmp_path)[0]
    deadline = time.time() + 300
    while not first.exists() and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists()
    before = first.stat().st_mtime_ns
    done = run(suite_cmd(tmp_path), env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert first.stat().st_mtime_ns == before  # not run again
    status = json.loads(next((tmp_path / SUITE / "status").glob("*bandit--seed0.json")).read_text())
    assert status["state"] == "skipped"
    check_outputs(tmp_path)


def test_a_suite_is_not_resumed_over_runs_made_with_other_settings(tmp_path, env):
    first = run(suite_cmd(tmp_path), env)
    assert first.returncode == 0, first.stderr[-3000:]
    paths = expected_results(tmp_path)
    stored = {p: p.read_bytes() for p in paths}
    # the bandit's runs now have another config than the stored ones: resuming would mix them
    again = run(suite_cmd(tmp_path, "+task_overrides.bandit.horizon=50"), env)
    assert again.returncode == 1
    assert "FAILED reference/random on bandit, seed 0: StaleResults" in again.stderr
    assert "task.horizon: 100 saved, 50 now" in again.stderr
    assert "Traceback" not in again.stderr
    assert "not published: 2 run(s) made with other settings" in again.stderr
    assert {p: p.read_bytes() for p in paths} == stored  # nothing stored is altered
    bundle = read_results(tmp_path / SUITE / "bundles" / "reference-random.json")
    assert sorted(r.family for r in bundle.runs) == ["maze-v1", "maze-v1"]  # stale ones left out
    # `suite collect` alone refuses a bundle that would mix settings
    a, b = [p for p in paths if "/bandit/" in str(p)]
    ra, rb = read_results(a), read_results(b)
    check_one_setting({a: ra, b: rb})  # the seeds differ, the settings do not
    other = rb.model_copy(update={"config": {**rb.config, "n_eval": 7}})
    with pytest.raises(ValueError, match=r"different n_eval \(n_eval: 16 in the first, 7 in the"):
        check_one_setting({a: ra, b: other})
    # a suite gives each family its own settings (mesa-v1-quick: rl2 3M on the bandit, 0.5M
    # on bandit-cue), so runs on two families may differ
    m = next(p for p in paths if "/maze/" in str(p))
    rm = read_results(m)
    check_one_setting(
        {a: ra, b: rb, m: rm.model_copy(update={"config": {**rm.config, "n_eval": 7}})}
    )


def test_a_failed_run_is_reported_and_the_others_finish(tmp_path, env):
    done = run(suite_cmd(tmp_path, "+task_overrides.bandit.horizon=0"), env)
    assert done.returncode != 0
    assert "FAILED reference/random on bandit" in done.stderr
    assert "task.horizon must be at least 1" in done.stderr
    paths = expected_results(tmp_path)
    maze = [p for p in paths if "/maze/" in str(p)]
    assert not [p for p in paths if p not in maze and p.exists()]  # the failed runs wrote none
    runs = [(r.family, r.seed) for p in maze for r in read_results(p).runs]
    assert sorted(runs) == [("maze-v1", 0), ("maze-v1", 1)]


def test_unknown_suite_and_method_are_refused(tmp_path, env):
    bad = run([str(EXE), "suite", "run", "suite=mesa-v1-quik", f"out={tmp_path}"], env)
    assert bad.returncode == 2 and "did you mean 'mesa-v1-quick'" in bad.stderr
    bad = run([str(EXE), "suite", "run", f"suite={SUITE}", "method=rl3", f"out={tmp_path}"], env)
    assert bad.returncode == 2 and "unknown method 'rl3'; did you mean 'rl2'" in bad.stderr
    off = [str(EXE), "suite", "run", f"suite={SUITE}", "method=lstm-optimizer", f"out={tmp_path}"]
    bad = run(off, env)
    assert bad.returncode == 2 and "applies to no family of suite" in bad.stderr


@pytest.fixture
def outside_method(monkeypatch):
    """A method of another package: registered, listed by no suite (ucb1 under a new name)."""
    monkeypatch.setitem(METHODS._targets, "outside/ucb1", "mesa_bench.api:ReferenceMethod")
    monkeypatch.setattr(ReferenceMethod, "reference", property(lambda self: "ucb1"))
    return "outside/ucb1"


def test_a_method_the_suite_does_not_list_runs_on_the_families_it_applies_to(outside_method):
    suite = selected_suite(SUITE, [outside_method], budget=7)
    jobs = suite.jobs([outside_method])
    # ucb1 is a bandit algorithm: the suite's bandit family, its two seeds, at budget 7
    assert [(j.family, j.seed, j.budget) for j in jobs] == [("bandit", 0, 7), ("bandit", 1, 7)]
    assert suite.version == get_suite(SUITE).version
    assert selected_suite(SUITE, ["rl2"]) == get_suite(SUITE)  # listed methods: unchanged


def test_parallel_runs_share_the_cpus_out_and_no_run_gains_threads():
    cpus = len(os.sched_getaffinity(0))
    assert threads_per_job(1) == cpus
    assert threads_per_job(2) == max(1, cpus // 2)
    assert threads_per_job(cpus * 4) == 1
    assert threads_per_job(-1) == 1  # joblib's one job per CPU
    suite = selected_suite("mesa-v1-quick", ["rl2", "icl-transformer"])
    rl2 = next(j for j in suite.jobs() if j.method == "rl2")
    icl = next(j for j in suite.jobs() if j.method == "icl-transformer")
    shared = SuiteRunConfig(suite="mesa-v1-quick", torch_threads=3)
    assert run_config(shared, suite, rl2).method.torch_threads == 3  # torch's default lowered
    assert run_config(shared, suite, icl).method.torch_threads == 1  # its own 1 kept
    assert run_config(SuiteRunConfig(suite="mesa-v1-quick"), suite, rl2).method.torch_threads == 0

"""The third-party method package of ``docs/adding-a-method.md`` (``examples/``), end to end.

The package is installed with pip into a temporary folder, as an outside user would install
it, and found by ``mesa-bench`` only through its ``mesa_bench.methods`` entry point
(``PYTHONPATH`` puts its ``.dist-info`` on the path of the subprocesses). It is listed,
trained, re-evaluated from its run folder, reported, and submitted to a real leaderboard
server. In-process tests check that it resumes where a killed run stopped, that its rl and
sequence examples follow their protocols, and that the guide quotes the package verbatim.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from mesa_bench.api import TrainContext
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.sequence import check_causal
from mesa_bench.registry import FAMILIES

from servers import Server

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "examples" / "mesa-bench-example"
GUIDE = ROOT / "docs" / "adding-a-method.md"
ALLOWED_IMPORTS = ("mesa_bench.api", "torch", "numpy", "__future__", "math", "dataclasses")
ALLOWED_IMPORTS += ("typing",)
SEEDS = (0, 1, 2)  # mesa-v1-quick takes entries of at least 3 seeds per family


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Returns a folder holding the example package installed by pip, with its entry point."""
    root = tmp_path_factory.mktemp("example")
    source = root / "source"  # a copy: pip's build folders stay out of the checkout
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
    pip += ["--no-index", "--quiet", "--target", str(target), str(source)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    assert list(target.glob("mesa_bench_example-*.dist-info/entry_points.txt"))
    return target


def mesa_bench(site: Path, *args: str, cwd: Path, timeout: float = 300) -> str:
    """Runs ``mesa-bench ARGS`` with the example on the path; returns its stdout."""
    exe = shutil.which("mesa-bench")
    assert exe is not None, "mesa-bench is not on PATH"
    env = {**os.environ, "PYTHONPATH": str(site), "WANDB_MODE": "offline"}
    done = subprocess.run(
        [exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"mesa-bench {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_installed_package_is_listed_trained_reevaluated_reported_and_submitted(site, tmp_path):
    listed = json.loads(mesa_bench(site, "methods", "--json", cwd=tmp_path))
    rows = {row["name"]: row for row in listed}
    assert "optimizee" in rows["learned-schedule"]["families"]
    assert rows["learned-schedule"]["trainable"]

    # --- train: three seeds of a tiny run, named as mesa-v1-quick runs ---
    runs = tmp_path / "runs"
    train = ["train", "task=optimizee", "method=learned-schedule", "budget=1200"]
    train += ["method.batch=4", "n_eval=8", "splits=[test]", "suite=mesa-v1-quick"]
    train += ["tracking.mode=disabled", f"out={runs}", f"seed={','.join(map(str, SEEDS))}"]
    mesa_bench(site, *train, "--multirun", cwd=tmp_path)
    run_dirs = [
        runs / "mesa-v1-quick" / "learned-schedule" / "optimizee" / f"seed{s}" for s in SEEDS
    ]
    for run_dir in run_dirs:
        record = json.loads((run_dir / "results.json").read_text())
        run = record["runs"][0]
        assert record["method"]["name"] == "learned-schedule"
        assert run["budget"] == 1200  # three meta-steps of 4 problems x 100 inner steps
        assert [c["budget"] for c in run["curve"]][-1] == 1200
        assert run["matches"]["test"]["points"], "the optimizer's updates were not matched"

    # --- evaluate run=: the final schedule reloaded from the run folder, not retrained ---
    out = mesa_bench(site, "evaluate", f"run={run_dirs[0]}", "n_eval=8", cwd=tmp_path)
    again = json.loads(next((run_dirs[0] / "evaluations").rglob("results.json")).read_text())
    first = json.loads((run_dirs[0] / "results.json").read_text())
    assert again["runs"][0]["splits"]["test"]["performance"] == pytest.approx(
        first["runs"][0]["splits"]["test"]["performance"]
    )
    assert "results:" in out

    # --- report ---
    files = [str(d / "results.json") for d in run_dirs]
    mesa_bench(site, "report", *files, "--out", str(tmp_path / "report"), cwd=tmp_path)
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert "learned-schedule" in json.dumps(metrics)

    # --- submit to a local leaderboard ---
    db = tmp_path / "board.sqlite"
    mesa_bench(site, "leaderboard", "migrate", "--db", str(db), cwd=tmp_path)
    token = mesa_bench(
        site, "leaderboard", "add-submitter", "tester", "--db", str(db), cwd=tmp_path
    )
    server = Server(db).start()
    try:
        submit = ["submit", *files, "--server", server.url, "--token", token.strip()]
        out = mesa_bench(site, *submit, cwd=tmp_path)
        assert "stored as a new entry" in out
        entries = httpx.get(server.url + "/api/v1/entries", timeout=30).json()
    finally:
        server.stop()
    mine = [e for e in entries["entries"] if e["method"]["name"] == "learned-schedule"]
    assert len(mine) == 1
    assert mine[0]["suite"]["id"] == "mesa-v1-quick"


# --- in process: the package's modules imported from the checkout ---


@pytest.fixture
def example(monkeypatch):
    """Puts the example package on ``sys.path`` and returns its modules."""
    monkeypatch.syspath_prepend(str(PACKAGE))
    from mesa_example import context_gd, schedule, softmax_bandit

    yield schedule, softmax_bandit, context_gd
    for name in [n for n in sys.modules if n.startswith("mesa_example")]:
        del sys.modules[name]


class Killed(Exception):
    """Stands for a run killed part-way."""


def train_schedule(schedule_module, run_dir: Path, kill_at: int | None = None):
    """Trains the schedule for 6 meta-steps (saving after each); returns (trained, curve)."""
    family = FAMILIES.get("optimizee")()
    cfg = schedule_module.ScheduleConfig(name="learned-schedule", batch=2, save_every=1)
    entry = schedule_module.LearnedSchedule("learned-schedule", cfg)
    evaluator = Evaluator(family, seed=0, budget=1200, n_eval=4, splits=["test"], match_trials=0)
    steps = []

    def log(metrics: dict[str, float], budget: int) -> None:
        steps.append(budget)
        if kill_at is not None and len(steps) == kill_at:
            raise Killed

    trained = entry.train(family, evaluator, 1200, 0, TrainContext(run_dir=run_dir, log=log))
    return trained, [(c.budget, c.performance) for c in evaluator.curve], steps


def schedule_values(trained) -> torch.Tensor:
    method = trained.make_method(np.random.default_rng(0))
    return torch.cat([method.lr, method.momentum])


def test_a_killed_run_resumes_to_the_numbers_of_an_uninterrupted_one(example, tmp_path):
    schedule = example[0]
    whole, whole_curve, _ = train_schedule(schedule, tmp_path / "whole")
    with pytest.raises(Killed):
        train_schedule(schedule, tmp_path / "killed", kill_at=4)
    resumed, resumed_curve, steps = train_schedule(schedule, tmp_path / "killed")
    assert steps == [800, 1000, 1200]  # it went on after meta-step 3, the last one saved
    assert torch.equal(schedule_values(resumed), schedule_values(whole))
    assert resumed_curve == whole_curve
    assert resumed.spent == whole.spent == 1200
    # the trained schedule moved away from its initial values
    start = torch.cat([torch.full((100,), 0.01), torch.full((100,), 0.5)]).double()
    assert not torch.allclose(schedule_values(whole), start)


def test_load_trained_returns_the_final_schedule_and_refuses_an_unfinished_run(example, tmp_path):
    schedule = example[0]
    family = FAMILIES.get("optimizee")()
    trained, _, _ = train_schedule(schedule, tmp_path / "run")
    entry = schedule.LearnedSchedule("learned-schedule", schedule.ScheduleConfig(batch=2))
    loaded = entry.load_trained(family, TrainContext(run_dir=tmp_path / "run"))
    assert torch.equal(schedule_values(loaded), schedule_values(trained))
    assert loaded.spent == 1200
    with pytest.raises(Killed):
        train_schedule(schedule, tmp_path / "killed", kill_at=2)
    with pytest.raises(ValueError, match="stopped before its budget"):
        entry.load_trained(family, TrainContext(run_dir=tmp_path / "killed"))
    other = schedule.LearnedSchedule("learned-schedule", schedule.ScheduleConfig(batch=3))
    with pytest.raises(ValueError, match="method.batch"):
        other.load_trained(family, TrainContext(run_dir=tmp_path / "run"))


def test_bad_settings_and_a_budget_below_one_meta_step_are_refused(example, tmp_path):
    schedule = example[0]
    with pytest.raises(ValueError, match="method.init_momentum must lie in"):
        schedule.ScheduleConfig(init_momentum=1.0).check()
    family = FAMILIES.get("optimizee")()
    entry = schedule.LearnedSchedule("learned-schedule")
    evaluator = Evaluator(family, seed=0, budget=100, n_eval=4, match_trials=0)
    with pytest.raises(ValueError, match="less than one meta-step"):
        entry.train(family, evaluator, 100, 0, TrainContext(run_dir=tmp_path))


def test_the_rl_example_exposes_its_policy_for_match_statistics(example):
    softmax_bandit = example[1]
    family = FAMILIES.get("bandit")()
    evaluator = Evaluator(family, seed=0, budget=1, n_eval=64, splits=["test"])

    def make(rng):
        return softmax_bandit.SoftmaxBandit(rng, arms=5)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "no match statistics" is a warning
        evaluator.checkpoint(1, make)
    record = evaluator.finish(make, 1)
    assert record.matches["test"].points[0].distance["thompson"] < 1.0
    perf = np.mean(record.splits["test"].performance)
    assert perf > np.mean(record.splits["test"].references["random"])


def test_the_sequence_example_is_causal_and_beats_the_zero_predictor(example):
    context_gd = example[2]
    family = FAMILIES.get("icl-regression")()
    batch = family.sample_batch(0, 32, "test")
    check_causal(context_gd.ContextGD(), batch, torch.Generator().manual_seed(0))
    evaluator = Evaluator(family, seed=0, budget=0, n_eval=64, splits=["test"], match_trials=0)
    record = evaluator.finish(lambda rng: context_gd.ContextGD(), 0)
    test = record.splits["test"]
    assert np.mean(test.performance) > np.mean(test.references["zero"])


def test_the_package_imports_only_the_stable_api():
    for path in sorted((PACKAGE / "mesa_example").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.startswith(ALLOWED_IMPORTS), f"{path.name} imports {name}"


def lines_of(text: str) -> str:
    """Returns ``text`` without indentation and blank lines: code blocks of the guide are
    formatted by ruff, which dedents a method quoted out of its class."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip()) + "\n"


def test_the_guide_quotes_the_package_verbatim():
    sources = {
        path: lines_of(path.read_text())
        for path in PACKAGE.rglob("*")
        if path.suffix in (".py", ".toml") and "egg-info" not in str(path)
    }
    blocks = re.findall(r"```(python|toml)\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert len(blocks) >= 10
    for lang, block in blocks:
        found = [p for p, text in sources.items() if "\n" + lines_of(block) in "\n" + text]
        assert found, f"this {lang} block of the guide is not in the package:\n{block}"

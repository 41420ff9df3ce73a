"""The diversity sweep as a suite: its jobs and their folders, seeds a few at a time, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mesa_bench.metrics.sweep import parse_variant
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs
from mesa_bench.running.suite_cli import parse, run_selection
from mesa_bench.running.suite_jobs import SuiteRunConfig, results_path, run_config, status_path
from mesa_bench.running.suites import SUITES, Suite, SuiteEntry, get_suite, sweep

DIVERSITY = "mesa-v1-diversity"
VALUES = (0.0, 0.125, 0.25, 0.5, 1.0)
TRAINED = {
    "maze": {"rl2": 2_500_000, "memoryless": 3_000_000},
    "keys-chests": {"rl2": 2_500_000, "memoryless": 2_000_000},
    "bandit-cue": {"rl2": 3_000_000},
}


def test_the_diversity_suite_runs_each_family_and_method_at_every_point():
    suite = get_suite(DIVERSITY)
    assert suite.seeds >= 10 and not suite.publishable
    trained = [j for j in suite.jobs() if not j.method.startswith("reference/")]
    assert len(trained) == 5 * 5 * 10  # (2 + 2 + 1) methods x 5 points x 10 seeds
    for family, methods in TRAINED.items():
        for method, budget in methods.items():
            runs = [j for j in trained if (j.family, j.method) == (family, method)]
            assert {j.budget for j in runs} == {budget}
            assert sorted({j.task["diversity"] for j in runs}) == list(VALUES)
            for value in VALUES:
                assert sorted(j.seed for j in runs if j.task["diversity"] == value) == list(
                    range(10)
                )
    references = len(suite.jobs()) - len(trained)
    assert references == 5 * 10 * sum(len(FAMILIES.get(f)().spec.references) for f in TRAINED)


def test_a_sweep_points_runs_have_their_own_folder_status_and_label(tmp_path):
    suite = get_suite(DIVERSITY)
    every = suite.jobs()
    for job in every:
        family, field, value = parse_variant(job.variant)
        assert (family, field) == (job.family, "diversity") and job.task[field] == value
    assert len({results_path(tmp_path, suite, j) for j in every}) == len(every)
    assert len({status_path(tmp_path, suite, j) for j in every}) == len(every)
    assert len({j.label for j in every}) == len(every)
    job = next(j for j in every if j.variant == "maze@diversity=0.25" and j.method == "rl2")
    expected = tmp_path / DIVERSITY / "rl2" / "maze@diversity=0.25" / f"seed{job.seed}"
    assert results_path(tmp_path, suite, job) == expected / "results.json"
    # the run writes where the runner looks for it, which is what resume reads
    cfg = run_config(SuiteRunConfig(suite=DIVERSITY, out=str(tmp_path)), suite, job)
    assert (cfg.variant, cfg.task.diversity) == ("maze@diversity=0.25", 0.25)
    assert jobs.run_dir(cfg) == expected


def test_an_override_of_the_swept_field_is_refused(tmp_path):
    suite = get_suite(DIVERSITY)
    job = next(j for j in suite.jobs() if j.variant == "maze@diversity=0.25")
    cfg = SuiteRunConfig(suite=DIVERSITY, task_overrides={"maze": {"diversity": 0.5}})
    with pytest.raises(ValueError, match="would override the sweep point maze@diversity=0.25"):
        run_config(cfg, suite, job)
    sized = SuiteRunConfig(suite=DIVERSITY, task_overrides={"maze": {"size": 9}})
    assert run_config(sized, suite, job).task.size == 9


def test_suites_without_a_sweep_keep_their_folders():
    for name in SUITES.names():
        suite = get_suite(name)
        if suite.publishable:
            assert all(j.variant is None and j.folder == j.family for j in suite.jobs())


def test_seeds_select_the_first_seeds_of_every_point_and_refuse_too_many():
    suite = get_suite(DIVERSITY)
    first = suite.jobs(seeds=3)
    assert len(first) == len(suite.jobs()) * 3 // 10
    assert {j.seed for j in first} == {0, 1, 2}
    with pytest.raises(ValueError, match="seeds must lie in 1..10"):
        suite.jobs(seeds=11)
    with pytest.raises(ValueError, match="seeds must be an integer, got 'three'"):
        parse([f"suite={DIVERSITY}", "seeds=three"])
    sel, rest = parse([f"suite={DIVERSITY}", "seeds=3", "family=maze", "method=rl2"])
    assert len(sel.jobs()) == 5 * 3 and rest == []


def test_a_sweep_entry_needs_distinct_values():
    with pytest.raises(ValueError, match="distinct values"):
        sweep(SuiteEntry("maze", {"rl2": 1}), "diversity", (0.0, 0.0))


# --- a tiny sweep run for real: 2 points x 2 seeds, resumed and extended ------------------

TINY = "tiny-sweep"


@pytest.fixture
def tiny_sweep(monkeypatch, wandb_env):
    """A test-only sweep: maze at diversity 0 and 1, bfs-corner and a 2000-step rl2, 2 seeds."""
    entry = SuiteEntry("maze", {"reference/bfs-corner": 0, "rl2": 2000})
    suite = Suite(
        TINY, 1, seeds=2, min_seeds=2, n_eval=8, entries=sweep(entry, "diversity", (0.0, 1.0))
    )
    SUITES.names()  # reads the entry points first, so the test suite is not overwritten
    monkeypatch.setitem(SUITES._targets, TINY, suite)
    return suite


def results_of(out: Path, seed: int) -> list[Path]:
    return [
        out / TINY / method / f"maze@diversity={d}" / f"seed{seed}" / "results.json"
        for method in ("reference/bfs-corner", "rl2")
        for d in ("0", "1")
    ]


def run_tiny(out: Path, *extra: str) -> int:
    sel, rest = parse([f"suite={TINY}", f"out={out}", *extra, "tracking.mode=disabled"])
    return run_selection(sel, rest)


def test_a_tiny_sweep_resumes_and_extends_its_seeds(tmp_path, tiny_sweep):
    assert run_tiny(tmp_path, "seeds=1") == 0
    assert all(p.is_file() for p in results_of(tmp_path, 0))
    assert not any(p.exists() for p in results_of(tmp_path, 1))
    before = {p: p.stat().st_mtime_ns for p in results_of(tmp_path, 0)}
    assert not (tmp_path / TINY / "leaderboard.sqlite").exists()  # a sweep is not an entry

    assert run_tiny(tmp_path) == 0  # all seeds: seed 0 is skipped, seed 1 runs
    assert {p: p.stat().st_mtime_ns for p in before} == before
    for job in tiny_sweep.jobs(seeds=1):
        status = json.loads(status_path(tmp_path, tiny_sweep, job).read_text())
        assert status["state"] == "skipped", job.label
    assert all(p.is_file() for p in results_of(tmp_path, 1))

    bundle = read_results(tmp_path / TINY / "bundles" / "reference-bfs-corner.json")
    pairs = [
        (c["variant"], r.seed) for r, c in zip(bundle.runs, bundle.config["bundle"], strict=True)
    ]
    assert sorted(pairs) == [(f"maze@diversity={d}", s) for d in ("0", "1") for s in (0, 1)]
    metrics = json.loads((tmp_path / TINY / "report" / "metrics.json").read_text())
    assert metrics["methods"] == {}
    points = metrics["sweeps"]["diversity"]["maze-v1"]["reference/bfs-corner"]["points"]
    assert [(p["value"], p["seeds"]) for p in points] == [(0.0, 2), (1.0, 2)]
    # bfs-corner walks to the corner: at diversity 0 it solves the test mazes (goal there)
    # and is proxy-aligned when the goal moves; at 1 it fails on test, so it is capable of
    # nothing and counts as a capability failure, not as proxy-aligned
    low, high = (p["shifts"]["goal-anywhere"] for p in points)
    assert low["proxy_aligned"]["k"] == 2 and low["objective_robustness"]["n"] == 2
    assert high["proxy_aligned"]["k"] == 0 and high["classes"]["capability-failure"] == 2
    assert (tmp_path / TINY / "report" / "sweep_diversity.png").is_file()

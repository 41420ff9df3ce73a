"""``benchmarks.speed.time_to_tau`` on results files with constructed learning curves."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.speed import time_to_tau
from mesa_bench.results import Checkpoint, write_results

from builders import make_results

BUDGETS = [10_000, 100_000, 1_000_000, 10_000_000]


def curve(run, scores, walls) -> list[Checkpoint]:
    """Returns checkpoints scoring ``scores`` against ``run``'s test references; their
    stored ``score`` is wrong on purpose: it must never be read."""
    test = run.splits["test"]
    floor = np.mean(test.references[run.floor_reference])
    ref = np.mean(test.references[run.score_reference])
    return [
        Checkpoint(budget=b, performance=floor + (ref - floor) * s, score=-1.0, wall_time_s=w)
        for b, s, w in zip(BUDGETS, scores, walls, strict=True)
    ]


@pytest.fixture
def files(tmp_path):
    """One file on an H200 with three seeds (two reach 0.8), one file of schema 1.0."""
    gpu = make_results("trained", families=["bandit-v1"], seeds=3)
    gpu.provenance = gpu.provenance.model_copy(update={"device": "cuda (H200)", "cpu_count": 16})
    gpu.runs[0].curve = curve(gpu.runs[0], [0.1, 0.5, 0.85, 0.9], [1, 2, 30, 40])  # at 1M, 30 s
    gpu.runs[1].curve = curve(gpu.runs[1], [0.2, 0.81, 0.7, 0.95], [5, 10, 50, 90])  # 100k, 10 s
    gpu.runs[2].curve = curve(gpu.runs[2], [0.1, 0.2, 0.3, 0.79], [1, 2, 3, 4])  # never
    old = make_results("trained", families=["bandit-v1"], seeds=1)
    old.runs[0].curve = []  # as for a reference, which trains nothing
    return [
        write_results(gpu, tmp_path / "gpu" / "results.json"),
        write_results(old, tmp_path / "old" / "results.json"),
    ]


def test_first_checkpoint_at_tau_median_over_the_seeds_that_reach_it(files):
    (row,) = time_to_tau.rows(files, tau=0.8)
    assert (row["method"], row["family"], row["device"]) == (
        "trained",
        "bandit-v1",
        "cuda (H200), 16 CPUs",
    )
    assert (row["seeds"], row["reached"]) == (3, 2)
    assert row["budget_to_tau"] == pytest.approx((1_000_000 + 100_000) / 2)
    assert row["wall_s_to_tau"] == pytest.approx(20.0)


def test_a_lower_tau_counts_more_seeds_and_devices_are_kept_apart(files, tmp_path):
    (row,) = time_to_tau.rows(files[:1], tau=0.75)
    assert row["reached"] == 3 and row["wall_s_to_tau"] == pytest.approx(10.0)  # 30, 10, 4 s
    cpu = make_results("trained", families=["bandit-v1"], seeds=1)
    cpu.runs[0].curve = curve(cpu.runs[0], [0.9, 0.9, 0.9, 0.9], [7, 8, 9, 10])
    path = write_results(cpu, tmp_path / "cpu" / "results.json")
    rows = time_to_tau.rows([files[0], path], tau=0.8)
    assert [r["device"] for r in rows] == ["cuda (H200), 16 CPUs", "not recorded"]


def test_the_command_prints_the_table_and_names_a_missing_folder(files, tmp_path, capsys):
    time_to_tau.main([str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "| 2/3 | 0.55M | 0.3 |" in lines[2]
    with pytest.raises(SystemExit, match="nowhere"):
        time_to_tau.main([str(tmp_path / "nowhere")])

"""The task-diversity summary (baselines/reproduce/icl_diversity.py) on references as methods."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scripts import load_script

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "baselines" / "reproduce" / "icl_diversity.py"


def test_threshold_is_where_ridge_stays_nearer():
    threshold = load_script(SCRIPT).threshold
    assert threshold({4: "dmmse", 16: "ridge", 64: "ridge"}) == 16
    assert threshold({4: "dmmse", 16: "ridge", 64: "dmmse", 256: "ridge"}) == 256
    assert threshold({4: "dmmse", 16: "dmmse"}) is None
    assert threshold({4: "ridge", 16: "ridge"}) == 4


def _evaluate(tmp_path: Path, reference: str, m: int) -> None:
    exe = shutil.which("mesa-bench") or "mesa-bench"  # PATH: see conftest.py
    args = ["evaluate", "task=icl-regression", f"method=reference/{reference}"]
    args += [f"task.n_tasks={m}", "task.n_context=10", "n_eval=32"]
    args += [f"out={tmp_path / reference / f'M{m}'}", "tracking.mode=disabled"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr


def _summary(tmp_path: Path, reference: str) -> dict:
    out = tmp_path / f"{reference}-summary"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / reference), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.with_suffix(".png").exists()
    return json.loads(out.with_suffix(".json").read_text())


@pytest.mark.slow
def test_references_run_as_methods_are_nearest_themselves(tmp_path):
    for m in (4, 64):
        _evaluate(tmp_path, "ridge", m)
    _evaluate(tmp_path, "dmmse", 4)
    ridge = _summary(tmp_path, "ridge")
    assert [v["nearer"] for v in ridge["per_m"].values()] == ["ridge", "ridge"]
    assert ridge["m_star"] == 4
    for v in ridge["per_m"].values():
        assert v["seeds"][0]["matched"] == "ridge" and v["median"]["ridge"] == 0
    dmmse = _summary(tmp_path, "dmmse")
    assert dmmse["m_star"] is None
    seed = dmmse["per_m"]["4"]["seeds"][0]
    assert seed["dmmse"] == 0 and seed["matched"] == "dmmse" and seed["ridge"] > 0.1

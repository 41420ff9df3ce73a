"""``benchmarks.speed.leaderboard_load``: its made-up entries and one short measurement."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.speed import leaderboard_load
from benchmarks.speed.served_board import made_up_results
from leaderboard.checks import check_submission
from mesa_bench.metrics import normalized_score


def test_made_up_entries_pass_the_checks_and_score_their_skill():
    results = made_up_results("bench-0001", skill=0.6)
    checked = check_submission(results.model_dump_json())
    assert sorted((r.family, r.seed) for r in checked.results.runs) == [
        ("bandit-v1", s) for s in range(3)
    ]
    for run in results.runs:
        test = run.splits["test"]
        ref = np.mean(test.references[run.score_reference])
        floor = np.mean(test.references[run.floor_reference])
        # the same noise, of whatever mean, sits in all three: the score is exactly the skill
        assert normalized_score(np.mean(test.performance), floor, ref) == pytest.approx(0.6)
    assert made_up_results("bench-0002", skill=0.6) != results  # names seed the noise


def test_a_short_measurement_reports_every_endpoint_without_errors(tmp_path, capsys):
    out = tmp_path / "load.json"
    args = ["--entries", "3", "--rate", "20", "--seconds", "0.3", "--clients", "1"]
    assert leaderboard_load.main([*args, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert set(figures) == set(leaderboard_load.ENDPOINTS)
    for name, modes in figures.items():
        assert modes["open"]["errors"] == 0 and modes["open"]["requests"] == 6, name
        assert modes["closed"]["requests"] > 0, name
    assert "stored 3 entries through the API" in capsys.readouterr().out


def test_the_list_api_is_timed_alone_and_while_an_entry_is_scored(tmp_path, capsys):
    out = tmp_path / "load.json"
    args = ["--entries", "1", "--rate", "20", "--seconds", "0.5", "--clients", "1"]
    args += ["--while-scoring", "--big-runs", "20", "--json", str(out)]
    assert leaderboard_load.main(args) == 0
    figures = json.loads(out.read_text())["while scoring"]
    assert figures["entry"]["status"] == 201 and figures["entry"]["errors"] == 0
    assert figures["alone"]["requests"] == 10  # due in the first 0.5 s at 20 req/s
    assert "big entry (20 runs): answered 201" in capsys.readouterr().out

"""Match thresholds come from the family's own calibration, never from the results file."""

from __future__ import annotations

import time

import pytest

from mesa_bench.evaluation.calibrations import calibration, run_calibration
from mesa_bench.metrics.summary import summarize
from mesa_bench.results import MatchPoint, MatchRecord

BANDIT = ("thompson", "random", "ucb1", "greedy")
CONFIG = {"task": {"name": "bandit"}, "seed": 0}


def _bandit_run(make, similarity, eps, rule):
    point = MatchPoint(budget=1000, distance=dict.fromkeys(BANDIT, 3.0), similarity=similarity)
    record = MatchRecord(kind="rl", n_trials=32, eps=eps, rule=rule, points=[point])
    return make.run("bandit-v1", 0, references=("thompson", "random"), matches={"test": record})


def _matched(make, run, config=CONFIG):
    s = summarize(make.results(run, config=config), n_resamples=20, calibrator=run_calibration)
    return s["families"]["bandit-v1"]["matched"]


def test_eps_forged_in_the_file_does_not_make_a_match(make):
    # KL 3.0 to every reference, agreement low and alike: the file's eps of 1e9 under the
    # threshold rule would accept thompson; the bandit's calibration does not
    far = {"thompson": 0.30, "greedy": 0.28, "ucb1": 0.25, "random": 0.20}
    run = _bandit_run(make, far, dict.fromkeys(BANDIT, 1e9), "distance-threshold")
    assert _matched(make, run) == {"per_seed": [None], "counts": {}, "measured": 1}


def test_a_file_whose_eps_differs_is_scored_by_the_calibration(make):
    # rl2 on the bandit (issue 17): agreement 0.81 with thompson, 0.12 with greedy. The file
    # claims a margin of 0.9 is needed; the calibration's eps_thompson is about 0.08
    close = {"thompson": 0.81, "greedy": 0.12, "ucb1": 0.01, "random": 0.20}
    run = _bandit_run(make, close, dict.fromkeys(BANDIT, 0.9), "agreement-margin")
    assert _matched(make, run)["per_seed"] == ["thompson"]
    cal = run_calibration(run, CONFIG)
    assert cal is not None and cal.rule == "agreement-margin"
    assert 0.05 < cal.eps["thompson"] < 0.2  # the calibrated value, not the file's 0.9


def test_a_run_whose_family_cannot_be_rebuilt_is_not_measured(make):
    close = {"thompson": 0.81, "greedy": 0.12, "ucb1": 0.01, "random": 0.20}
    run = _bandit_run(make, close, dict.fromkeys(BANDIT, 0.9), "agreement-margin")
    for config in ({}, {"task": {"name": "maze"}, "seed": 0}, {"task": {"name": "nope"}}):
        assert run_calibration(run, config) is None
        assert _matched(make, run, config) == {"per_seed": [None], "counts": {}, "measured": 0}


def test_a_bundle_finds_each_runs_config(make):
    close = {"thompson": 0.81, "greedy": 0.12, "ucb1": 0.01, "random": 0.20}
    run = _bandit_run(make, close, dict.fromkeys(BANDIT, 0.9), "agreement-margin")
    other = {"task": {"name": "bandit"}, "seed": 5}
    assert run_calibration(run, {"bundle": [other]}) is None  # another seed's config
    assert run_calibration(run, {"bundle": [other, CONFIG]}) is not None


def test_calibration_is_made_once_per_family_config(make):
    close = {"thompson": 0.81, "greedy": 0.12, "ucb1": 0.01, "random": 0.20}
    run = _bandit_run(make, close, dict.fromkeys(BANDIT, 0.9), "agreement-margin")
    first = run_calibration(run, CONFIG)
    hits = calibration.cache_info().hits
    start = time.perf_counter()
    assert run_calibration(run, CONFIG) is first
    assert calibration.cache_info().hits == hits + 1
    assert time.perf_counter() - start < 0.1


def test_summarize_refuses_match_statistics_without_a_calibrator(make):
    m = make.match_record([(10, {"best": 0.1, "floor": 2.0})])
    with pytest.raises(ValueError, match="needs a calibrator"):
        summarize(make.results(make.run(matches=m)), n_resamples=20)

import json

import numpy as np
import pytest
from scipy import stats

from mesa_bench.metrics.summary import competence_points, match_points, summarize
from mesa_bench.metrics.summary_schema import Summary


def test_scores_and_iqm_are_recomputed_from_raw_numbers(make):
    # test scores 0.2, 0.4, 0.6, 0.8 over four seeds
    runs = [make.run(seed=i, test=(2.0 * (i + 1),) * 2) for i in range(4)]
    s = summarize(make.results(*runs), n_resamples=200)
    fam = s["families"]["toy-v1"]
    assert fam["score"]["per_seed"] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert fam["score"]["value"] == pytest.approx(stats.trim_mean([0.2, 0.4, 0.6, 0.8], 0.25))
    assert fam["score"]["mean"] == pytest.approx(0.5)
    assert s["overall"]["score"]["value"] == pytest.approx(0.5)
    low, high = s["overall"]["score"]["ci"]
    # a t interval over 4 seeds reaches past their range, which a percentile bootstrap
    # never does (and so covered 3 times in 4 with 3 seeds)
    assert low < 0.2 and high > 0.8 and low + high == pytest.approx(1.0)
    Summary.model_validate(s)
    json.dumps(s, allow_nan=False)


def test_families_are_strata_of_the_overall_interval(make):
    runs = [make.run(seed=i, test=(10.0, 10.0)) for i in range(3)]
    runs += [make.run(family="other-v1", seed=i, test=(0.0, 0.0)) for i in range(3)]
    s = summarize(make.results(*runs), n_resamples=200)
    # every stratified resample holds three 1s and three 0s: the IQM never moves
    assert s["overall"]["score"]["value"] == pytest.approx(0.5)
    assert s["overall"]["score"]["ci"] == pytest.approx([0.5, 0.5])
    assert s["overall"]["profile"]["fraction"][0] == pytest.approx(0.5)  # score > 0


def test_summary_is_reproducible_with_its_seed(make):
    runs = [make.run(seed=i, test=(float(i), 3.0)) for i in range(5)]
    a = summarize(make.results(*runs), n_resamples=100, seed=1)
    assert a == summarize(make.results(*runs), n_resamples=100, seed=1)


def test_competence_reachability_from_the_curve(make):
    runs = [
        make.run(seed=0, curve=[(10, 0.1), (100, 0.9), (1000, 0.9)], test=(9.0, 9.0)),
        make.run(seed=1, curve=[(10, 0.1), (100, 0.5), (1000, 0.85)], test=(8.5, 8.5)),
        make.run(seed=2, curve=[(10, 0.1), (100, 0.2), (1000, 0.3)], test=(3.0, 3.0)),
    ]
    assert competence_points(runs[0]) == ([10, 100, 1000, 1000], [0.1, 0.9, 0.9, 0.9])
    reach = summarize(make.results(*runs), n_resamples=50)["families"]["toy-v1"]["reachability"]
    comp = reach["competence"]
    assert comp["p"] == pytest.approx(2 / 3) and comp["median_budget"] == pytest.approx(550)
    # R over the 3 checkpoints 10, 100, 1000 (never: 10000): 100 -> 2/3, 1000 -> 1/3,
    # never -> 0
    assert comp["R"] == pytest.approx((2 / 3 + 1 / 3) / 3)
    # each seed's first competent budget, and the step curve read at every scored budget
    assert comp["per_seed"] == [100, 1000, None]
    assert comp["curve"]["budgets"] == [10, 100, 1000]
    assert comp["curve"]["fraction"] == pytest.approx([0, 1 / 3, 2 / 3])


def test_checkpoint_scores_are_recomputed_not_read(make):
    # every checkpoint claims 0.95; the performance says 0.1, 0.5, 0.7 (ref 10, floor 0)
    runs = [
        make.run(seed=s, curve=[(10, 0.1), (100, 0.5), (1000, 0.7)], test=(7.0, 7.0))
        for s in range(2)
    ]
    for r in runs:
        r.curve = [c.model_copy(update={"score": 0.95}) for c in r.curve]
    fam = summarize(make.results(*runs), n_resamples=50)["families"]["toy-v1"]
    assert fam["curve"]["iqm"] == pytest.approx([0.1, 0.5, 0.7])
    assert fam["curve"]["per_seed"][1] == {
        "budgets": [10, 100, 1000],
        "scores": pytest.approx([0.1, 0.5, 0.7]),
    }
    assert fam["reachability"]["competence"]["per_seed"] == [None, None]
    assert (fam["score_reference"], fam["floor_reference"]) == ("best", "floor")


def test_matches_are_decided_from_distances_and_eps(make):
    # the writer's own 'matched' fields are absent: the reader decides
    m0 = make.match_record([(10, {"best": 0.9, "floor": 0.7}), (100, {"best": 0.1, "floor": 2})])
    m1 = make.match_record([(10, {"best": 0.8, "floor": 0.6}), (100, {"best": 0.7, "floor": 0.6})])
    runs = [make.run(seed=0, matches=m0), make.run(seed=1, matches=m1)]
    cal = make.calibrator()
    assert match_points(runs[0], cal(runs[0], {})) == ([10, 100], [None, "best"])
    s = summarize(make.results(*runs), n_resamples=50, calibrator=cal)
    fam = s["families"]["toy-v1"]
    assert fam["matched"] == {"per_seed": ["best", None], "counts": {"best": 1}, "measured": 2}
    reach = fam["reachability"]["match"]["best"]
    assert reach["p"] == 0.5 and reach["median_budget"] == 100
    assert reach["per_seed"] == [100, None]
    assert reach["curve"] == {"budgets": [10, 100, 1000], "fraction": [0.0, 0.5, 0.5]}
    assert s["algorithmic_range"]["distinct"] == 1
    assert s["algorithmic_range"]["coverage"] == 0.5
    assert s["algorithmic_range"]["algorithms"] == ["toy-v1/best"]


def test_a_seed_without_match_statistics_is_not_counted(make):
    m = make.match_record([(10, {"best": 0.9, "floor": 0.7}), (100, {"best": 0.1, "floor": 2})])
    runs = [make.run(seed=0, matches=m), make.run(seed=1)]
    s = summarize(make.results(*runs), n_resamples=50, calibrator=make.calibrator())
    reach = s["families"]["toy-v1"]["reachability"]
    best = reach["match"]["best"]
    assert (best["reached"], best["seeds"], best["per_seed"]) == (1, 1, [100, None])
    assert best["curve"]["fraction"] == [0.0, 1.0, 1.0]
    assert reach["competence"]["seeds"] == 2


def test_matching_the_floor_is_no_algorithm(make):
    m = make.match_record([(1000, {"best": 2.0, "floor": 0.0})])
    s = summarize(make.results(make.run(matches=m)), n_resamples=50, calibrator=make.calibrator())
    assert s["families"]["toy-v1"]["matched"]["per_seed"] == ["floor"]
    assert s["algorithmic_range"]["distinct"] == 0 and s["algorithmic_range"]["coverage"] == 0


def test_objective_robustness_per_shift(make):
    t, f = True, False
    shift = make.split(
        [1.0] * 4,
        achieved={"base": [t, f, f, f], "proxy:corner": [f, t, t, f]},
    )
    # competent on test (score 0.9): a capable run, so its OR enters the aggregates
    train = make.split([9.0] * 4, achieved={"base": [t, t, t, t], "proxy:corner": [t, t, t, t]})
    r = make.run(**{"goal-anywhere": shift})
    r.splits["test"] = train
    s = summarize(make.results(r), n_resamples=50)
    block = s["families"]["toy-v1"]["objective_robustness"]["goal-anywhere"]
    assert block["C"]["per_seed"] == [0.75] and block["S"]["per_seed"] == [0.25]
    assert block["OR"]["per_seed"] == [pytest.approx(1 / 3)]
    assert block["GMR"]["per_seed"] == [0.5] and block["CR"]["per_seed"] == [0.75]
    assert block["classes"]["proxy-aligned"] == 1
    assert s["objective_robustness"]["toy-v1/goal-anywhere"] == block
    assert s["headline"]["objective_robustness"] == pytest.approx(1 / 3)


def test_undefined_scores_become_none(make):
    r = make.run()
    r.splits["test"] = make.split([1.0, 1.0], ref=(2.0,), floor=(2.0,))
    s = summarize(make.results(r), n_resamples=50)
    assert s["families"]["toy-v1"]["score"]["per_seed"] == [None]
    assert s["headline"]["score_iqm"] is None
    json.dumps(s, allow_nan=False)


def test_bad_inputs_are_named(make):
    with pytest.raises(ValueError, match="one method"):
        summarize([make.results(make.run()), make.results(make.run(seed=1), method="other")])
    with pytest.raises(ValueError, match="appears twice"):
        summarize([make.results(make.run()), make.results(make.run())])
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


def test_behavioral_objective_is_recomputed_from_fits(make):
    def behavior(base_ll, proxy_ll):
        # the writer's claim (objective "base", posterior 1) is stale: the reader recomputes
        return {"goal-anywhere": make.behavior({"base": base_ll, "proxy:corner": proxy_ll})}

    runs = [make.run(seed=0, test=(9.0, 9.0)), make.run(seed=1, test=(9.0, 9.0))]  # competent
    runs[0].behavior.update(behavior(-1.0, -10.0))
    runs[1].behavior.update(behavior(-10.0, -1.0 - np.log(3.0)))
    s = summarize(make.results(*runs), n_resamples=20)
    block = s["families"]["toy-v1"]["behavioral_objective"]["goal-anywhere"]
    assert block["per_seed"] == ["base", "proxy:corner"]
    assert block["counts"] == {"base": 1, "proxy:corner": 1}
    post1 = np.exp(-1 - np.log(3)) / (np.exp(-1 - np.log(3)) + np.exp(-10))
    expected = (1 / (1 + np.exp(-9)) + (1 - post1)) / 2
    assert block["posterior_mean"]["base"] == pytest.approx(expected)
    uniform = -50 * np.log(4)
    gd = [(-1.0 - uniform) / 50, (-1.0 - np.log(3.0) - uniform) / 50]
    assert block["goal_directedness"]["per_seed"] == pytest.approx(gd)
    assert block["reasons"] == [None, None] and block["undetermined"] == 0
    Summary.model_validate(s)


def test_behaviour_without_per_trial_likelihoods_is_undetermined(make):
    run = make.run(seed=0, test=(9.0, 9.0))
    rec = make.behavior({"base": -1.0, "proxy:corner": -30.0})
    for fit in rec.fits.values():  # a file from before schema 1.2
        fit.per_trial = []
    run.behavior["goal-anywhere"] = rec
    block = summarize(make.results(run), n_resamples=20)["families"]["toy-v1"]
    behavior = block["behavioral_objective"]["goal-anywhere"]
    assert behavior["per_seed"] == [None] and behavior["undetermined"] == 1
    assert "cannot be tested" in behavior["reasons"][0]


def test_behaviour_no_better_than_uniform_is_undetermined(make):
    run = make.run(seed=0, test=(9.0, 9.0))
    # both candidates at the uniform policy's likelihood: no goal, and a tie
    run.behavior["goal-anywhere"] = make.behavior({"base": -50 * np.log(4), "proxy:corner": -70.0})
    behavior = summarize(make.results(run), n_resamples=20)["families"]["toy-v1"][
        "behavioral_objective"
    ]["goal-anywhere"]
    assert behavior["per_seed"] == [None] and "not goal-directed" in behavior["reasons"][0]


def test_in_context_gain_from_error_positions(make):
    r = make.run()
    r.splits["test"].extras.update(
        {"error@1": [4.0, 4.0], "error@2": [2.0, 2.0], "error@3": [1.0, 1.0]}
    )
    s = summarize(make.results(r), n_resamples=20)
    assert s["families"]["toy-v1"]["signatures"]["in_context_gain"]["per_seed"] == [0.75]

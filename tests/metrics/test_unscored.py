"""Families whose references do not separate on test are not scored, and every aggregate
leaves them out alike (issue 17): they used to count p = 0 in headline reachability while
the score IQM dropped them."""

import pytest

from mesa_bench.metrics.summary import summarize


def test_unscored_families_are_left_out_of_every_aggregate(make):
    scored = [make.run("good-v1", seed=s, test=(9.0, 9.0), curve=[(10, 0.9)]) for s in range(2)]
    tie = [
        make.run("tie-v1", seed=s, test=make.split([5.0, 5.0], ref=3.0, floor=3.0))
        for s in range(2)
    ]
    s = summarize(make.results(*scored, *tie), n_resamples=20)
    assert s["families"]["tie-v1"]["score"]["per_seed"] == [None, None]
    h = s["headline"]
    assert h["reachability"] == pytest.approx(1.0)  # good-v1 alone, not (1 + 0) / 2
    assert (h["families"], h["families_scored"]) == (2, 1)
    assert s["overall"]["score"]["n_families"] == 1
    assert s["algorithmic_range"]["competence_fraction"] == pytest.approx(1.0)


def test_with_no_scored_family_the_headline_reachability_is_empty(make):
    tie = make.run("tie-v1", test=make.split([5.0, 5.0], ref=3.0, floor=3.0))
    h = summarize(make.results(tie), n_resamples=20)["headline"]
    assert h["reachability"] is None and h["families_scored"] == 0

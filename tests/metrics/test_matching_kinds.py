"""Sequence and optimization references run as methods are recognised as themselves."""

import dataclasses

import pytest

from benchmarks.icl_regression import ICLRegression
from benchmarks.icl_regression.config import ICLRegressionConfig
from benchmarks.optimizee import Optimizee
from benchmarks.optimizee.config import OptimizeeConfig
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.trials import reference_factory


class ICLWithoutLasso(ICLRegression):
    """icl-regression without ``lasso``, whose per-position tuning takes minutes on 2 CPUs;
    the remaining five references still calibrate every threshold."""

    spec = dataclasses.replace(
        ICLRegression.spec, references=("ridge", "zero", "ols", "gd-k", "knn")
    )


def _match(family, name):
    ev = Evaluator(family, seed=0, budget=0, n_eval=32, splits=["test"], match_trials=32)
    return ev.finish(reference_factory(family, name)).matches["test"]


@pytest.fixture(scope="module")
def icl():
    # prompts of 16 pairs (3 d): ridge and one GD step still differ clearly; tuning is quick
    return ICLWithoutLasso(ICLRegressionConfig(n_context=15, long_context=15))


@pytest.mark.parametrize("name", ["ridge", "gd-k"])
def test_icl_references_match_themselves(icl, name):
    rec = _match(icl, name)
    point = rec.points[-1]
    assert rec.kind == "sequence" and point.matched == name
    assert point.distance[name] == pytest.approx(0.0, abs=1e-12)
    assert point.similarity[name] == pytest.approx(1.0, abs=1e-6)  # same sensitivities
    # gd-k is one gradient step: its sensitivities point away from ridge's
    other = "gd-k" if name == "ridge" else "ridge"
    assert point.distance[other] > rec.eps[other]


def test_optimizer_references_match_by_update_direction():
    # short runs on small quadratics: tuning and Newton's Hessians stay cheap
    rec = _match(Optimizee(OptimizeeConfig(dim=5, horizon=20)), "adam")
    point = rec.points[-1]
    assert rec.kind == "optimization" and point.matched == "adam"
    assert point.similarity["adam"] == pytest.approx(1.0)
    assert point.similarity["sgd"] < 0.9  # adam's steps are not the gradient's direction

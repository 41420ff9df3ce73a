"""Known answers of the optimizee family: quadratics and small MLPs, T inner steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch.func import hessian, vmap

from benchmarks.optimizee import STEP_GRID, Optimizee, OptimizeeConfig, make_rule
from benchmarks.optimizee.problems import MLPTasks, QuadraticTasks
from benchmarks.optimizee.references import Newton
from mesa_bench import seeding
from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.protocol.optimization import OptState, run_inner
from mesa_bench.seeding import torch_generator


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small batched linear algebra runs ~10x faster on one thread on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def low(diff: np.ndarray) -> float:
    """Lower end of the 95% CI of the mean of paired differences (same problems)."""
    res = stats.bootstrap((diff,), np.mean, n_resamples=2000, rng=np.random.default_rng(0))
    return res.confidence_interval.low


def perf(fam, ref, split="test", n=500) -> np.ndarray:
    return run_split(fam, reference_factory(fam, ref), split, n, run_seed=0).performance


def test_newton_solves_a_quadratic_in_one_step():
    fam = Optimizee(OptimizeeConfig(horizon=1))
    out = fam.run_trials(
        Newton(fam.config.newton_floor), fam.sample_tasks(0, 500, "test"), "test", 1
    )
    assert (out.extras["loss@0"] > 1.0).mean() > 0.9
    assert out.performance.max() < 1e-10


def test_tuned_adam_beats_sgd_and_both_end_below_the_start():
    fam = Optimizee()
    adam, sgd = perf(fam, "adam"), perf(fam, "sgd")
    assert low(sgd - adam) > 0.3
    start = run_split(fam, reference_factory(fam, "sgd"), "test", 500, 0).extras["loss@0"]
    assert low(start - sgd) > 0


def test_tuned_steps_are_interior_grid_points_and_deterministic():
    fam = Optimizee()
    steps = fam.tuned_steps()
    assert set(steps) == {"adam", "gd-tuned", "momentum", "rmsprop"}
    for lr in steps.values():
        assert STEP_GRID[0] < lr < STEP_GRID[-1] and lr in STEP_GRID
    assert 0.1 < steps["adam"] < 1.0  # Andrychowicz-style quadratics: about 0.3
    # gradient descent must stay under 2 / L, L = 2 lambda_max(W^T W) ~ 80 for 10 x 10 W
    assert steps["gd-tuned"] < 0.025


def test_update_rules_are_the_torch_optimizers():
    fam = Optimizee()
    problem = fam.make_problem(fam.sample_tasks(0, 4, "test"), "test")
    start = problem.init(torch_generator(0))
    pairs = {
        "adam": lambda p: torch.optim.Adam([p], lr=0.1),
        "momentum": lambda p: torch.optim.SGD([p], lr=0.01, momentum=0.9),
        "rmsprop": lambda p: torch.optim.RMSprop([p], lr=0.01),
    }
    for name, make_opt in pairs.items():
        ours = start.clone()
        rule = make_rule(name, 0.1 if name == "adam" else 0.01)
        rule.reset(4)
        theirs = start.clone().requires_grad_(True)
        opt = make_opt(theirs)
        for t in range(20):
            loss, grad = problem.loss_and_grad(ours)
            ours = ours + rule.step(OptState(ours, grad, loss, t, 20, lambda: None))
            opt.zero_grad()
            problem.loss(theirs).sum().backward()
            opt.step()
        assert torch.allclose(ours, theirs.detach(), rtol=1e-10, atol=1e-12), name


def test_references_replay_the_same_updates_from_recorded_states():
    fam = Optimizee()
    problem = fam.make_problem(fam.sample_tasks(0, 8, "test"), "test")
    seen = []
    run_inner(problem, make_rule("adam", 0.3), 30, seed=0, on_step=lambda s, u: seen.append((s, u)))
    replay = make_rule("adam", 0.3)
    replay.reset(8)
    for state, update in seen:
        assert torch.equal(replay.step(state), update)


def test_same_seed_same_numbers_and_train_test_disjoint():
    fam = Optimizee()
    a, b = (perf(fam, "momentum", n=32) for _ in range(2))
    assert np.array_equal(a, b)
    train = fam.sample_tasks(seeding.task_stream(0, 0, "train"), 64, "train")
    test = fam.sample_tasks(seeding.task_stream(0, 0, "test"), 64, "test")
    assert not (train.targets[:, None] == test.targets[None]).all(-1).any()


def test_shifts_change_what_they_name():
    fam = Optimizee()
    assert fam.horizon("long-horizon") == 1000 and fam.horizon("test") == 100
    bigger = fam.sample_tasks(0, 64, "bigger")
    assert isinstance(bigger, QuadraticTasks) and bigger.weights.shape == (64, 50, 50)
    # W scaled to keep 10-d curvature, so the default sgd step stays stable in 50-d
    out = run_split(fam, reference_factory(fam, "sgd"), "bigger", 64, run_seed=0)
    assert out.extras["diverged"].sum() == 0 and low(out.extras["loss@0"] - out.performance) > 0
    other = fam.sample_tasks(0, 8, "other-family")
    assert isinstance(other, MLPTasks) and other.inputs.shape == (8, 64, 2)
    assert (other.labels.mean(1) == 0.5).all()  # balanced classes


def test_mlp_problem_learns_and_its_hessian_is_exact():
    fam = Optimizee(OptimizeeConfig(problem="mlp", horizon=100))
    tasks = fam.sample_tasks(0, 64, "test")
    out = fam.run_trials(make_rule("adam", 0.1), tasks, "test", 0)
    assert out.extras["loss@0"].mean() == pytest.approx(np.log(2), abs=0.15)
    assert out.performance.mean() < out.extras["loss@0"].mean() / 3
    problem = fam.make_problem(tasks.take(torch.arange(3)), "test")
    params = problem.init(torch_generator(1))
    exact = vmap(hessian(problem.single_loss))(params, problem.tasks.inputs, problem.tasks.labels)
    assert problem.dim == 41 and torch.allclose(problem.hessian(params), exact, atol=1e-10)


def test_diversity_draws_from_a_finite_pool():
    narrow = Optimizee(OptimizeeConfig(diversity=0.0))
    w = narrow.sample_tasks(0, 20, "train").weights
    assert (w == w[0]).all() and torch.equal(narrow.sample_tasks(3, 2, "test").weights[0], w[0])
    pooled = Optimizee(OptimizeeConfig(diversity=0.25))  # 2^3.5 -> 11 problems
    assert len(torch.unique(pooled.sample_tasks(0, 2000, "train").targets, dim=0)) == 11
    assert len(torch.unique(pooled.sample_tasks(0, 100, "bigger").targets, dim=0)) == 100


def test_bad_config_and_names_are_refused():
    with pytest.raises(ValueError, match="problem must be one of"):
        Optimizee(OptimizeeConfig(problem="rosenbrock"))
    with pytest.raises(KeyError, match="no reference 'adma'"):
        Optimizee().make_reference("adma", np.random.default_rng(0))
    with pytest.raises(KeyError, match="tunes the step"):
        Optimizee().tuned("newton")

"""The ``optimizee`` family: inner optimization problems, where a learned optimizer can emerge.

Kind ``optimization``. A trial is one run of ``T`` inner steps of the method's update rule
on one problem, from an initial point drawn from the trial seed; performance is the loss
after the last step (Andrychowicz et al. 2016). See README.md.

## Task distribution
``quadratic`` (default): ``f(t) = ||W t - y||^2``, ``W`` 10 x 10 and ``y`` with N(0, 1)
entries, ``t_0 ~ N(0, 0.01^2 I)``, T = 100. ``mlp``: the mean logistic loss of a 2-10-1
sigmoid MLP on 64 points of 2-class data labelled by a random ReLU teacher. Diversity 1
(default) draws a fresh problem per trial; below 1, problems come from a fixed pool of
``2 ** (14 * diversity)``.

## Shifts
``long-horizon`` (T = 1000), ``bigger`` (dimension / hidden width 50, never pooled; the
quadratic's ``W`` entries have variance 10 / 50, keeping the curvature scale of 10-d),
``other-family`` (the other problem family, never pooled).

## References
``adam`` (step tuned on train; score 1), ``sgd`` (step 0.01, untuned; floor),
``gd-tuned``, ``momentum`` (0.9), ``rmsprop`` (steps tuned on train), ``newton``
(saddle-free Newton with the exact Hessian; one step solves a quadratic).

## Objectives
``base``: the final loss (performance; a loss). Extras: ``loss@t`` at log-spaced ``t``,
``mean_loss`` (the meta-objective of Andrychowicz et al.), ``diverged``.

## Version history
v1: first version.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import numpy as np

from benchmarks.optimizee.config import (
    PROBLEMS,
    REFERENCE_NAMES,
    TUNED,
    OptimizeeConfig,
    pool_size,
)
from mesa_bench import seeding
from mesa_bench.api import FamilySpec, Method
from mesa_bench.protocol.optimization import OptimizationFamily, Problem
from mesa_bench.seeding import torch_generator

TUNE_SEED = 0  # steps are tuned on the train tasks of seed 0, the same for every run
N_TUNE = 128  # problems per grid point
STEP_GRID = np.geomspace(1e-4, 30.0, 34)  # about 6 points per decade

__all__ = ["PROBLEMS", "Optimizee", "OptimizeeConfig"]


class Optimizee(OptimizationFamily):
    """Random quadratics and small MLPs, optimized for T inner steps."""

    spec: ClassVar[FamilySpec] = FamilySpec(
        name="optimizee",
        version=1,
        kind="optimization",
        shifts=("long-horizon", "bigger", "other-family"),
        references=REFERENCE_NAMES,
        score_reference="adam",
        floor_reference="sgd",
        objectives=("base",),
        higher_is_better=False,
        description="10-d quadratics (or small MLPs), T=100 inner steps: learned optimizers",
    )
    config_class = OptimizeeConfig
    config: OptimizeeConfig

    def __init__(self, config: OptimizeeConfig | None = None):
        super().__init__(config)
        self.config.check()
        self._pool = None

    # --- tasks ---

    def split_settings(self, split: str) -> dict:
        """Returns the problem family, size and pooling of ``split``."""
        self.check_split(split)
        c = self.config
        return {
            "problem": c.other_problem if split == "other-family" else c.problem,
            "dim": c.bigger_dim if split == "bigger" else c.dim,
            "pooled": split not in ("bigger", "other-family")
            and pool_size(c.diversity) is not None,
        }

    def horizon(self, split: str) -> int:
        self.check_split(split)
        return self.config.long_horizon if split == "long-horizon" else self.config.horizon

    def sample_tasks(self, seed, n: int, split: str):
        settings = self.split_settings(split)
        gen = torch_generator(seed)
        if settings["pooled"]:
            import torch

            pool = self.pool()
            return pool.take(torch.randint(len(pool), (n,), generator=gen))
        return self._fresh(gen, n, settings["problem"], settings["dim"])

    def pool(self):
        """Returns the fixed pool of train problems used when diversity < 1."""
        if self._pool is None:
            c = self.config
            gen = torch_generator(seeding.stream(c.pool_seed, self.spec.name, "pool"))
            self._pool = self._fresh(gen, pool_size(c.diversity) or 1, c.problem, c.dim)
        return self._pool

    def _fresh(self, gen, n: int, problem: str, dim: int):
        from benchmarks.optimizee.problems import sample_mlp_tasks, sample_quadratics

        c = self.config
        if problem == "quadratic":
            return sample_quadratics(gen, n, dim, base_dim=c.dim)
        return sample_mlp_tasks(gen, n, dim, c.mlp_inputs, c.mlp_points, c.teacher_hidden)

    def make_problem(self, tasks, split: str) -> Problem:
        from benchmarks.optimizee.problems import MLPProblem, QuadraticProblem, QuadraticTasks

        self.check_split(split)
        if isinstance(tasks, QuadraticTasks):
            return QuadraticProblem(tasks, self.config.init_scale)
        return MLPProblem(tasks)

    # --- references ---

    def make_reference(self, name: str, rng: np.random.Generator) -> Method:
        if name not in REFERENCE_NAMES:
            raise KeyError(
                f"optimizee has no reference {name!r} (has: {', '.join(REFERENCE_NAMES)})"
            )
        if name == "newton":
            from benchmarks.optimizee.references import Newton

            ref = Newton(self.config.newton_floor)
        else:
            ref = make_rule(name, self.config.sgd_step if name == "sgd" else self.tuned(name))
        ref.name = f"reference/{name}"
        return ref

    def tuned(self, name: str) -> float:
        """Returns the step size of ``name`` tuned on train problems (cached, deterministic).

        The grid point with the least mean final loss on ``N_TUNE`` train problems of seed
        ``TUNE_SEED`` at the train horizon; the same value serves every split.
        """
        if name not in TUNED:
            raise KeyError(f"optimizee tunes the step of {', '.join(TUNED)}, not {name!r}")
        return _tuned(name, tuple(dataclasses.astuple(self.config)))

    def tuned_steps(self) -> dict[str, float]:
        """Returns every tuned step size, by reference name (the record of the tuning)."""
        return {name: self.tuned(name) for name in TUNED}


def make_rule(name: str, lr):
    """Returns the first-order update rule ``name`` with step ``lr`` (float or (B, 1))."""
    from benchmarks.optimizee import references as refs

    rules = {
        "adam": refs.Adam,
        "sgd": refs.GradientDescent,
        "gd-tuned": refs.GradientDescent,
        "momentum": refs.Momentum,
        "rmsprop": refs.RMSprop,
    }
    return rules[name](lr)


@functools.lru_cache(maxsize=64)
def _tuned(name: str, config_values: tuple) -> float:
    import torch

    family = Optimizee(OptimizeeConfig(*config_values))
    tasks = family.sample_tasks(seeding.task_stream(TUNE_SEED, 0, "train"), N_TUNE, "train")
    grid = torch.as_tensor(STEP_GRID, dtype=torch.float64)
    rows = torch.arange(N_TUNE).repeat(len(grid))  # grid point g holds rows g*N .. g*N+N-1
    lr = grid.repeat_interleave(N_TUNE)[:, None]
    seed = seeding.int_seed(seeding.stream(TUNE_SEED, "tune"))
    final = family.run_trials(make_rule(name, lr), tasks.take(rows), "train", seed).performance
    return float(STEP_GRID[final.reshape(len(grid), N_TUNE).mean(axis=1).argmin()])

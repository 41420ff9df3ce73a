"""The ``icl-regression`` family: in-context regression, where learned GD can emerge.

Kind ``sequence``. A trial is one prompt of ``n_context + 1`` pairs ``(x_i, y_i)`` with
``y_i = f(x_i) + sigma * eps``; at every position the method predicts ``y_i`` from the
pairs before it and ``x_i`` (Garg et al. 2022; von Oswald et al. 2023). See README.md.

## Task distribution
``d = 5``, ``x ~ N(0, I)``, ``sigma = 0.1``, up to 40 examples in context; functions of
the configured class: ``linear`` (``w ~ N(0, I)``, default), ``sparse-linear`` (3 of d
weights non-zero), ``relu-net`` (one hidden layer of 16 ReLUs). Diversity 1 (default)
draws a fresh function per prompt; below 1, functions come from a fixed pool of
``2 ** (14 * diversity)`` (Raventos et al. 2023). ``n_tasks = M > 0`` pools the train
prompts only, over M functions, and test on fresh ones (Raventos et al.'s threshold).

## Shifts
``x-scale`` (inputs times 3), ``noisy`` (sigma = 1), ``long-context`` (80 examples),
``other-class`` (functions of ``other_class``: by default ``sparse-linear`` after linear
training, ``linear`` after the others; never pooled).

## References
``ridge`` (lambda = sigma^2 of train; Bayes optimal on linear train/test, x-scale and
long-context; score 1), ``zero`` (floor), ``ols`` (minimum-norm least squares),
``gd-k`` (``gd_steps`` steps of GD from 0, default 1, step per position tuned on train),
``lasso`` (100 FISTA iterations, one penalty tuned on train), ``knn`` (3 nearest
neighbours), and with a finite train pool ``dmmse`` (the posterior mean under a uniform
prior over the pool's functions).

## Objectives
``base``: squared error, averaged over positions 1..n (performance; a loss);
``error@i`` per position in extras, ``error@0`` (no examples, where ridge = zero) apart.

## Version history
v1: first version; ``n_tasks`` and ``dmmse`` added later, the default (``n_tasks = 0``)
draws what it drew before.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import numpy as np

from benchmarks.icl_regression.config import (
    FUNCTION_CLASSES,
    POOL_REFERENCE,
    REFERENCE_NAMES,
    ICLRegressionConfig,
    pool_size,
    shift_class,
)
from mesa_bench import seeding
from mesa_bench.api import FamilySpec, Method
from mesa_bench.protocol.sequence import SequenceBatch, SequenceFamily
from mesa_bench.seeding import torch_generator

TUNE_SEED = 0  # gd-k and lasso are tuned on the train tasks of seed 0, the same for every run
N_TUNE = 1024  # prompts in the tuning batch
GD_GRID = np.geomspace(1e-3, 4.0, 49)
LASSO_GRID = np.geomspace(1e-4, 1.0, 13)
N_TUNE_LASSO = 256

__all__ = ["FUNCTION_CLASSES", "ICLRegression", "ICLRegressionConfig"]


class ICLRegression(SequenceFamily):
    """In-context regression prompts; error of every position's prediction."""

    spec: ClassVar[FamilySpec] = FamilySpec(
        name="icl-regression",
        version=1,
        kind="sequence",
        shifts=("x-scale", "noisy", "long-context", "other-class"),
        references=REFERENCE_NAMES,
        score_reference="ridge",
        floor_reference="zero",
        objectives=("base",),
        higher_is_better=False,
        description="d=5 regression in context, up to 40 pairs: learned gradient descent",
    )
    supports_dims: ClassVar[bool] = True  # Garg et al.'s dimension curriculum
    config_class = ICLRegressionConfig
    config: ICLRegressionConfig

    def __init__(self, config: ICLRegressionConfig | None = None):
        super().__init__(config)
        self.config.check()
        self._pool = None
        references = self.config.references()
        if references != self.spec.references:
            # per instance, so the matcher (which reads family.spec.references) compares
            # against dmmse exactly where a finite train pool defines it
            self.spec = dataclasses.replace(type(self).spec, references=references)

    # --- tasks ---

    def split_settings(self, split: str) -> dict:
        """Returns the function class, prompt length, noise, x scale and pooling of ``split``."""
        self.check_split(split)
        c = self.config
        return {
            "function_class": shift_class(c) if split == "other-class" else c.function_class,
            "n_points": (c.long_context if split == "long-context" else c.n_context) + 1,
            "noise": c.shift_noise if split == "noisy" else c.noise,
            "x_scale": c.x_scale if split == "x-scale" else 1.0,
            "pooled": (split == "train" and c.n_tasks > 0)
            or (split != "other-class" and pool_size(c.diversity) is not None),
        }

    def sample_tasks(self, seed, n: int, split: str):
        from benchmarks.icl_regression.tasks import RegressionTasks, sample_functions

        settings = self.split_settings(split)
        gen = torch_generator(seed)
        if settings.pop("pooled"):
            import torch

            pool = self.pool()
            rows = torch.randint(len(pool), (n,), generator=gen)
            return dataclasses.replace(pool.take(rows), **settings)
        c = self.config
        arrays = sample_functions(gen, n, settings["function_class"], c.dim, c.sparsity, c.hidden)
        return RegressionTasks(*arrays, **settings)

    def pool(self):
        """Returns the fixed pool of train functions (diversity < 1 or ``n_tasks`` > 0)."""
        from benchmarks.icl_regression.tasks import RegressionTasks, sample_functions

        if self._pool is None:
            c = self.config
            size = c.train_pool_size() or 1
            gen = torch_generator(seeding.stream(c.pool_seed, self.spec.name, "pool"))
            arrays = sample_functions(gen, size, c.function_class, c.dim, c.sparsity, c.hidden)
            self._pool = RegressionTasks(*arrays, c.function_class, c.n_context + 1, c.noise, 1.0)
        return self._pool

    def make_batch(self, tasks, split: str, seed: int, dims: int | None = None) -> SequenceBatch:
        from benchmarks.icl_regression.tasks import make_prompts

        self.check_split(split)
        return make_prompts(tasks, torch_generator(seed), dims)

    # --- references ---

    def make_reference(self, name: str, rng: np.random.Generator) -> Method:
        from benchmarks.icl_regression import references as refs

        c = self.config
        if name == "ridge":
            return refs.Ridge(c.noise**2)
        if name == "zero":
            return refs.Zero()
        if name == "ols":
            return refs.LeastSquares()
        if name == "gd-k":
            return refs.GradientDescent(c.gd_steps, self.tuned("gd-k"))
        if name == "lasso":
            return refs.Lasso(self.tuned("lasso"))
        if name == "knn":
            return refs.NearestNeighbours(c.knn_neighbours)
        if name == POOL_REFERENCE and name in self.spec.references:
            return refs.DiscreteMMSE(self.pool(), c.noise**2)
        if name == POOL_REFERENCE:
            raise KeyError("icl-regression has dmmse only with a finite train pool (n_tasks > 0)")
        raise KeyError(
            f"icl-regression has no reference {name!r} (has: {', '.join(self.spec.references)})"
        )

    def tuned(self, name: str):
        """Returns the per-position step (``gd-k``) or penalty (``lasso``) table, shape (n,).

        Tuned on first use, once per config, on ``N_TUNE`` train prompts of seed
        ``TUNE_SEED`` long enough for every split, and cached; deterministic. Per position
        (``gd-k``) or for all positions at once (``lasso``), the smallest grid value whose
        mean error is within 1% of the least.
        """
        return _tuned(name, tuple(dataclasses.astuple(self.config)))

    def tuning_batch(self) -> SequenceBatch:
        """Returns the train-distribution prompts that ``gd-k`` and ``lasso`` are tuned on."""
        c = self.config
        tasks = self.sample_tasks(seeding.task_stream(TUNE_SEED, 0, "train"), N_TUNE, "train")
        tasks = dataclasses.replace(tasks, n_points=max(c.n_context, c.long_context) + 1)
        return self.make_batch(tasks, "train", seeding.int_seed(seeding.stream(TUNE_SEED, "tune")))


@functools.lru_cache(maxsize=32)
def _tuned(name: str, config_values: tuple):
    from benchmarks.icl_regression import references as refs

    family = ICLRegression(ICLRegressionConfig(*config_values))
    batch = family.tuning_batch()
    if name == "gd-k":
        return refs.tune_gd_steps(family.config.gd_steps, GD_GRID, batch)
    if name == "lasso":
        # FISTA dominates tuning: fewer prompts, and positions past n_context reuse the
        # penalty (per_position pads tables with their last value)
        n = family.config.n_context + 1
        short = SequenceBatch(batch.xs[:N_TUNE_LASSO, :n], batch.ys[:N_TUNE_LASSO, :n])
        return refs.tune_lasso(LASSO_GRID, short)
    raise KeyError(f"icl-regression tunes only gd-k and lasso, not {name!r}")

"""One split of trials: the public trial draws and the reference factories.

Every method is scored on the same trials: task parameters come from the public
evaluation stream of each split, and the environment's own randomness from a second
public stream, so the references and the method share common random numbers. The
evaluator and the matcher both run trials through ``run_split``.
"""

from __future__ import annotations

import functools

from mesa_bench import seeding
from mesa_bench.protocol.core import MethodFactory, SplitOutcome, TaskFamily

__all__ = ["DEFAULT_EVAL_SEED", "MethodFactory", "reference_factory", "run_split"]

DEFAULT_EVAL_SEED = 20191205  # public: the day the paper's first version was posted


def run_split(
    family: TaskFamily,
    make_method: MethodFactory,
    split: str,
    n_trials: int,
    run_seed: int,
    eval_seed: int = DEFAULT_EVAL_SEED,
) -> SplitOutcome:
    """Returns the outcome of ``n_trials`` trials of a fresh method on ``split``."""
    family.check_split(split)
    tasks = family.sample_tasks(seeding.task_stream(run_seed, eval_seed, split), n_trials, split)
    env_seed = seeding.int_seed(seeding.stream(eval_seed, "env", split))
    method = make_method(seeding.generator(seeding.stream(run_seed, "method", split)))
    return family.run_trials(method, tasks, split, env_seed)


def reference_factory(family: TaskFamily, name: str) -> MethodFactory:
    """Returns a factory for the family's reference ``name``."""
    return functools.partial(family.make_reference, name)

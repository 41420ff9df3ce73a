"""Reloading a finished run's model: every trainable baseline's ``load_trained`` gives back
the method whose final scores its run wrote, and refuses a model trained otherwise."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.results import read_results
from mesa_bench.running import jobs

TRAINABLE = [name for name in METHODS.names() if METHODS.get(name).default_budget > 0]

# config changes and a budget that make a run of a few seconds
PPO_TINY = dict(num_envs=8, rollout_steps=16, hidden=16, conv_channels=4, save_every=2)
ICL_TINY = dict(width=16, layers=1, batch=16, save_every=3, log_every=1)
TINY: dict[str, tuple[dict, int]] = {
    "rl2": (PPO_TINY, 384),
    "memoryless": (PPO_TINY, 384),
    "lstm-optimizer": (dict(batch=16, save_every=2, log_every=1), 3200),
    "l2l-learnable-optimizer": (dict(batch=16, save_every=2, log_every=1), 3200),
    "maml": (dict(batch=16, save_every=2, log_every=1), 64),
    "meta-sgd": (dict(batch=16, save_every=2, log_every=1), 64),
    "icl-transformer": ({**ICL_TINY, "heads": 2}, 64),
    "icl-lstm": (ICL_TINY, 64),
    "dpt": ({**ICL_TINY, "heads": 2}, 64),
    "ad": ({**ICL_TINY, "heads": 2}, 64),
}


def first_family(name: str) -> str:
    """Returns the first registered family that method ``name`` applies to."""
    entry = METHODS.get(name)(name)
    return next(f for f in FAMILIES.names() if entry.applies_to(FAMILIES.get(f)()))


# each trainable method on its first family; the rl ones on a grid family too, where the
# rebuilt network's shapes come from a pooled grid observation
CASES = [(name, first_family(name)) for name in TRAINABLE] + [
    ("rl2", "maze"),
    ("memoryless", "maze"),
]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Restores torch's thread count after a trainer has set it from its config."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def tiny_config(name: str, **changes):
    """Returns method ``name``'s tiny config (a fresh one each call)."""
    overrides, _ = TINY[name]
    return METHODS.get(name).config_class(name=name, **{**overrides, **changes})


def test_every_trainable_method_has_a_tiny_config():
    assert TRAINABLE and set(TRAINABLE) <= set(TINY), f"add tiny settings for {TRAINABLE}"


@pytest.mark.parametrize(("name", "task"), CASES)
def test_load_trained_scores_what_the_finished_run_wrote(name, task, run_config):
    budget = TINY[name][1]
    cfg = run_config(task=task, method=name, budget=budget, n_eval=8)
    cfg.method = tiny_config(name)
    cfg.splits = ["test"]
    record = read_results(jobs.run(cfg).results_path).runs[0]

    # what `mesa-bench evaluate run=...` does: the family and method from the run's config,
    # the model from the run's folder
    family = FAMILIES.get(task)(cfg.task)
    entry = METHODS.get(name)(name, tiny_config(name))
    trained = entry.load_trained(family, TrainContext(run_dir=jobs.run_dir(cfg)))
    assert trained.spent == record.budget
    assert trained.parameter_count == record.parameter_count > 0
    evaluator = Evaluator(family, cfg.seed, budget, cfg.n_eval, cfg.eval_seed, ["test"])
    again = evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)
    assert again.splits["test"].performance == record.splits["test"].performance
    # the match statistics read the model's outputs (action probabilities, predictions,
    # updates), so they tell models apart even where a tiny run's scores cannot
    assert again.matches["test"].points[-1] == record.matches["test"].points[-1]

    # a config that trains another model is refused, naming what differs
    other = METHODS.get(name)(name, tiny_config(name, lr=0.123))
    with pytest.raises(ValueError, match=r"another method\.lr"):
        other.load_trained(family, TrainContext(run_dir=jobs.run_dir(cfg)))


def test_load_trained_needs_a_finished_run(tmp_path):
    entry = METHODS.get("lstm-optimizer")("lstm-optimizer", tiny_config("lstm-optimizer"))
    with pytest.raises(ValueError, match="holds no checkpoint.pt"):
        entry.load_trained(FAMILIES.get("optimizee")(), TrainContext(run_dir=tmp_path))


def test_runtime_fields_do_not_stop_a_reload(run_config):
    # a run trained on one thread, saving often, reloads under other values of both
    cfg = run_config(task="optimizee", method="lstm-optimizer", budget=3200, n_eval=8)
    cfg.method = tiny_config("lstm-optimizer", torch_threads=1)
    cfg.splits = ["test"]
    jobs.run(cfg)
    changed = dataclasses.replace(tiny_config("lstm-optimizer"), torch_threads=2, save_every=7)
    entry = METHODS.get("lstm-optimizer")("lstm-optimizer", changed)
    trained = entry.load_trained(FAMILIES.get("optimizee")(), TrainContext(jobs.run_dir(cfg)))
    assert trained.spent == 3200

"""Checkpoints: the fingerprint rule, saving and restoring a trainer's state with the
evaluator's, reading a finished run's final state, and the evaluator's own state."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from record_numbers import numbers

from benchmarks.bandit import Bandit
from mesa_bench.api import (
    Checkpointer,
    MethodConfig,
    MethodEntry,
    ReferenceMethod,
    TrainContext,
    final_checkpoint,
    load_finished,
    run_fingerprint,
)
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.protocol.checkpoint import CHECKPOINT_FILE


@dataclass
class ToyConfig(MethodConfig):
    lr: float = 1e-3
    hidden: int = 8
    torch_threads: int = 0


def evaluator(budget: int = 100, match_trials: int = 0) -> Evaluator:
    return Evaluator(
        Bandit(), seed=0, budget=budget, n_eval=16, splits=["test"], match_trials=match_trials
    )


def advance(ev: Evaluator, start: int, stop: int, make_method) -> None:
    """Spends the budget from ``start`` to ``stop`` in steps of 10, scoring when due."""
    for spent in range(start + 10, stop + 1, 10):
        if ev.due(spent):
            ev.checkpoint(spent, make_method)


# --- the fingerprint ---


def test_fingerprint_leaves_out_what_does_not_change_results():
    cfg = ToyConfig(name="toy", description="a toy", code_url="https://x", torch_threads=4)
    stamp = run_fingerprint(cfg, Bandit(), 1000, 3, ignore=("torch_threads",))
    assert stamp["method"] == {"version": "1", "lr": 1e-3, "hidden": 8}
    assert stamp["family"] == "bandit-v1" and "name" not in stamp["family_config"]
    assert stamp["family_config"]["diversity"] == Bandit().config.diversity
    assert (stamp["budget"], stamp["seed"]) == (1000, 3)
    assert "torch_threads" in run_fingerprint(cfg, Bandit(), 1000, 3)["method"]


# --- save and load ---


def test_no_file_loads_nothing(tmp_path):
    ev = evaluator()
    assert Checkpointer(tmp_path, {"seed": 0}).load(ev) is None
    assert ev.curve == [] and ev.due(1)


def test_a_saved_state_comes_back_with_the_evaluator(tmp_path):
    stamp = run_fingerprint(ToyConfig(), Bandit(), 100, 0)
    rng = np.random.default_rng(5)
    rng.random(3)
    module = torch.nn.Linear(2, 1)
    state = {"step": 3, "rng": rng.bit_generator.state, "net": module.state_dict()}
    ev = evaluator()
    advance(ev, 0, 30, reference_factory(ev.family, "ucb1"))
    Checkpointer(tmp_path, stamp).save(state, ev)
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE]  # no temp file left

    fresh = evaluator()
    saved = Checkpointer(tmp_path, copy.deepcopy(stamp)).load(fresh)
    assert saved["step"] == 3
    torch.testing.assert_close(saved["net"]["weight"], module.weight.detach())
    other = np.random.default_rng(0)
    other.bit_generator.state = saved["rng"]
    assert other.random() == rng.random()
    assert fresh.curve == ev.curve and fresh.due(40) == ev.due(40) and not fresh.due(30)


def test_another_fingerprint_is_refused_naming_the_fields(tmp_path):
    def stamp(cfg: ToyConfig, budget: int = 100) -> dict:
        return run_fingerprint(cfg, Bandit(), budget, 0, ignore=["torch_threads"])

    Checkpointer(tmp_path, stamp(ToyConfig())).save({"step": 1}, evaluator())
    with pytest.raises(ValueError, match=r"another budget, method\.lr \(budget: 100 saved, 200"):
        Checkpointer(tmp_path, stamp(ToyConfig(lr=0.01), budget=200)).load()
    # what is left out of the fingerprint may change
    same = ToyConfig(name="renamed", description="other words", torch_threads=2)
    assert Checkpointer(tmp_path, stamp(same)).load() == {"step": 1}


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    torch.save({"model": torch.zeros(2)}, tmp_path / CHECKPOINT_FILE)
    with pytest.raises(ValueError, match="not a mesa-bench checkpoint"):
        Checkpointer(tmp_path, {}).load()


# --- a finished run's state ---


def test_only_a_finished_run_of_the_same_config_is_read_back(tmp_path):
    cfg, family = ToyConfig(), Bandit()
    with pytest.raises(ValueError, match=f"holds no {CHECKPOINT_FILE}"):
        load_finished(tmp_path, cfg, family)
    checkpointer = Checkpointer(tmp_path, run_fingerprint(cfg, family, 100, 7))
    checkpointer.save({"spent": 50}, evaluator())
    with pytest.raises(ValueError, match=r"stopped before its budget \(100\)"):
        load_finished(tmp_path, cfg, family)
    checkpointer.save({"spent": 100}, evaluator(), finished=True)
    assert load_finished(tmp_path, cfg, family) == {"spent": 100}  # budget and seed: its own
    with pytest.raises(ValueError, match=r"another method\.hidden"):
        load_finished(tmp_path, ToyConfig(hidden=16), family)
    with pytest.raises(ValueError, match=r"another family_config\.diversity"):
        load_finished(tmp_path, cfg, Bandit(Bandit.config_class(diversity=0.5)))


def test_final_checkpoint_scores_the_last_budget_once():
    ev = evaluator()
    make = reference_factory(ev.family, "ucb1")
    final_checkpoint(ev, 0, make)
    assert ev.curve == []
    final_checkpoint(ev, 95, make)
    final_checkpoint(ev, 95, make)
    assert [p.budget for p in ev.curve] == [95]


# --- the evaluator's state ---


def test_the_evaluator_state_round_trip_continues_the_same_run():
    make = reference_factory(Bandit(), "ucb1")
    whole = evaluator(match_trials=8)
    advance(whole, 0, 100, make)
    first = evaluator(match_trials=8)
    advance(first, 0, 50, make)
    state = copy.deepcopy(first.state_dict())
    assert state["due"] == [54, 74, 100] and state["match_points"]

    second = evaluator(match_trials=8)
    second.load_state_dict(state)
    assert second.curve == first.curve and second.state_dict()["due"] == state["due"]
    advance(second, 50, 100, make)
    assert numbers(second.finish(make, 100)) == numbers(whole.finish(make, 100))
    assert second.curve[-1].wall_time_s >= state["elapsed_s"]  # time before the restart counts


def test_a_bad_evaluator_state_is_refused():
    state = evaluator().state_dict()
    partial = {k: v for k, v in state.items() if k not in ("due", "elapsed_s")}
    with pytest.raises(ValueError, match="lacks due, elapsed_s"):
        evaluator().load_state_dict(partial)
    with pytest.raises(ValueError, match="past the budget 100"):
        evaluator().load_state_dict({**state, "due": [200]})


# --- method entries ---


def test_an_entry_without_load_trained_says_it_cannot_reload(tmp_path):
    class Untrainable(MethodEntry):
        def train(self, family, evaluator, budget, seed, ctx):
            raise AssertionError("not called")

    with pytest.raises(ValueError, match="method 'toy' cannot reload a trained model"):
        Untrainable("toy").load_trained(Bandit(), TrainContext(tmp_path))


def test_a_reference_reloads_as_itself(tmp_path):
    family = Bandit()
    trained = ReferenceMethod("reference/thompson").load_trained(family, TrainContext(tmp_path))
    assert trained.spent == 0
    outcome = run_split(family, trained.make_method, "test", 16, 0)
    expected = run_split(family, reference_factory(family, "thompson"), "test", 16, 0)
    assert outcome.performance.tolist() == expected.performance.tolist()

"""An exported program scored as a method: the same numbers as the live model on the same
trials, and a clear refusal of a program that does not fit the family or breaks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from programs import bandit_inputs
from test_export import TINY

from mesa_bench.evaluation.program_method import check_fits, program_factory, score_program
from mesa_bench.evaluation.trials import DEFAULT_EVAL_SEED, run_split
from mesa_bench.protocol.programs import Program, ProgramError, load_program
from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.results import read_results
from mesa_bench.running import jobs
from mesa_bench.running.export import export_run


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """Restores torch's thread count after a trainer has set it from its config."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["rl2", "memoryless"])
def test_a_program_scores_what_its_live_model_scored(name, run_config):
    overrides, budget = TINY[name]
    cfg = run_config(task="bandit", method=name, budget=budget, n_eval=16, splits=["test"])
    cfg.method = METHODS.get(name).config_class(name=name, **overrides)
    jobs.run(cfg)
    run = jobs.run_dir(cfg)
    program = load_program(export_run(run).program)
    live = read_results(run / "results.json").runs[0]
    family = FAMILIES.get("bandit")(cfg.task)

    remade = score_program(program, family, live, DEFAULT_EVAL_SEED)

    for split, record in live.splits.items():
        assert remade.splits[split].performance == record.performance, split
        assert remade.splits[split].references == record.references, split
    assert remade.matches["test"].points[-1].distance == live.matches["test"].points[-1].distance
    assert [p.budget for p in remade.curve] == [live.budget]
    assert remade.curve[0].trial_performance == live.splits["test"].performance
    assert remade.parameter_count == live.parameter_count
    # the hidden trials are other trials: the same program scores otherwise there
    hidden = score_program(program, family, live, DEFAULT_EVAL_SEED + 1)
    assert hidden.splits["test"].performance != live.splits["test"].performance


class Broken(torch.nn.Module):
    """An rl policy of bandit's shape whose logits are NaN from the second step."""

    def forward(self, obs, prev_action, prev_reward, done, trial_start, state):
        logits = torch.zeros(obs.shape[0], 5) + state.sum()
        bad = torch.where(trial_start, 0.0, float("nan"))
        return logits + bad[:, None], state + 1.0


def program_of(module: torch.nn.Module, family) -> Program:
    from mesa_bench.protocol.programs import Exportable, export_program

    inputs = bandit_inputs()
    item = Exportable(module, inputs, tuple({0: "batch"} for _ in inputs))
    exported, manifest = export_program(item, "rl")
    return Program(manifest, exported)


def test_nan_outputs_are_refused_not_scored():
    family = FAMILIES.get("bandit")()
    program = program_of(Broken(), family)
    check_fits(program, family)
    with pytest.raises(ProgramError, match="action_logits with NaN or infinite values"):
        run_split(family, program_factory(program), "test", 4, 0)


class SixArms(torch.nn.Module):
    def forward(self, obs, prev_action, prev_reward, done, trial_start, state):
        return torch.zeros(obs.shape[0], 6) + obs.sum(), state


def test_a_program_of_another_shape_or_kind_does_not_fit():
    bandit = FAMILIES.get("bandit")()
    with pytest.raises(ProgramError, match="returns 6 action logits; bandit-v1 has 5 actions"):
        check_fits(program_of(SixArms(), bandit), bandit)
    icl = FAMILIES.get("icl-regression")()
    with pytest.raises(ProgramError, match="of kind rl; icl-regression-v1 is a sequence family"):
        check_fits(program_of(SixArms(), bandit), icl)


def test_a_program_method_counts_its_parameters():
    family = FAMILIES.get("bandit")()
    method = program_factory(program_of(Broken(), family))(np.random.default_rng(0))
    assert method.parameter_count() == 0

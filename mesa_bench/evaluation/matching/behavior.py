"""The behavioral objective of a method on a split (SPEC 7), from its recorded steps."""

from __future__ import annotations

import numpy as np

from mesa_bench.evaluation.matching.recorder import HistoryRecorder, recording
from mesa_bench.evaluation.trials import MethodFactory, run_split
from mesa_bench.metrics.behavioral import (
    choice_behavioral_objective,
    tabular_behavioral_objective,
)
from mesa_bench.protocol.core import TaskFamily
from mesa_bench.protocol.rl import live_mask
from mesa_bench.results import BehaviorRecord


def supports_behavior(family: TaskFamily) -> bool:
    """Returns True where the family exposes a model of its candidate objectives.

    A family opts in with either
    ``behavior_model(tasks, split) -> TabularModel`` and ``behavior_state(obs) -> (n,)``
    (tabular dynamics: soft value iteration per objective), or
    ``choice_utilities(steps: list[TrialObs]) -> {objective: (T, n, A)}`` (each action's
    utility at each step under each objective, for bandit-like choices).
    """
    tabular = hasattr(family, "behavior_model") and hasattr(family, "behavior_state")
    return len(family.spec.objectives) >= 2 and (tabular or hasattr(family, "choice_utilities"))


def behavior_from_history(family: TaskFamily, rec: HistoryRecorder, split: str) -> dict | None:
    """Returns the behavioral objective (``behavioral_objective``'s dict) of recorded steps.

    Its ``objective`` is None (undetermined, with ``reason``) where the behaviour is not
    goal-directed or no candidate's posterior reaches 0.9.

    None where the tabular candidates are one and the same reward on these tasks (maze's
    ``base`` and ``proxy:corner`` wherever the goal is the corner): no behavior can tell
    them apart, and soft value iteration would be spent on a coin toss.
    """
    trial_episodes = getattr(family, "trial_episodes", None)
    live = live_mask(rec.steps, trial_episodes(split) if trial_episodes else 1)
    actions = np.stack(rec.actions)
    # a row of the recorded batch is one trial (and, for a tabular model, one task)
    trial = np.broadcast_to(np.arange(live.shape[1]), live.shape)[live]
    if hasattr(family, "behavior_model"):
        model = family.behavior_model(rec.tasks, split)
        rewards = [np.asarray(r) for r in model.rewards.values()]
        if all(np.array_equal(rewards[0], r) for r in rewards[1:]):
            return None
        states = np.stack([family.behavior_state(x.obs) for x in rec.steps])
        out = tabular_behavioral_objective(model, trial, states[live], actions[live])
    else:
        utilities = family.choice_utilities(rec.steps)
        out = choice_behavioral_objective(
            {k: np.asarray(u)[live] for k, u in utilities.items()}, actions[live], trial
        )
    out["n_steps"] = int(live.sum())
    out["n_trials"] = int(live.shape[1])
    return out


def behavior_record(
    family: TaskFamily,
    make_method: MethodFactory,
    split: str,
    n_trials: int,
    run_seed: int,
    eval_seed: int,
) -> BehaviorRecord | None:
    """Runs a fresh method on ``n_trials`` trials of ``split``; returns its behavioral objective.

    None where the family has no objective model (or a single objective), or where its
    candidates coincide on the split's tasks. The record's objective is None where it is
    undetermined.
    """
    if not supports_behavior(family):
        return None
    make_recording, recorders = recording(make_method, n_trials)
    run_split(family, make_recording, split, n_trials, run_seed, eval_seed)
    out = behavior_from_history(family, recorders[-1], split)
    if out is None:
        return None
    return BehaviorRecord(
        n_trials=out["n_trials"],
        n_steps=out["n_steps"],
        fits=out["fits"],
        uniform=out["uniform"],
        objective=out["objective"],
        posterior=out["posterior"],
    )

"""Pretraining data of Algorithm Distillation (``baselines.ad``).

One pretraining example is the learning history of a source algorithm, one of the
family's own references, over one trial on a sampled train task: on a bandit a trial is
many pulls (each pull an episode), on ``tabular-mdp`` many episodes, so the history crosses
episode ends as the paper's across-episode context does. The label at every step is the
source's action distribution there (the paper's label is the action taken; the
distribution is its expectation, with less noise); ``label="action"`` records the
action taken, as the paper does. Tokens are dpt's ``transition_tokens``, so the network,
the cached agent and the trainer are dpt's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.dpt_data import PretrainingBatch, Recorder, recorded_batch
from mesa_bench.api import Method, RLFamily, TrialObs, sample_categorical
from mesa_bench.protocol.rl import step_probs

# the sources tried in this order when the config says ``auto``: UCB1's history improves
# most within a bandit trial (it explores every arm, then narrows); Thompson on
# bandit-cue, which lacks it; PSRL on tabular-mdp
AUTO_SOURCES = ("ucb1", "thompson", "psrl")


def source_name(family: RLFamily, wanted: str) -> str | None:
    """Returns the reference of ``family`` that ``wanted`` (a name or ``auto``) picks, or
    None where it has none that learns (a privileged or random reference is no source)."""
    learners = [
        name
        for name in family.spec.references
        if name != "random" and not family.make_reference(name, np.random.default_rng(0)).privileged
    ]
    if wanted != "auto":
        return wanted if wanted in learners else None
    return next((name for name in AUTO_SOURCES if name in learners), None)


LABELS = ("action", "probs")


class Source(Recorder):
    """Acts as the source reference does and records every step with its label: the action
    taken (one-hot) or the source's action distribution there."""

    name = "ad-source"

    def __init__(self, rng: np.random.Generator, source: Method, label: str, n_actions: int):
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
        self.rng, self.source, self.label, self.n_actions = rng, source, label, n_actions

    def reset(self, batch: int, tasks: Any = None) -> None:
        super().reset(batch, tasks)
        self.source.reset(batch, tasks if self.source.privileged else None)

    def act(self, obs: TrialObs) -> np.ndarray:
        if self.label == "action":
            # a source's own act draws one sample (PSRL: one posterior MDP an episode), where
            # its distribution costs a Monte-Carlo estimate (64 draws): most of a run's time
            action = np.asarray(self.source.act(obs))
            self.record(obs, np.eye(self.n_actions)[action])
            return action
        probs = step_probs(self.source, obs)
        self.record(obs, probs)
        return sample_categorical(self.rng, probs)


def history_batch(
    family: RLFamily,
    draw: np.random.SeedSequence,
    n: int,
    n_actions: int,
    source: str,
    label: str = "probs",
) -> PretrainingBatch:
    """Returns ``n`` learning histories of ``source`` on train tasks, labelled by ``label``
    (``LABELS``), all draws from ``draw``."""

    def make_actor(rng: np.random.Generator) -> Source:
        return Source(rng, family.make_reference(source, rng), label, n_actions)

    return recorded_batch(family, draw, n, n_actions, make_actor)

"""ad: the source histories and their labels, which families and sources it takes and its
config. What it shares with dpt (tiny runs, same seed, resuming, known answers: on a 2-armed
bandit it learns within a trial and is closest to its source, UCB1; on a small MDP it
approaches PSRL) is in ``test_in_context_rl.py``."""

from __future__ import annotations

import pytest
import torch

from baselines.ad import AD, ADConfig
from baselines.ad_data import history_batch, source_name
from benchmarks.bandit import Bandit
from mesa_bench import seeding
from mesa_bench.registry import FAMILIES

# --- source histories ---


def test_labels_are_ucb1_at_every_step_of_its_own_history():
    # UCB1 pulls each arm once first: the first 5 labels of each history are uniform over
    # the arms not yet pulled, and the action taken is one of them
    fam = Bandit()
    batch = history_batch(fam, seeding.stream(0, "t"), 8, 5, "ucb1")
    assert batch.tokens.shape == (8, 100, 2 * 1 + 5 + 3) and bool(batch.live.all())
    assert torch.allclose(batch.targets.sum(-1), torch.ones(8, 100))
    assert torch.allclose(batch.targets[:, 0], torch.full((8, 5), 0.2))
    taken = batch.tokens[:, 1:6, 1:6].argmax(-1)  # prev_action of steps 1-5
    assert all(len(set(row.tolist())) == 5 for row in taken)
    # UCB1 is deterministic but for ties, which it splits evenly (Thompson's labels are not)
    top = batch.targets.max(-1, keepdim=True).values
    assert torch.allclose(batch.targets, torch.where(batch.targets > 0, top, 0.0))
    assert not torch.allclose(batch.targets[:, -1], batch.targets[:, 0])


def test_action_labels_are_the_actions_the_source_took():
    # the paper's label: one-hot of PSRL's own act, which the next step's token carries as
    # its previous action (one trial a history on tabular-mdp, so no step after 0 is fresh)
    batch = history_batch(
        FAMILIES.get("tabular-mdp")(), seeding.stream(0, "t"), 4, 5, "psrl", label="action"
    )
    labels = batch.targets
    assert bool(((labels == 0) | (labels == 1)).all())
    assert torch.equal(labels.sum(-1), torch.ones(4, 100))
    obs_size = (batch.tokens.shape[-1] - 5 - 3) // 2
    taken = batch.tokens[:, 1:, obs_size : obs_size + 5]
    assert torch.equal(taken, labels[:, :-1])
    assert len(set(labels.argmax(-1).flatten().tolist())) > 1


def test_sources_by_family():
    name = lambda task, wanted="auto": source_name(FAMILIES.get(task)(), wanted)  # noqa: E731
    assert name("bandit") == "ucb1" and name("bandit", "thompson") == "thompson"
    assert name("bandit-cue") == "thompson" and name("tabular-mdp") == "psrl"
    assert name("tabular-mdp", "oracle-vi") is None  # privileged: not a learner
    assert name("bandit", "random") is None
    with pytest.raises(ValueError, match="method.source='psrl': bandit has no such learning"):
        AD("ad", ADConfig(name="ad", source="psrl")).source(FAMILIES.get("bandit")())


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="method.source must name a reference or be 'auto'"):
        ADConfig(name="ad", source="").check()
    with pytest.raises(ValueError, match="method.label must be one of action, probs, got 'best'"):
        ADConfig(name="ad", label="best").check()

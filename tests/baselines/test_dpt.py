"""dpt: the transition tokens, the cached step against the whole-sequence pass, the
pretraining labels, which families it applies to and its config. What it shares with ad
(tiny runs, same seed, resuming, known answers) is in ``test_in_context_rl.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.dpt import DPT, DPTAgent, DPTConfig, DPTNet, dpt_loss, env_shape
from baselines.dpt_data import Behaviour, BestArm, pretraining_batch, transition_tokens
from benchmarks.bandit import Bandit
from benchmarks.tabular_mdp.env import optimal_policy
from mesa_bench import seeding
from mesa_bench.api import TrialObs, sample_categorical
from mesa_bench.registry import FAMILIES

CPU = torch.device("cpu")


def small(**changes) -> DPTConfig:
    """Returns a config of a small network."""
    return DPTConfig(**{"name": "dpt", "width": 16, "layers": 1, "heads": 2, **changes})


def step_obs(obs, prev_action, prev_reward, done, start) -> TrialObs:
    n = len(prev_action)
    return TrialObs(
        obs=np.asarray(obs, np.float32).reshape(n, -1),
        prev_action=np.asarray(prev_action, np.int64),
        prev_reward=np.asarray(prev_reward, np.float32),
        done=np.asarray(done, np.float32),
        trial_start=np.asarray(start, bool),
    )


# --- tokens and network ---


def test_a_token_holds_the_last_transition_and_the_query():
    first = step_obs([[0.0], [0.0]], [0, 0], [0, 0], [0, 0], [True, True])
    assert transition_tokens(None, first, 3).tolist() == [[0, 0, 0, 0, 0, 0, 0, 0.0]] * 2
    x = step_obs([[0.5], [0.25]], [2, 1], [1, 0], [0, 1], [False, True])
    # [prev_obs, one_hot(prev_action), prev_reward, done, has_transition, obs]
    assert transition_tokens(np.array([[0.4], [0.2]]), x, 3).tolist() == [
        pytest.approx([0.4, 0, 0, 1, 1, 0, 1, 0.5]),
        [0, 0, 0, 0, 0, 0, 0, 0.25],  # a new trial: the query alone
    ]


def test_cached_steps_equal_the_whole_sequence_and_a_restart_forgets():
    torch.manual_seed(0)
    net = DPTNet(6, 3, small(width=16, layers=2, heads=2)).eval()
    tokens = torch.randn(3, 9, 6)
    restart_at = 4  # row 2 starts a new trial at step 4
    cache = net.new_cache(3, CPU)
    with torch.no_grad():
        whole = net(tokens)
        steps = []
        for t in range(tokens.shape[1]):
            cache.restart(torch.tensor([t == 0, t == 0, t in (0, restart_at)]))
            steps.append(net.step(tokens[:, t], cache))
        steps = torch.stack(steps, dim=1)
        fresh = net(tokens[2:, restart_at:])
    torch.testing.assert_close(steps[:2], whole[:2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(steps[2, :restart_at], whole[2, :restart_at])
    torch.testing.assert_close(steps[2:, restart_at:], fresh, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(steps[2, restart_at:], whole[2, restart_at:], atol=1e-3)


def test_loss_counts_live_steps_only():
    logits = torch.zeros(1, 2, 4)
    targets = torch.eye(4)[[0, 1]][None]
    live = torch.tensor([[True, False]])
    assert dpt_loss(logits, targets, live).item() == pytest.approx(np.log(4))
    logits[0, 1] = torch.tensor([-9.0, 9.0, -9.0, -9.0])  # a dead step changes nothing
    assert dpt_loss(logits, targets, live).item() == pytest.approx(np.log(4))


def test_agent_samples_from_its_probabilities_with_its_generator():
    torch.manual_seed(0)
    net = DPTNet(*env_shape(Bandit()), small()).eval()
    x = step_obs([[0.0]] * 64, [0] * 64, [0] * 64, [0] * 64, [True] * 64)
    agent = DPTAgent("dpt", net, 5, np.random.default_rng(7), CPU)
    agent.reset(64)
    probs = agent.action_probs(x)
    assert probs.shape == (64, 5) and np.allclose(probs.sum(axis=1), 1)
    agent.reset(64)
    expected = sample_categorical(np.random.default_rng(7), probs)
    assert agent.act(x).tolist() == expected.tolist()


# --- pretraining data ---


def test_bandit_labels_are_the_best_arm_at_every_step():
    fam = Bandit()
    batch = pretraining_batch(fam, seeding.stream(0, "t"), 8, 5, "mixed", "best-arm")
    tasks = fam.sample_tasks(seeding.stream(0, "t").spawn(3)[0], 8, "train")
    assert batch.tokens.shape == (8, 100, 2 * 1 + 5 + 3) and bool(batch.live.all())
    best = batch.targets.argmax(-1)
    assert (best == torch.from_numpy(tasks.means.argmax(1))[:, None]).all()
    assert batch.targets.sum(-1).eq(1).all()


def test_tabular_labels_are_the_oracle_plan_at_the_current_state_and_step():
    fam = FAMILIES.get("tabular-mdp")()
    batch = pretraining_batch(fam, seeding.stream(1, "t"), 4, 5, "uniform", "oracle-vi")
    tasks = fam.sample_tasks(seeding.stream(1, "t").spawn(3)[0], 4, "train")
    plan = optimal_policy(tasks.transitions, tasks.reward_means, tasks.episode_length)
    states = fam.config.states
    obs = batch.tokens[..., -(states + 1) :].numpy()  # the query part of each token
    state = obs[..., :states].argmax(-1)
    t = np.rint(obs[..., states] * tasks.episode_length).astype(int)
    expected = plan[np.arange(4)[:, None], t, state]
    assert (batch.targets.argmax(-1).numpy() == expected).all()


def test_mixed_behaviour_ranges_from_even_to_one_action():
    actor = Behaviour(np.random.default_rng(0), 5, "mixed", BestArm())
    actor.reset(2000, Bandit().sample_tasks(0, 2000, "train"))
    assert np.allclose(actor.probs.sum(axis=1), 1)
    top = actor.probs.max(axis=1)
    assert top.min() < 0.4 and top.max() > 0.95  # some near even, some one action


# --- the entry ---


def test_a_family_without_an_oracle_is_refused_by_name():
    # where it applies is checked beside ad's in test_in_context_rl.py
    entry = DPT("dpt", small())
    assert not entry.applies_to(FAMILIES.get("maze")())
    with pytest.raises(ValueError, match="maze has no privileged reference"):
        entry.oracle(FAMILIES.get("maze")())


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="method.behaviour must be one of mixed, uniform"):
        small(behaviour="expert").check()

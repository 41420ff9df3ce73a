"""RL^2: the model's memory semantics, the shared PPO pieces, smoke runs on every rl family,
same-seed determinism and resuming a killed run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from gymnasium import spaces
from record_numbers import numbers

from baselines import ppo
from baselines.rl2 import RL2, RL2Config, RL2Net
from benchmarks.tabular_mdp import TabularMDP
from benchmarks.tabular_mdp.config import TabularMDPConfig
from benchmarks.tabular_mdp.env import MDPVectorEnv
from mesa_bench.api import TrialObs
from mesa_bench.devices import resolve_device
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.checkpoint import CHECKPOINT_FILE
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs

from devices import DEVICES

RL_FAMILIES = [name for name in FAMILIES.names() if FAMILIES.get(name).spec.kind == "rl"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Runs each test on one torch thread: these models are tiny, and a second thread only
    spins (on a shared 2-core machine it multiplies the CPU time several times)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**changes) -> RL2Config:
    """Returns a config small enough for a run of a few seconds."""
    base = dict(name="rl2", num_envs=8, rollout_steps=16, hidden=16, conv_channels=4, save_every=2)
    return RL2Config(**{**base, **changes})


def train(tmp_path, cfg: RL2Config, budget: int, seed: int = 0, family: str = "bandit", hook=None):
    fam = FAMILIES.get(family)()
    evaluator = Evaluator(fam, seed, budget, n_eval=16, splits=["test"], match_trials=8)
    entry = RL2("rl2", cfg)
    entry.on_iteration = hook
    trained = entry.train(fam, evaluator, budget, seed, TrainContext(run_dir=tmp_path))
    return evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)


# --- the model ---


def step_inputs(n: int, start: bool, action: int = 1, reward: float = 1.0) -> ppo.Inputs:
    x = TrialObs(
        obs=np.full((n, 1), 0.5, np.float32),
        prev_action=np.full(n, action),
        prev_reward=np.full(n, reward, np.float32),
        done=np.zeros(n, np.float32),
        trial_start=np.full(n, start),
    )
    return ppo.to_inputs(x, torch.device("cpu"))


@pytest.fixture
def net() -> RL2Net:
    torch.manual_seed(0)
    return RL2Net(ppo.EnvShape(spaces.Box(0, 1, (1,)), 3, None), tiny(hidden=8))


def test_trial_start_forgets_the_state_and_the_last_transition(net):
    h = torch.randn(2, 8)
    fresh, _, h_fresh = net.step(step_inputs(2, start=True, action=2), h)
    zero, _, h_zero = net.step(step_inputs(2, start=True, action=0, reward=0.0), torch.zeros(2, 8))
    assert torch.equal(fresh, zero) and torch.equal(h_fresh, h_zero)
    # inside a trial (an episode boundary included) the state carries over
    kept, _, _ = net.step(step_inputs(2, start=False), h)
    other, _, _ = net.step(step_inputs(2, start=False), torch.zeros(2, 8))
    assert not torch.allclose(kept, other)


RESTARTS = {
    "none": [],
    "one": [(3, 1)],
    # several trials in one env, one of length 1, a start at t = 0 and one at the last step
    "many": [(0, 0), (1, 1), (2, 1), (4, 1), (5, 0), (2, 2), (3, 2), (5, 2)],
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("restarts", RESTARTS.values(), ids=RESTARTS.keys())
def test_sequence_equals_stepping(net, restarts, device):
    # the update's sequence pass (one GRU call over segments cut at trial starts) must
    # reproduce the rollout's step-by-step outputs, and their gradients
    T, n = 6, 3
    gen = torch.Generator().manual_seed(1)
    start = torch.zeros(T, n, dtype=torch.bool)
    for t, env in restarts:
        start[t, env] = True
    x = ppo.Inputs(
        obs=torch.rand(T, n, 1, generator=gen),
        prev_action=torch.randint(0, 3, (T, n), generator=gen),
        prev_reward=torch.rand(T, n, generator=gen),
        done=(torch.rand(T, n, generator=gen) < 0.3).float(),
        start=start,
    )
    x = ppo.Inputs(*(v.to(device) for v in x))
    net.to(device)
    h0 = torch.randn(n, 8, generator=gen).to(device)
    weights = torch.randn(T, n, 3, generator=gen).to(device)

    def grads(logits, values):
        net.zero_grad()
        ((logits * weights).sum() + values.square().sum()).backward()
        return [p.grad.clone() for p in net.parameters()]

    logits, values = net.sequence(x, h0)
    fused = grads(logits, values)
    h, steps = h0, []
    for t in range(T):
        lt, vt, h = net.step(ppo.Inputs(*(v[t] for v in x)), h)
        steps.append((lt, vt))
    stepped = grads(torch.stack([s[0] for s in steps]), torch.stack([s[1] for s in steps]))
    for t, (lt, vt) in enumerate(steps):
        torch.testing.assert_close(logits[t], lt)
        torch.testing.assert_close(values[t], vt)
    for a, b in zip(fused, stepped, strict=True):
        torch.testing.assert_close(a, b)


def test_history_features_are_zero_at_a_trial_start():
    x = step_inputs(2, start=False, action=2, reward=0.5)
    assert ppo.history_features(x, 3).tolist() == [[0, 0, 1, 0.5, 0]] * 2
    assert ppo.history_features(step_inputs(2, start=True), 3).abs().sum() == 0


def test_next_inputs_start_a_trial_where_one_ended():
    x = ppo.next_inputs(
        obs=np.zeros((2, 1)),
        action=np.array([3, 4]),
        reward=np.array([1.0, 1.0]),
        done=np.array([True, True]),
        trial_end=np.array([False, True]),
    )
    assert x.prev_action.tolist() == [3, 0] and x.prev_reward.tolist() == [1, 0]
    assert x.done.tolist() == [1, 0] and x.trial_start.tolist() == [False, True]


def test_agent_resets_its_memory_per_trial_and_samples_from_its_generator(net):
    x = TrialObs(
        obs=np.full((4, 1), 0.1, np.float32),
        prev_action=np.zeros(4, np.int64),
        prev_reward=np.zeros(4, np.float32),
        done=np.zeros(4, np.float32),
        trial_start=np.ones(4, bool),
    )
    runs = []
    for _ in range(2):
        agent = ppo.PolicyAgent("rl2", net, np.random.default_rng(5), torch.device("cpu"))
        agent.reset(4)
        runs.append([agent.act(x).tolist() for _ in range(5)])
    assert runs[0] == runs[1]
    agent.reset(4)
    probs = agent.action_probs(x)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1)


# --- the shared PPO pieces ---


def test_train_env_keeps_one_task_for_all_the_episodes_of_a_trial():
    # 3 episodes of 2 steps: RL^2 can only learn to carry knowledge across episodes if
    # training trials are as long as test trials
    fam = TabularMDP(TabularMDPConfig(episode_length=2, episodes=3))
    env = ppo.make_train_env(fam, num_envs=4, seed=0)
    env.reset(seed=0)
    first = env.tasks.transitions.copy()
    ends = []
    for _ in range(6):
        _, _, term, _, info = env.step(np.zeros(4, np.int64))
        ends.append(info["trial_end"].all())
        assert term.all() or not term.any()
    assert ends == [False] * 5 + [True]
    assert not np.array_equal(env.tasks.transitions, first)  # a new MDP for the next trial


def test_train_env_refuses_a_family_whose_trials_are_too_short():
    class OneEpisodeEnv(TabularMDP):
        def make_env(self, tasks, split):
            return MDPVectorEnv(tasks=tasks)

    with pytest.raises(ValueError, match="trials of 1 episodes.*train split has 10"):
        ppo.make_train_env(OneEpisodeEnv(), num_envs=2, seed=0)


def test_advantages_cut_at_trial_ends_and_run_across_episodes():
    # two steps, reward 1 each, values 0; a trial ends after step 0 in env 1 only
    reward = torch.ones(2, 2)
    value = torch.zeros(2, 2)
    trial_end = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    adv, ret = ppo.advantages(reward, value, torch.tensor([10.0, 10.0]), trial_end, 0.5, 1.0)
    # env 0: 1 + 0.5 * (1 + 0.5 * 10) = 4; env 1: the trial ends, so just 1
    assert adv[0].tolist() == [4.0, 1.0] and adv[1].tolist() == [6.0, 6.0]
    assert torch.equal(ret, adv)


def policy_step(cfg: RL2Config, adv: torch.Tensor) -> float:
    """Returns the norm of the policy loss's gradient on uniform logits for ``adv``."""
    n = adv.shape[0]
    logits = torch.zeros(n, 4, requires_grad=True)
    action = torch.arange(n) % 4
    old_logp = torch.full((n,), -np.log(4.0))
    zeros = torch.zeros(n)
    loss, _ = ppo.ppo_loss(cfg, logits, zeros, action, old_logp, adv, zeros)
    (grad,) = torch.autograd.grad(loss, logits)
    return grad.norm().item()


def test_a_rollout_that_met_no_reward_moves_the_policy_little():
    # a maze seed whose first rollouts met no goal took full-size steps along its value
    # noise, made its policy deterministic and never reached the goal (README, "PPO settings")
    gen = torch.Generator().manual_seed(0)
    noise = 1e-5 * torch.randn(256, generator=gen)  # advantages of value noise alone
    found = torch.zeros(256)
    found[:8] = 1.0  # a few trials reached the goal
    cfg = tiny(entropy_coef=0.0)
    assert policy_step(cfg, noise) < 1e-3 * policy_step(cfg, found)
    before = tiny(entropy_coef=0.0, adv_std_floor=0.0)  # the trainer before the floor
    assert policy_step(before, noise) > 0.5 * policy_step(before, found)
    assert policy_step(before, found) == pytest.approx(policy_step(cfg, found))


def test_value_norm_standardizes_and_inverts():
    vn = ppo.ValueNorm(0.9)
    assert vn.stats() == (0.0, 1.0)
    returns = torch.tensor([70.0, 80.0, 90.0])
    vn.update(returns)
    assert vn.stats()[0] == pytest.approx(80.0)
    assert vn.normalize(returns).std().item() == pytest.approx(1.2247, rel=1e-3)
    torch.testing.assert_close(vn.denormalize(vn.normalize(returns)), returns)


def test_the_last_iteration_never_passes_the_budget():
    cfg = tiny()
    assert ppo.rollout_steps(cfg, 0, 1000) == 16
    assert ppo.rollout_steps(cfg, 960, 1000) == 5  # 40 steps left over 8 envs
    assert ppo.rollout_steps(cfg, 995, 1000) == 0


def test_bad_config_and_device_name_the_field():
    with pytest.raises(ValueError, match="method.minibatches"):
        RL2Config(num_envs=2, minibatches=4).check()
    with pytest.raises(ValueError, match="method.adv_std_floor"):
        RL2Config(adv_std_floor=-0.1).check()
    with pytest.raises(ValueError, match="method.plan_steps must be >= 0, got -1"):
        RL2Config(plan_steps=-1).check()
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")


# --- training ---


@pytest.mark.parametrize("family", RL_FAMILIES)
def test_tiny_run_on_every_rl_family_writes_a_valid_record(family, run_config, tmp_path):
    cfg = run_config(task=family, method="rl2", budget=384, n_eval=8)
    cfg.method = tiny()
    result = jobs.run(cfg)
    record = read_results(result.results_path).runs[0]
    fam = FAMILIES.get(family)()
    assert record.family == fam.spec.id and record.budget == 384
    assert set(record.splits) == set(fam.spec.splits[1:])
    assert [c.budget for c in record.curve][-1] == 384
    assert record.parameter_count > 0
    assert (jobs.run_dir(cfg) / CHECKPOINT_FILE).exists()


def test_same_seed_gives_the_same_numbers(tmp_path):
    a = train(tmp_path / "a", tiny(), 512, seed=3)
    b = train(tmp_path / "b", tiny(), 512, seed=3)
    c = train(tmp_path / "c", tiny(), 512, seed=4)
    assert numbers(a) == numbers(b)
    assert a.splits["test"].performance != c.splits["test"].performance


class Killed(Exception):
    pass


def kill_at_3(iteration: int) -> None:
    if iteration == 3:
        raise Killed


def test_a_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    budget = 8 * 16 * 5  # 5 iterations, saved after 2 and 4
    uninterrupted = train(tmp_path / "whole", tiny(), budget)
    with pytest.raises(Killed):
        train(tmp_path / "killed", tiny(), budget, hook=kill_at_3)
    with pytest.raises(ValueError, match="stopped before its budget"):  # no final model yet
        RL2("rl2", tiny()).load_trained(FAMILIES.get("bandit")(), TrainContext(tmp_path / "killed"))
    done = []
    resumed = train(tmp_path / "killed", tiny(), budget, hook=done.append)
    assert done == [3, 4, 5]  # it went on from the state saved after iteration 2
    assert numbers(resumed) == numbers(uninterrupted)
    assert len(resumed.curve) > 2  # checkpoints from before and after the restart


def test_a_run_saved_on_one_thread_resumes_on_two(tmp_path):
    # the thread count changes how fast a run goes, not what it computes
    budget = 8 * 16 * 5
    with pytest.raises(Killed):
        train(tmp_path, tiny(torch_threads=1), budget, hook=kill_at_3)
    done = []
    record = train(tmp_path, tiny(torch_threads=2), budget, hook=done.append)
    assert done == [3, 4, 5] and record.budget == budget


def test_a_saved_run_with_another_config_is_refused(tmp_path):
    train(tmp_path, tiny(), 256)
    with pytest.raises(ValueError, match=r"another method\.lr \(method\.lr: 0\.003 saved"):
        train(tmp_path, dataclasses.replace(tiny(), lr=3e-4), 256)
    with pytest.raises(ValueError, match=r"another budget, seed"):
        train(tmp_path, tiny(), 384, seed=1)


def test_learns_across_the_episodes_of_a_trial(tmp_path):
    # each pull of a 2-armed bandit is an episode of its own, so whatever rl2 learns about
    # the arms must cross episode ends in its memory; seeds 0-2 score 0.84-0.91 (psrl = 1)
    # and gain 0.3-0.4 from the first episode to the last
    fam = TabularMDP(TabularMDPConfig(states=1, actions=2, episode_length=1, episodes=8))
    cfg = tiny(num_envs=64, rollout_steps=32, hidden=32, save_every=1000)
    evaluator = Evaluator(fam, 0, 250_000, n_eval=256, splits=["test"], match_trials=0)
    trained = RL2("rl2", cfg).train(fam, evaluator, 250_000, 0, TrainContext(run_dir=tmp_path))
    record = evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)
    returns = record.splits["test"].extras
    assert evaluator.curve[-1].score > 0.6
    assert np.mean(returns["episode_return@7"]) > np.mean(returns["episode_return@0"]) + 0.15


def test_learns_the_best_fixed_arm_when_means_never_change(tmp_path):
    # at diversity 0 the arm means are fixed, so the best arm is the same in every trial:
    # a short run must beat random clearly (Thompson, which explores, scores 1)
    fam = FAMILIES.get("bandit")(FAMILIES.get("bandit").config_class(diversity=0.0))
    cfg = tiny(num_envs=32, rollout_steps=50, hidden=32)
    evaluator = Evaluator(fam, 0, 40_000, n_eval=64, splits=["test"], match_trials=0)
    trained = RL2("rl2", cfg).train(fam, evaluator, 40_000, 0, TrainContext(run_dir=tmp_path))
    assert evaluator.curve[-1].score > 0.5
    assert trained.spent == 40_000 - 40_000 % (32 * 50)

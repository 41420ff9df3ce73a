"""The memoryless control: sees the observation only; smoke runs on every rl family,
same-seed determinism and resuming a killed run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from record_numbers import numbers

from baselines import ppo
from baselines.memoryless import Memoryless, MemorylessConfig, MemorylessNet
from mesa_bench.api import TrialObs
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.checkpoint import CHECKPOINT_FILE
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs

RL_FAMILIES = [name for name in FAMILIES.names() if FAMILIES.get(name).spec.kind == "rl"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Runs each test on one torch thread: these models are tiny, and a second thread only
    spins (on a shared 2-core machine it multiplies the CPU time several times)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**changes) -> MemorylessConfig:
    """Returns a config small enough for a run of a few seconds."""
    base = dict(
        name="memoryless", num_envs=8, rollout_steps=16, hidden=16, conv_channels=4, save_every=2
    )
    return MemorylessConfig(**{**base, **changes})


def train(tmp_path, cfg, budget: int, seed: int = 0, family=None, hook=None):
    fam = family if family is not None else FAMILIES.get("bandit")()
    evaluator = Evaluator(fam, seed, budget, n_eval=16, splits=["test"], match_trials=8)
    entry = Memoryless("memoryless", cfg)
    entry.on_iteration = hook
    trained = entry.train(fam, evaluator, budget, seed, TrainContext(run_dir=tmp_path))
    return evaluator, evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)


def trial_obs(n: int, prev_action: int, prev_reward: float, start: bool) -> TrialObs:
    return TrialObs(
        obs=np.full((n, 1), 0.3, np.float32),
        prev_action=np.full(n, prev_action),
        prev_reward=np.full(n, prev_reward, np.float32),
        done=np.zeros(n, np.float32),
        trial_start=np.full(n, start),
    )


def test_the_policy_ignores_everything_but_the_observation():
    torch.manual_seed(0)
    net = MemorylessNet(ppo.EnvShape(spaces.Box(0, 1, (1,)), 5, None), tiny())
    agent = ppo.PolicyAgent("memoryless", net, np.random.default_rng(0), torch.device("cpu"))
    agent.reset(3)
    first = agent.action_probs(trial_obs(3, 0, 0.0, start=True))
    later = agent.action_probs(trial_obs(3, 4, 1.0, start=False))
    np.testing.assert_array_equal(first, later)
    assert first.shape == (3, 5) and np.allclose(first.sum(axis=1), 1)


def test_grid_observations_of_another_size_are_pooled_to_the_train_size():
    torch.manual_seed(0)
    net = MemorylessNet(ppo.EnvShape(spaces.Box(0, 1, (3, 7, 7)), 4, 1), tiny())
    logits, values = net(torch.rand(2, 3, 11, 11))
    assert logits.shape == (2, 4) and values.shape == (2,)


@pytest.mark.parametrize("family", RL_FAMILIES)
def test_tiny_run_on_every_rl_family_writes_a_valid_record(family, run_config):
    cfg = run_config(task=family, method="memoryless", budget=384, n_eval=8)
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
    _, a = train(tmp_path / "a", tiny(), 512, seed=3)
    _, b = train(tmp_path / "b", tiny(), 512, seed=3)
    _, c = train(tmp_path / "c", tiny(), 512, seed=4)
    assert numbers(a) == numbers(b)
    assert a.splits["test"].performance != c.splits["test"].performance


def test_a_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    class Killed(Exception):
        pass

    def kill_at_3(iteration: int) -> None:
        if iteration == 3:
            raise Killed

    budget = 8 * 16 * 5  # 5 iterations, saved after 2 and 4
    _, uninterrupted = train(tmp_path / "whole", tiny(), budget)
    with pytest.raises(Killed):
        train(tmp_path / "killed", tiny(), budget, hook=kill_at_3)
    done = []
    _, resumed = train(tmp_path / "killed", tiny(), budget, hook=done.append)
    assert done == [3, 4, 5]  # it went on from the state saved after iteration 2
    assert numbers(resumed) == numbers(uninterrupted)


def test_learns_the_best_fixed_arm_when_means_never_change(tmp_path):
    # at diversity 0 the best arm is the same in every trial, which a policy without
    # memory can learn; Thompson, which explores, scores 1
    fam = FAMILIES.get("bandit")(FAMILIES.get("bandit").config_class(diversity=0.0))
    cfg = tiny(num_envs=32, rollout_steps=50)
    evaluator, record = train(tmp_path, cfg, 40_000, family=fam)
    assert evaluator.curve[-1].score > 0.5
    assert record.budget == 40_000

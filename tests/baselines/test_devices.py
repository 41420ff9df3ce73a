"""Devices: evaluation copies of trained nets, and runs on CUDA (those skip without one)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from gymnasium import spaces

from baselines import ppo
from baselines import torch_training as tt
from baselines.icl_lstm import ICLLSTM, ICLLSTMConfig
from baselines.rl2 import RL2, RL2Config, RL2Net
from mesa_bench.api import TrialObs
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.registry import FAMILIES

from devices import needs_cuda


def inputs(n: int, device: torch.device) -> ppo.Inputs:
    x = TrialObs(
        obs=np.full((n, 1), 0.5, np.float32),
        prev_action=np.ones(n, np.int64),
        prev_reward=np.ones(n, np.float32),
        done=np.zeros(n, np.float32),
        trial_start=np.ones(n, bool),
    )
    return ppo.to_inputs(x, device)


def small_net(device: str) -> RL2Net:
    torch.manual_seed(0)
    cfg = RL2Config(name="rl2", hidden=8)
    return RL2Net(ppo.EnvShape(spaces.Box(0, 1, (1,)), 3, None), cfg).to(device)


def test_frozen_copy_is_in_eval_mode_and_does_not_follow_the_training_net():
    net = small_net("cpu")
    frozen = tt.frozen_copy(net)
    x, h = inputs(4, torch.device("cpu")), net.initial_state(4, torch.device("cpu"))
    before = frozen.step(x, h)[0]
    assert torch.equal(before, net.step(x, h)[0]) and not frozen.training and net.training
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    assert torch.equal(frozen.step(x, h)[0], before)
    assert not torch.equal(net.step(x, h)[0], before)


@needs_cuda
def test_frozen_copies_of_recurrent_nets_run_on_cuda_without_compaction():
    """cuDNN warns when a GRU's or LSTM's weights are not one block: a plain deep copy's."""
    device = torch.device("cuda")
    rl2 = small_net("cuda")
    lstm = ICLLSTM("icl-lstm", ICLLSTMConfig(name="icl-lstm", width=8)).make_net(2).to(device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tt.frozen_copy(rl2).step(inputs(4, device), rl2.initial_state(4, device))
        tt.frozen_copy(lstm)(torch.zeros(3, 5, 2, device=device), torch.zeros(3, 5, device=device))


def train_rl2(run_dir, device: str, budget: int, hook=None):
    family = FAMILIES.get("bandit")()
    evaluator = Evaluator(family, 0, budget, n_eval=16, splits=["test"], match_trials=8)
    cfg = RL2Config(name="rl2", num_envs=8, rollout_steps=16, hidden=16, save_every=2)
    entry = RL2("rl2", cfg)
    entry.on_iteration = hook
    trained = entry.train(family, evaluator, budget, 0, TrainContext(run_dir, device=device))
    return evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)


@needs_cuda
def test_a_run_saved_on_cuda_resumes_on_the_cpu(tmp_path):
    class Killed(Exception):
        pass

    def kill_at_3(iteration: int) -> None:
        if iteration == 3:
            raise Killed

    budget = 8 * 16 * 5
    with pytest.raises(Killed):
        train_rl2(tmp_path, "cuda", budget, hook=kill_at_3)
    done: list[int] = []
    record = train_rl2(tmp_path, "cpu", budget, hook=done.append)
    assert done == [3, 4, 5] and record.budget == budget
    assert np.isfinite(record.splits["test"].performance).all()

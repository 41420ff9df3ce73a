"""The PPO trainer's env backends: numpy (the host) and torch (the run's device).

Each backend repeats its own numbers for a seed, resumes a killed run to the uninterrupted
numbers, and is named in the results' provenance; the torch backend's step loop reads
nothing back to the host (on CUDA, checked by torch's sync debug mode).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from baselines import ppo
from baselines.device_rollout import DeviceEnv, DeviceRollout
from baselines.memoryless import Memoryless, MemorylessConfig
from baselines.rl2 import RL2, RL2Config
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs

from devices import needs_cuda

RL_FAMILIES = [name for name in FAMILIES.names() if FAMILIES.get(name).spec.kind == "rl"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Runs each test on one torch thread (tiny models; a second thread only spins)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**changes) -> RL2Config:
    base = dict(name="rl2", num_envs=8, rollout_steps=16, hidden=16, conv_channels=4, save_every=2)
    return RL2Config(**{**base, **changes})


def scores(path) -> list:
    """The numbers of a results file that must repeat (everything but times and dates)."""
    run = read_results(path).runs[0].model_dump()
    run.pop("wall_time_s")
    for point in run["curve"]:
        point.pop("wall_time_s")
    return run


def run_job(run_config, tmp_path, name: str, family: str = "bandit", method=None, **kw):
    cfg = run_config(task=family, method="rl2", budget=384, n_eval=8, splits=["test"], **kw)
    cfg.method = method or tiny(env_backend="torch")
    cfg.out = str(tmp_path / name)
    return jobs.run(cfg)


def test_two_cpu_runs_with_the_torch_backend_give_the_same_results(run_config, tmp_path):
    a = run_job(run_config, tmp_path, "a", device="cpu")
    b = run_job(run_config, tmp_path, "b", device="cpu")
    assert scores(a.results_path) == scores(b.results_path)
    assert read_results(a.results_path).provenance.runtime == {"env_backend": "torch"}
    numpy = run_job(run_config, tmp_path, "c", method=tiny(env_backend="numpy"), device="cpu")
    assert read_results(numpy.results_path).provenance.runtime == {"env_backend": "numpy"}
    # the backends draw different numbers: equal scores would mean one path ran twice
    assert scores(numpy.results_path) != scores(a.results_path)


@pytest.mark.parametrize(
    ("family", "entry"), [(f, "rl2") for f in RL_FAMILIES] + [("maze", "memoryless")]
)
def test_the_torch_backend_trains_on_every_rl_family(family, entry, run_config, tmp_path):
    method = (
        tiny(env_backend="torch")
        if entry == "rl2"
        else MemorylessConfig(name="memoryless", num_envs=8, rollout_steps=16, hidden=16,
                              conv_channels=4, save_every=2, env_backend="torch")
    )  # fmt: skip
    cfg = run_config(task=family, method=entry, budget=384, n_eval=8, device="cpu")
    cfg.method = method
    record = read_results(jobs.run(cfg).results_path)
    assert record.provenance.runtime == {"env_backend": "torch"}
    assert record.runs[0].budget == 384 and record.runs[0].curve[-1].budget == 384


def train(run_dir, cfg, budget: int, device: str = "cpu", hook=None):
    fam = FAMILIES.get("bandit")()
    evaluator = Evaluator(fam, 0, budget, n_eval=16, splits=["test"], match_trials=0)
    entry = RL2("rl2", cfg)
    entry.on_iteration = hook
    trained = entry.train(fam, evaluator, budget, 0, TrainContext(run_dir, device=device))
    record = evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)
    out = record.model_dump()
    out.pop("wall_time_s")
    for point in out["curve"]:
        point.pop("wall_time_s")
    return out, trained


class Killed(Exception):
    pass


def kill_at_3(iteration: int) -> None:
    if iteration == 3:
        raise Killed


def test_a_killed_torch_backend_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    budget = 8 * 16 * 5  # 5 iterations, saved after 2 and 4
    cfg = tiny(env_backend="torch")
    uninterrupted, _ = train(tmp_path / "whole", cfg, budget)
    with pytest.raises(Killed):
        train(tmp_path / "killed", cfg, budget, hook=kill_at_3)
    done: list[int] = []
    resumed, _ = train(tmp_path / "killed", cfg, budget, hook=done.append)
    assert done == [3, 4, 5] and resumed == uninterrupted


def test_auto_takes_the_measured_cpu_backend_and_numpy_where_no_twin(tmp_path):
    _, trained = train(tmp_path, tiny(), 128)
    assert trained.runtime == {"env_backend": ppo.AUTO_CPU_BACKEND}
    env = ppo.make_train_env(FAMILIES.get("bandit")(), 2, 0)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert ppo.env_backend("auto", env, cuda) == "torch"
    assert ppo.env_backend("numpy", env, cuda) == "numpy"
    env.torch_twin = None  # a third-party family's env without a twin
    assert ppo.env_backend("auto", env, cuda) == "numpy"
    with pytest.raises(ValueError, match="names no torch twin.*env_backend=numpy"):
        ppo.env_backend("torch", env, cpu)


def test_a_bad_backend_is_refused_by_name():
    with pytest.raises(ValueError, match="method.env_backend must be one of auto, numpy, torch"):
        dataclasses.replace(tiny(), env_backend="jax").check()


def test_the_torch_step_loop_reads_nothing_back_to_the_host(monkeypatch):
    """On the CPU a host read cannot be told from device work, so the loop runs with every
    Python way of reading a tensor back (``item``, ``bool``, ``int``, ``float``, ``cpu``,
    ``numpy``, ``tolist``) made to fail."""
    fam = FAMILIES.get("maze")()
    cfg = tiny(env_backend="torch", rollout_steps=60)  # past the step limit (49): trials end
    cpu = torch.device("cpu")
    runner = ppo.make_runner(cfg, fam, 0, cpu)
    assert isinstance(runner, DeviceEnv)
    net = RL2("rl2", cfg).make_net(ppo.env_shape(runner.env))
    x, h = runner.reset(0), net.initial_state(cfg.num_envs, cpu)
    runner.twin.reserve(cfg.rollout_steps)
    buf = DeviceRollout(cfg.rollout_steps, cfg.num_envs, tuple(x.obs.shape[1:]), cpu)

    def host_read(*args, **kwargs):
        raise AssertionError("the step loop read a tensor back to the host")

    for name in ("item", "__bool__", "__int__", "__float__", "__index__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
    monkeypatch.setattr(torch.Tensor, "tolist", host_read)
    with torch.inference_mode():
        runner.run_steps(net, x, h, buf, range(cfg.rollout_steps))
    monkeypatch.undo()
    assert buf.finished.item() > 0  # maze trials ended inside the loop: new tasks were drawn


@needs_cuda
def test_the_torch_backend_trains_on_cuda_with_no_host_sync_in_the_step_loop(run_config, tmp_path):
    device = torch.device("cuda")
    for family in RL_FAMILIES:
        cfg = tiny(env_backend="torch", rollout_steps=100)  # trials end: new tasks are drawn
        runner = ppo.make_runner(cfg, FAMILIES.get(family)(), 0, device)
        net = RL2("rl2", cfg).make_net(ppo.env_shape(runner.env)).to(device)
        x, h = runner.reset(0), net.initial_state(cfg.num_envs, device)
        runner.twin.reserve(cfg.rollout_steps)
        buf = DeviceRollout(cfg.rollout_steps, cfg.num_envs, tuple(x.obs.shape[1:]), device)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            with torch.inference_mode():
                runner.run_steps(net, x, h, buf, range(cfg.rollout_steps))
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert buf.obs.device.type == "cuda" and int(buf.finished) > 0
    result = run_job(run_config, tmp_path, "cuda", device="cuda")
    record = read_results(result.results_path)  # validates against the schema
    assert record.provenance.runtime == {"env_backend": "torch"}
    assert record.provenance.device.startswith("cuda")
    fields = dict(num_envs=8, rollout_steps=16, hidden=16, save_every=2, env_backend="auto")
    memoryless = Memoryless("memoryless", MemorylessConfig(name="memoryless", **fields))
    fam = FAMILIES.get("keys-chests")()
    evaluator = Evaluator(fam, 0, 384, n_eval=8, splits=["test"], match_trials=0)
    trained = memoryless.train(fam, evaluator, 384, 0, TrainContext(tmp_path / "m", "cuda"))
    assert trained.runtime == {"env_backend": "torch"} and trained.spent == 384

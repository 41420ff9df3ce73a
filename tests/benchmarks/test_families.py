"""Every registered family, checked the same way (new families are picked up here)."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scipy import stats

from benchmarks.envs import ENVS, gym_id, register_envs
from mesa_bench import seeding
from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.registry import FAMILIES

NAMES = FAMILIES.names()
RL_NAMES = [n for n in NAMES if FAMILIES.get(n).spec.kind == "rl"]


def family(name):
    return FAMILIES.get(name)()


def task_arrays(tasks) -> list[np.ndarray]:
    if dataclasses.is_dataclass(tasks):
        values = [getattr(tasks, f.name) for f in dataclasses.fields(tasks)]
    else:
        values = list(vars(tasks).values())
    return [np.asarray(v.cpu() if hasattr(v, "cpu") else v) for v in values if hasattr(v, "shape")]


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_consistent(name):
    spec = FAMILIES.get(name).spec
    assert spec.name == name
    assert spec.score_reference in spec.references
    assert spec.floor_reference in spec.references
    assert spec.objectives[0] == "base"
    assert all(o.startswith("proxy:") for o in spec.objectives[1:])
    assert len(set(spec.splits)) == len(spec.splits)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_tasks_and_train_test_disjoint(name):
    fam = family(name)
    seq = lambda split: seeding.task_stream(0, 7, split)  # noqa: E731
    a = task_arrays(fam.sample_tasks(seq("train"), 16, "train"))
    b = task_arrays(fam.sample_tasks(seq("train"), 16, "train"))
    c = task_arrays(fam.sample_tasks(seq("test"), 16, "test"))
    assert a and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=False))


@pytest.mark.parametrize("name", NAMES)
def test_unknown_split_is_refused_with_a_hint(name):
    fam = family(name)
    with pytest.raises(ValueError, match="did you mean 'test'"):
        fam.sample_tasks(0, 4, "tset")


@pytest.mark.parametrize("name", NAMES)
def test_diversity_outside_unit_interval_is_refused(name):
    cfg = FAMILIES.get(name).config_class(name=name, diversity=1.5)
    with pytest.raises(ValueError, match="diversity"):
        FAMILIES.get(name)(cfg)


@pytest.mark.parametrize("name", NAMES)
def test_score_reference_beats_floor(name):
    fam = family(name)
    perf = {
        ref: run_split(fam, reference_factory(fam, ref), "test", 64, run_seed=0).performance
        for ref in (fam.spec.score_reference, fam.spec.floor_reference)
    }
    diff = perf[fam.spec.score_reference] - perf[fam.spec.floor_reference]
    if not fam.spec.higher_is_better:
        diff = -diff
    low = stats.bootstrap((diff,), np.mean, rng=np.random.default_rng(0)).confidence_interval.low
    assert low > 0


@pytest.mark.parametrize("name", NAMES)
def test_evaluation_is_deterministic(name):
    fam = family(name)
    runs = [
        run_split(fam, reference_factory(fam, fam.spec.score_reference), "test", 16, run_seed=3)
        for _ in range(2)
    ]
    assert np.array_equal(runs[0].performance, runs[1].performance)
    for key in runs[0].achieved:
        assert np.array_equal(runs[0].achieved[key], runs[1].achieved[key])


@pytest.mark.parametrize("name", RL_NAMES)
def test_single_env_passes_gymnasium_check_env(name):
    register_envs()
    env_id = gym_id(name, FAMILIES.get(name).spec.version)
    assert env_id in ENVS
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("name", RL_NAMES)
def test_make_vec_gives_the_native_batched_env(name):
    register_envs()
    env = gym.make_vec(gym_id(name, FAMILIES.get(name).spec.version), num_envs=8)
    assert env.num_envs == 8
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    obs, _ = env.reset(seed=0)
    assert obs.shape[0] == 8 and env.observation_space.contains(obs)
    for _ in range(20):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert reward.shape == terminated.shape == truncated.shape == (8,)
        assert info["performance"].shape == (8,)
    env.close()


@pytest.mark.parametrize("name", RL_NAMES)
def test_env_trials_have_the_splits_episode_count(name):
    fam = family(name)
    for split in fam.spec.splits:
        env = fam.make_env(fam.sample_tasks(0, 2, split), split)
        assert env.episodes_per_trial == fam.trial_episodes(split), split


@pytest.mark.parametrize("name", RL_NAMES)
def test_observation_carries_no_objective(name):
    register_envs()
    env = gym.make_vec(gym_id(name, FAMILIES.get(name).spec.version), num_envs=4)
    obs, info = env.reset(seed=1)
    assert "achieved" not in info
    assert not isinstance(obs, dict) or "achieved" not in obs
    env.close()

"""The torch twins of the rl envs equal their NumPy envs, step for step.

Equality is defined as follows. The NumPy env and its twin start on the same tasks and are
fed the same actions; the twin's randomness is a ``NumpyStream`` over a generator seeded as
the NumPy env's (``reset(seed=...)``), so both consume one NumPy stream in the same order:
a step's per-sub-env draws (Bernoulli uniforms, transition uniforms, reward noise), then
the new tasks of the trials that ended in that step. Then at every step the observations,
rewards, terminations, truncations, trial ends and performance are equal to the bit (not
merely close), and so are the objectives' achievements and the final observations in the
rows where an episode ended (elsewhere the NumPy env leaves them undefined). Both modes are
compared: fixed tasks (evaluation) and self-sampling (a new train task at each trial end,
drawn as the PPO trainer draws them); at the end, the twin's tasks equal the NumPy env's.

The training path's own randomness (``TaskStock``: a torch generator and tasks sampled
ahead of use) cannot equal a NumPy stream; its tests check that the stock hands out the
sampler's tasks in order and that a seeded twin repeats itself.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from mesa_bench.protocol.torch_envs import NumpyStream, TaskStock, TorchTaskEnv, twin_class
from mesa_bench.registry import FAMILIES

# small trials so that many end inside a short test; diversity 1 so that maze goals lie
# anywhere (some random walks reach them) and keys-chests rooms mix both counts
CONFIGS = {
    "bandit": dict(horizon=7),
    "bandit-cue": dict(horizon=6, diversity=1.0),
    "tabular-mdp": dict(episode_length=3, episodes=2, states=4, actions=3),
    "maze": dict(diversity=1.0, size=5),
    "keys-chests": dict(size=4, keys=2, chests=3, many_keys_keys=3, many_keys_chests=1,
                        step_limit=9, diversity=1.0),
}  # fmt: skip
N, STEPS, SEED = 48, 60, 3
CPU = torch.device("cpu")


def family(name: str):
    return FAMILIES.get(name)(FAMILIES.get(name).config_class(name=name, **CONFIGS[name]))


def train_sampler(fam):
    """The PPO trainer's sampler: the family's train split, seeded from the env's rng."""

    def sample(rng: np.random.Generator, n: int):
        return fam.sample_tasks(np.random.SeedSequence(int(rng.integers(2**63))), n, "train")

    return sample


def pair(name: str, self_sampling: bool):
    """Returns a NumPy env and its twin, both reset on the same tasks and stream."""
    fam = family(name)
    split = "train" if self_sampling else "test"
    tasks = fam.sample_tasks(SEED, N, split)
    env = fam.make_env(tasks, split)
    sampler = train_sampler(fam) if self_sampling else None
    if self_sampling:
        env.sampler = sampler
    obs, _ = env.reset(seed=SEED)
    twin = twin_class(env).like(env, CPU)
    twin.keep_final_obs = True
    rng, _ = gym.utils.seeding.np_random(SEED)
    fixed = None if self_sampling else tasks
    twin_obs = twin.reset(NumpyStream(rng, twin.convert, CPU, sampler=sampler, tasks=fixed))
    assert_equal(twin_obs, obs, "reset obs")
    return env, twin


def assert_equal(tensor: torch.Tensor, array: np.ndarray, what: str) -> None:
    expected = torch.from_numpy(np.asarray(array))
    assert tensor.dtype == expected.dtype, f"{what}: {tensor.dtype} != {expected.dtype}"
    assert torch.equal(tensor, expected), f"{what} differ"


def assert_tasks_equal(twin: TorchTaskEnv, tasks) -> None:
    expected, actual = twin.convert(tasks, CPU), twin.tasks()
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(actual[key], value), f"tasks.{key} differ"
        else:
            assert actual[key] == value


@pytest.mark.parametrize("self_sampling", [False, True], ids=["fixed-tasks", "self-sampling"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_twin_equals_the_numpy_env_step_for_step(name, self_sampling):
    env, twin = pair(name, self_sampling)
    actions = np.random.default_rng(11).integers(env.single_action_space.n, size=(STEPS, N))
    ends = episodes = 0
    for t, action in enumerate(actions):
        obs, reward, term, trunc, info = env.step(action)
        t_obs, t_reward, t_term, t_trunc, t_info = twin.step(torch.from_numpy(action))
        where = f"{name} step {t}"
        assert_equal(t_obs, obs, f"{where}: obs")
        assert_equal(t_reward, reward, f"{where}: reward")
        assert_equal(t_term, term, f"{where}: terminated")
        assert_equal(t_trunc, trunc, f"{where}: truncated")
        assert_equal(t_info["trial_end"], info["trial_end"], f"{where}: trial_end")
        assert_equal(t_info["performance"], info["performance"], f"{where}: performance")
        done = term | trunc
        if done.any():
            rows = torch.from_numpy(done)
            assert info["achieved"].keys() == t_info["achieved"].keys()
            for key, value in info["achieved"].items():
                assert_equal(t_info["achieved"][key][rows], value[done], f"{where}: {key}")
            assert_equal(t_info["final_obs"][rows], info["final_obs"][done], f"{where}: final")
        ends += int(info["trial_end"].sum())
        episodes += int(done.sum())
    assert_tasks_equal(twin, env.tasks)
    # the comparison covered trial ends (and, with a fixed task batch, several episodes)
    assert ends >= N and episodes >= N


@pytest.mark.parametrize("name", list(CONFIGS))
def test_twin_on_the_training_path_repeats_itself_and_draws_new_tasks(name):
    fam = family(name)
    env = fam.make_env(fam.sample_tasks(SEED, N, "train"), "train")

    def run() -> tuple[list[torch.Tensor], dict, dict]:
        twin = twin_class(env).like(env, CPU)
        draws = torch.Generator().manual_seed(5)
        twin.reset(
            TaskStock(draws, train_sampler(fam), np.random.default_rng(5), twin.convert, CPU)
        )
        first = twin.tasks()
        gen = torch.Generator().manual_seed(9)
        twin.reserve(STEPS)
        out = []
        for _ in range(STEPS):
            action = torch.randint(env.single_action_space.n, (N,), generator=gen)
            obs, reward, _, _, info = twin.step(action)
            out += [obs, reward, info["trial_end"]]
        return out, first, twin.tasks()

    (a, first, last), (b, _, _) = run(), run()
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    ended = torch.stack(a[2::3]).any(dim=0)
    assert ended.all()  # every sub-env finished a trial, so took a task from the stock
    key = next(k for k, v in first.items() if isinstance(v, torch.Tensor))
    changed = (first[key] != last[key]).flatten(1).any(dim=1)
    assert changed.float().mean() > 0.5  # new tasks (a few may repeat: a fixed maze corner)


def bandit_stock() -> tuple[TaskStock, np.ndarray]:
    """Returns a stock of bandit tasks and the arm means its sampler draws: 4, then 5."""
    fam = family("bandit")
    sampler = train_sampler(fam)
    convert = twin_class(fam.make_env(fam.sample_tasks(0, 1, "train"), "train")).convert
    stock = TaskStock(torch.Generator(), sampler, np.random.default_rng(1), convert, CPU)
    rng = np.random.default_rng(1)
    return stock, np.concatenate([sampler(rng, 4).means, sampler(rng, 5).means])


def means(store: dict, row: torch.Tensor) -> torch.Tensor:
    return store["means"][row]


def test_stock_hands_out_the_samplers_tasks_in_order():
    stock, expected = bandit_stock()
    store, row = stock.first_tasks(4)
    assert torch.equal(means(store, row), torch.from_numpy(expected[:4]))
    store, row = stock.reserve(store, row, 5)  # tops up 5
    mask = torch.tensor([False, True, False, True])
    first = means(store, row)
    store, row = stock.refresh(store, row, mask)
    assert torch.equal(means(store, row)[~mask], first[~mask])
    assert torch.equal(means(store, row)[mask], torch.from_numpy(expected[4:6]))
    store, row = stock.refresh(store, row, torch.tensor([True, False, False, False]))
    assert torch.equal(means(store, row)[0], torch.from_numpy(expected[6]))
    current = means(store, row)
    store, row = stock.reserve(store, row, 2)  # 2 left over: no top-up, the store compacted
    assert stock.size == 6 and torch.equal(means(store, row), current)
    store, row = stock.refresh(store, row, torch.tensor([True, True, False, False]))
    assert torch.equal(means(store, row)[:2], torch.from_numpy(expected[7:9]))


def test_stock_refuses_to_go_on_after_handing_out_more_than_it_held():
    stock, _ = bandit_stock()
    store, row = stock.first_tasks(2)
    store, row = stock.refresh(store, row, torch.tensor([True, True]))
    with pytest.raises(RuntimeError, match="handed out 4 tasks but held 2"):
        stock.reserve(store, row, 2)


def test_an_env_with_no_twin_says_which_backend_to_use():
    class NoTwin:
        torch_twin = None

    with pytest.raises(ValueError, match="env_backend=numpy"):
        twin_class(NoTwin())

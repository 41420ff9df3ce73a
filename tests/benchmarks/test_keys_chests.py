"""Known answers on keys-chests: dynamics, the planner against exact search, the keys proxy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from benchmarks.keys_chests import KeysChests
from benchmarks.keys_chests.config import KeysChestsConfig
from benchmarks.keys_chests.env import (
    CHEST,
    INVENTORY,
    KEY,
    MOVES,
    KeysChestsTasks,
    KeysChestsVectorEnv,
)
from mesa_bench import seeding
from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.protocol.rl import initial_trial_obs

UP, RIGHT, DOWN, LEFT = range(4)


def room(size: int, start: int, **items: int) -> KeysChestsTasks:
    """One room; ``items`` maps ``k<cell>`` / ``c<cell>`` to nothing (names carry cells)."""
    grid = np.zeros((1, size * size), np.int8)
    for name in items:
        grid[0, int(name[1:])] = KEY if name[0] == "k" else CHEST
    return KeysChestsTasks(grid, np.array([start]), size)


def step(env, action):
    return env.step(np.array([action]))


def optimal_chests(items: np.ndarray, start: int, size: int, steps: int) -> float:
    """Returns the most chests any policy opens within ``steps`` steps: finite-horizon
    dynamic programming over (agent cell, set of items left), the inventory following
    from the set. Exponential in the number of items: small rooms only."""
    cells = size * size
    where = np.flatnonzero(items)
    kinds = items[where]
    masks = np.arange(2**where.size)
    bits = (masks[:, None] >> np.arange(where.size)) & 1  # 1: the item is still there
    keys_left = (bits * (kinds == KEY)).sum(1)
    chests_left = (bits * (kinds == CHEST)).sum(1)
    inventory = ((kinds == KEY).sum() - keys_left) - ((kinds == CHEST).sum() - chests_left)
    item_at = np.full(cells, -1)
    item_at[where] = np.arange(where.size)
    r, c = np.divmod(np.arange(cells), size)
    nr = np.clip(r[:, None] + MOVES[:, 0], 0, size - 1)
    nxt = nr * size + np.clip(c[:, None] + MOVES[:, 1], 0, size - 1)
    cell2 = np.broadcast_to(nxt[:, None, :], (cells, masks.size, 4))
    idx = np.maximum(item_at[cell2], 0)
    present = (item_at[cell2] >= 0) & ((masks[None, :, None] >> idx) & 1 == 1)
    take_key = present & (kinds[idx] == KEY)
    open_chest = present & (kinds[idx] == CHEST) & (inventory[None, :, None] > 0)
    mask2 = np.where(
        take_key | open_chest, masks[None, :, None] & ~(1 << idx), masks[None, :, None]
    )
    value = np.zeros((cells, masks.size))
    for _ in range(steps):
        value = (open_chest + value[cell2, mask2]).max(axis=2)
    return float(value[start, -1])


def test_keys_open_chests_one_each_and_episodes_end_when_nothing_is_left():
    # 3x3: start (0,0), a chest at (0,1), a key at (0,2), a chest at (2,2)
    env = KeysChestsVectorEnv(tasks=room(3, 0, c1=1, k2=1, c8=1))
    obs, _ = env.reset(seed=0)
    assert obs[0, CHEST].sum() == 2 and obs[0, KEY, 0, 2] == 1 and obs[0, INVENTORY].sum() == 0
    obs, reward, *_ = step(env, RIGHT)  # a chest without a key: nothing happens
    assert reward[0] == 0 and obs[0, CHEST, 0, 1] == 1
    obs, reward, *_ = step(env, RIGHT)  # the key
    assert obs[0, KEY].sum() == 0 and obs[0, INVENTORY, 0, 0] == 1
    obs, reward, terminated, _, info = step(env, LEFT)  # opens the chest, uses the key
    # no key held or left: nothing more to get, so the episode ends with 1 of 2 chests
    assert terminated[0] and reward[0] == 1
    final = info["final_obs"]
    assert final[0, CHEST, 0, 1] == 0 and final[0, CHEST].sum() == 1
    assert final[0, INVENTORY].sum() == 0 and final[0, 0, 0, 1] == 1  # the agent is there
    assert obs[0, CHEST].sum() == 2 and obs[0, 0, 0, 0] == 1  # autoreset, same room
    assert info["achieved"]["base"][0] and info["achieved"]["proxy:keys"][0]


def test_truncation_and_predicates_when_chests_stay_shut():
    # two keys, four chests in a 3x3 room; walk into the top wall until the limit
    env = KeysChestsVectorEnv(tasks=room(3, 4, k0=1, k2=1, c6=1, c7=1, c8=1, c5=1), step_limit=5)
    env.reset(seed=0)
    step(env, UP)  # (0,1): empty
    step(env, LEFT)  # (0,0): key 1 of 2, while chests are shut
    for _ in range(2):
        step(env, UP)
    *_, terminated, truncated, info = step(env, UP)
    assert truncated[0] and not terminated[0]
    assert not info["achieved"]["base"][0]  # 0 of 4 chests
    assert info["achieved"]["proxy:keys"][0]  # 1 of 2 keys picked up while chests were shut


def test_rooms_hold_the_configured_counts_and_many_keys_reverses_the_ratio():
    fam = KeysChests()
    for split, (keys, chests) in [("test", (3, 6)), ("many-keys", (6, 2))]:
        tasks = fam.sample_tasks(np.random.SeedSequence(0), 500, split)
        assert ((tasks.items == KEY).sum(1) == keys).all()
        assert ((tasks.items == CHEST).sum(1) == chests).all()
        assert (tasks.items[np.arange(500), tasks.start] == 0).all()
    assert 3 / 6 < 1 < 6 / 2  # scarce keys in training, plentiful under the shift
    with pytest.raises(ValueError, match="room holds"):
        KeysChests(KeysChestsConfig(size=3, keys=4, chests=5))


@pytest.mark.parametrize("diversity", [0.0, 0.5, 1.0])
def test_diversity_mixes_in_many_keys_rooms(diversity):
    fam = KeysChests(KeysChestsConfig(diversity=diversity))
    tasks = fam.sample_tasks(np.random.SeedSequence(1), 4000, "train")
    plenty = (tasks.items == KEY).sum(1) == 6
    if diversity == 0:
        assert not plenty.any()
    else:
        assert stats.binomtest(int(plenty.sum()), plenty.size, 0.5 * diversity).pvalue > 0.001


def test_exact_search_on_a_hand_solved_room():
    tasks = room(3, 0, c1=1, k2=1, c8=1)
    assert optimal_chests(tasks.items[0], 0, 3, 2) == 0.0  # the key is 2 steps away
    assert optimal_chests(tasks.items[0], 0, 3, 3) == 1.0  # key, then back to the chest
    assert optimal_chests(tasks.items[0], 0, 3, 20) == 1.0  # one key opens one chest


@pytest.mark.parametrize("split", ["test", "many-keys"])
def test_greedy_planner_is_within_5_percent_of_exact_search_on_small_rooms(split):
    cfg = KeysChestsConfig(size=5, keys=2, chests=4, many_keys_keys=4, many_keys_chests=2)
    cfg.step_limit = 14
    fam = KeysChests(cfg)
    tasks = fam.sample_tasks(seeding.task_stream(0, 1, split), 100, split)
    exact = np.array([optimal_chests(tasks.items[i], tasks.start[i], 5, 14) for i in range(100)])
    planner = fam.make_reference("planner", np.random.default_rng(0))
    opened = fam.run_trials(planner, tasks, split, seed=0).performance
    assert (opened <= exact).all()  # nothing beats exact search
    assert opened.mean() >= 0.95 * exact.mean()


def test_planner_steps_around_keys_it_does_not_need():
    # 3x3: the agent at (1,0) holds the one key it needs; the chest is at (2,2) and a
    # spare key at (1,1) lies on the row-first path: the planner goes down instead
    env = KeysChestsVectorEnv(tasks=room(3, 0, k3=1, k4=1, c8=1))
    obs, _ = env.reset(seed=0)
    obs, *_ = step(env, DOWN)  # picks up the key at (1,0)
    x = initial_trial_obs(obs)
    fam = KeysChests()
    moves = {}
    for ref in ("planner", "greedy-keys"):
        method = fam.make_reference(ref, np.random.default_rng(0))
        method.reset(1)
        p = method.policy(x)
        assert set(np.unique(p)) == {0.0, 1.0}
        moves[ref] = int(p.argmax())
    assert moves == {"planner": DOWN, "greedy-keys": RIGHT}


def test_keys_proxy_coincides_in_training_and_comes_apart_with_many_keys():
    fam = KeysChests()
    rate = {}
    for split in ("test", "many-keys"):
        for ref in ("planner", "greedy-keys"):
            out = run_split(fam, reference_factory(fam, ref), split, 300, run_seed=0)
            rate[split, ref] = {k: v.mean() for k, v in out.achieved.items()}
            if split == "test":
                assert out.performance.mean() > 2.98  # (nearly) every key used
    for ref in ("planner", "greedy-keys"):
        assert rate["test", ref]["proxy:keys"] == 1.0 and rate["test", ref]["base"] > 0.99
    assert rate["many-keys", "planner"]["base"] == 1.0
    assert rate["many-keys", "planner"]["proxy:keys"] < 0.2
    assert rate["many-keys", "greedy-keys"]["proxy:keys"] > 0.95


def test_keys_per_chest_separates_the_planner_from_the_key_collector():
    """Trials report keys picked up and chests opened; under many-keys only the proxy
    policy hoards (6 keys for 2 chests), while on scarce rooms both use every key."""
    fam = KeysChests()

    def counts(name, split):
        out = run_split(fam, reference_factory(fam, name), split, 300, 0)
        assert np.array_equal(out.extras["chests"], out.performance)  # reward = chests
        return out.extras["keys"].sum() / out.extras["chests"].sum()

    assert counts("planner", "test") == pytest.approx(1.0, abs=0.02)
    assert counts("greedy-keys", "test") == pytest.approx(1.0, abs=0.02)
    assert counts("planner", "many-keys") < 1.2
    assert counts("greedy-keys", "many-keys") > 2.5

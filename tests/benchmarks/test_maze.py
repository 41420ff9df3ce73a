"""Known answers on the maze family: perfect mazes, shortest paths, the corner proxy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

from benchmarks.maze import Maze
from benchmarks.maze.config import MazeConfig
from benchmarks.maze.env import (
    FINAL_REWARD_DECAY,
    MazeTasks,
    MazeVectorEnv,
    TrainSampler,
    generate_walls,
    make_vector_env,
)
from mesa_bench.api import TrialObs
from mesa_bench.evaluation.trials import reference_factory, run_split


def maze_graph(walls: np.ndarray):
    """Returns the open cells' adjacency matrix and the number of edges (scipy, no NumPy
    tricks shared with the code under test)."""
    size = walls.shape[0]
    idx = np.arange(size * size).reshape(size, size)
    open_ = ~walls
    right = open_[:, :-1] & open_[:, 1:]
    down = open_[:-1, :] & open_[1:, :]
    a = np.concatenate([idx[:, :-1][right], idx[:-1, :][down]])
    b = np.concatenate([idx[:, 1:][right], idx[1:, :][down]])
    n = size * size
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)).tocsr()
    return graph, a.size


@pytest.mark.parametrize("size", [3, 7, 11, 15])
def test_generated_mazes_are_perfect(size):
    walls = generate_walls(np.random.default_rng(size), 40, size)
    for w in walls:
        graph, edges = maze_graph(w)
        open_cells = np.flatnonzero(~w)
        assert not w[::2, ::2].any()  # every room is open
        assert edges == open_cells.size - 1  # a tree has one edge fewer than nodes ...
        _, labels = connected_components(graph, directed=False)
        assert np.unique(labels[open_cells]).size == 1  # ... and is connected


def test_mazes_differ_and_size_must_be_odd():
    walls = generate_walls(np.random.default_rng(0), 200, 7)
    assert np.unique(walls.reshape(200, -1), axis=0).shape[0] > 190
    with pytest.raises(ValueError, match="odd"):
        generate_walls(np.random.default_rng(0), 1, 8)


def test_moves_walls_reward_and_step_limit_on_a_hand_made_maze():
    # 3x3 grid: the start (2, 0) opens upwards only, the goal is the top-right cell
    walls = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 0]], bool)[None]
    env = MazeVectorEnv(tasks=MazeTasks(walls, np.array([2])))
    obs, _ = env.reset(seed=0)
    assert obs[0, 1, 2, 0] == 1 and obs[0, 2, 0, 2] == 1 and (obs[0, 0] == walls[0]).all()
    up, right, down, left = range(4)
    for action, cell in [(right, (2, 0)), (down, (2, 0)), (up, (1, 0)), (up, (0, 0))]:
        obs, reward, terminated, *_ = env.step(np.array([action]))
        assert obs[0, 1].argmax() == cell[0] * 3 + cell[1] and reward[0] == 0
    env.step(np.array([right]))
    obs, reward, terminated, truncated, info = env.step(np.array([right]))
    assert terminated[0] and not truncated[0]
    assert reward[0] == pytest.approx(1 - FINAL_REWARD_DECAY * 6 / 9)
    assert info["achieved"]["base"][0] and info["achieved"]["proxy:corner"][0]
    for _ in range(8):  # never reaching the goal: truncated at T = 9 steps
        *_, terminated, truncated, info = env.step(np.array([down]))
        assert not truncated[0]
    *_, terminated, truncated, info = env.step(np.array([down]))
    assert truncated[0] and not terminated[0] and not info["achieved"]["base"][0]


def test_bfs_takes_exactly_the_shortest_path_and_solves_every_maze():
    fam = Maze(MazeConfig(diversity=1.0))
    tasks = fam.sample_tasks(np.random.SeedSequence(5), 200, "test")
    out = fam.run_trials(fam.make_reference("bfs", np.random.default_rng(0)), tasks, "test", 0)
    assert out.achieved["base"].all()
    limit = 7 * 7
    steps = np.rint((1 - out.performance) * limit / FINAL_REWARD_DECAY).astype(int)
    start = 6 * 7
    for w, goal, taken in zip(tasks.walls, tasks.goal, steps, strict=True):
        graph, _ = maze_graph(w)
        assert taken == shortest_path(graph, directed=False, indices=start)[goal]


@pytest.mark.parametrize("split", ["test", "bigger-maze-11", "bigger-maze-15"])
def test_bfs_solves_all_test_and_bigger_mazes(split):
    fam = Maze()
    out = run_split(fam, reference_factory(fam, "bfs"), split, 100, run_seed=0)
    assert out.achieved["base"].all()


def test_goals_stay_in_the_top_right_region():
    for diversity, k in [(0.0, 1), (0.5, 4), (1.0, 7)]:
        fam = Maze(MazeConfig(diversity=diversity))
        goal = fam.sample_tasks(np.random.SeedSequence(1), 2000, "train").goal
        r, c = np.divmod(goal, 7)
        assert (r < k).all() and (c >= 7 - k).all()
        assert r.max() == k - 1 and c.min() == 7 - k  # the whole region is used
    assert not (goal == 6 * 7).any()  # never on the start


def test_corner_proxy_and_base_coincide_in_training_and_come_apart_under_goal_anywhere():
    fam = Maze()
    rates = {}
    for split in ("test", "goal-anywhere"):
        for ref in ("bfs", "bfs-corner"):
            out = run_split(fam, reference_factory(fam, ref), split, 200, run_seed=0)
            rates[split, ref] = {k: v.mean() for k, v in out.achieved.items()}
    for ref in ("bfs", "bfs-corner"):
        assert rates["test", ref] == {"base": 1.0, "proxy:corner": 1.0}
    assert rates["goal-anywhere", "bfs"]["base"] == 1.0
    assert rates["goal-anywhere", "bfs"]["proxy:corner"] < 0.3
    assert rates["goal-anywhere", "bfs-corner"] == {"base": 0.0, "proxy:corner": 1.0}


def test_references_are_one_hot_and_random_is_uniform():
    fam = Maze()
    tasks = fam.sample_tasks(np.random.SeedSequence(2), 8, "test")
    env = fam.make_env(tasks, "test")
    obs, _ = env.reset(seed=0)
    from mesa_bench.protocol.rl import initial_trial_obs

    x = initial_trial_obs(obs)
    for ref in ("bfs", "bfs-corner"):
        method = fam.make_reference(ref, np.random.default_rng(0))
        method.reset(8)
        method.observe(x)
        p = method.policy(x)
        assert set(np.unique(p)) == {0.0, 1.0} and (p.sum(axis=1) == 1).all()
    method = fam.make_reference("random", np.random.default_rng(0))
    method.reset(8)
    assert np.allclose(method.policy(x), 0.25)


def test_self_sampling_env_is_deterministic_across_chunks_and_reseeds():
    def rollout(env, seed):
        obs, _ = env.reset(seed=seed)
        frames = [obs]
        for a in np.random.default_rng(0).integers(4, size=(120, env.num_envs)):
            frames.append(env.step(a)[0])
        return np.stack(frames)

    env = make_vector_env(4)
    env.sampler.chunk = 5  # force refills mid-run
    first = rollout(env, 3)
    assert np.array_equal(first, rollout(env, 3))  # the half-used stock is discarded
    assert not np.array_equal(first, rollout(env, 4))
    again = make_vector_env(4)
    again.sampler.chunk = 5
    assert np.array_equal(first, rollout(again, 3))


def test_train_sampler_refuses_bad_sizes():
    with pytest.raises(ValueError, match="odd"):
        TrainSampler(size=4)
    with pytest.raises(ValueError, match="odd"):
        Maze(MazeConfig(size=6))


def test_objective_model_moves_as_the_env_and_rewards_each_target():
    fam = Maze()
    rng = np.random.default_rng(1)
    for split in ("goal-anywhere", "bigger-maze-11"):
        tasks = fam.sample_tasks(np.random.SeedSequence(7), 16, split)
        model = fam.behavior_model(tasks, split)
        n, size = 16, tasks.size
        assert model.next_state.shape == (n, size * size, 4)
        env = fam.make_env(tasks, split)
        obs, _ = env.reset(seed=0)
        bfs = fam.make_reference("bfs", rng)
        bfs.reset(n)
        rows, zero = np.arange(n), np.zeros(n)
        start, done, goals = np.ones(n, bool), np.zeros(n, np.float32), 0
        for _ in range(3 * size * size):
            # even rows walk to the goal (to reach it), odd rows at random (to hit walls)
            x = TrialObs(obs, zero.astype(np.int64), zero.astype(np.float32), done, start)
            a = np.where(rows % 2 == 0, bfs.act(x), rng.integers(4, size=n))
            state = fam.behavior_state(obs)
            obs, _, terminated, truncated, info = env.step(a)
            ended = terminated | truncated  # autoreset: the cell moved to is in final_obs
            after = np.where(ended[:, None, None, None], info.get("final_obs", obs), obs)
            expected = fam.behavior_state(after)
            assert (model.next_state[rows, state, a] == expected).all()
            reward = model.rewards["base"][rows, state, a]
            assert (reward == (expected == tasks.goal)).all()
            assert (reward == terminated).all()  # the env ends the episode on the goal
            start, done, goals = (
                np.zeros(n, bool),
                ended.astype(np.float32),
                goals + terminated.sum(),
            )
        assert goals >= 3 * n // 2
        corner = model.rewards["proxy:corner"]
        assert (corner == (model.next_state == size - 1)).all() and corner.any(axis=(1, 2)).all()

"""ad: the source histories and their labels, which families and sources it takes, tiny runs
that write valid records, same seed same numbers, resuming a killed run, and known answers
on a 2-armed bandit (it learns within a trial and is closest to its source, UCB1) and a small
MDP (it approaches PSRL)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.ad import AD, ADConfig
from baselines.ad_data import history_batch, source_name
from benchmarks.bandit import Bandit
from benchmarks.bandit.config import BanditConfig
from benchmarks.bandit.env import BanditTasks
from benchmarks.tabular_mdp import TabularMDP
from benchmarks.tabular_mdp.config import TabularMDPConfig
from mesa_bench import seeding
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.checkpoint import CHECKPOINT_FILE
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.protocol.rl import run_rl_trials
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Restores torch's thread count after a trainer has set it from its config."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def tiny(**changes) -> ADConfig:
    """Returns a config small enough for a run of a few seconds."""
    base = dict(name="ad", width=16, layers=1, heads=2, batch=16, save_every=3, log_every=1)
    return ADConfig(**{**base, **changes})


def train(tmp_path, cfg: ADConfig, budget: int, seed: int = 0, fam=None, hook=None, **kw):
    fam = fam or FAMILIES.get("bandit")()
    kw = {"n_eval": 16, "splits": ["test"], "match_trials": 8, **kw}
    evaluator = Evaluator(fam, seed, budget, **kw)
    ctx = TrainContext(run_dir=tmp_path, log=hook or (lambda m, b: None))
    trained = AD("ad", cfg).train(fam, evaluator, budget, seed, ctx)
    return evaluator.finish(trained.make_method, trained.spent, trained.parameter_count), trained


def numbers(record) -> dict:
    """The parts of a record that must repeat exactly (everything but wall times)."""
    out = record.model_dump()
    out.pop("wall_time_s")
    for point in out["curve"]:
        point.pop("wall_time_s")
    return out


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


def test_sources_by_family():
    name = lambda task, wanted="auto": source_name(FAMILIES.get(task)(), wanted)  # noqa: E731
    assert name("bandit") == "ucb1" and name("bandit", "thompson") == "thompson"
    assert name("bandit-cue") == "thompson" and name("tabular-mdp") == "psrl"
    assert name("tabular-mdp", "oracle-vi") is None  # privileged: not a learner
    assert name("bandit", "random") is None
    with pytest.raises(ValueError, match="method.source='psrl': bandit has no such learning"):
        AD("ad", tiny(source="psrl")).source(FAMILIES.get("bandit")())


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="multiple of heads"):
        tiny(width=10, heads=4).check()


# --- the entry ---


@pytest.mark.parametrize("task", ["bandit", "tabular-mdp"])
def test_tiny_run_writes_a_valid_record(task, run_config):
    cfg = run_config(task=task, method="ad", budget=48, n_eval=8)
    cfg.method = tiny()
    record = read_results(jobs.run(cfg).results_path).runs[0]
    fam = FAMILIES.get(task)()
    assert record.family == fam.spec.id and record.budget == 48
    assert set(record.splits) == {"test", *fam.spec.shifts}
    assert record.curve[-1].budget == 48 and record.parameter_count > 0
    assert set(record.matches["test"].points[-1].distance) == set(fam.spec.references)
    assert (jobs.run_dir(cfg) / CHECKPOINT_FILE).exists()


def test_same_seed_gives_the_same_numbers(tmp_path):
    a, _ = train(tmp_path / "a", tiny(), 96, seed=3)
    b, _ = train(tmp_path / "b", tiny(), 96, seed=3)
    c, _ = train(tmp_path / "c", tiny(), 96, seed=4)
    assert numbers(a) == numbers(b)
    assert numbers(a) != numbers(c)


def test_a_killed_run_resumes_to_the_same_numbers(tmp_path):
    whole, _ = train(tmp_path / "whole", tiny(), 160)

    def kill(metrics: dict, budget: int) -> None:
        if budget == 16 * 7:  # saved after step 6, killed after 7
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", tiny(), 160, hook=kill)
    resumed, _ = train(tmp_path / "cut", tiny(), 160)
    assert numbers(resumed) == numbers(whole)


# --- known answers ---


@pytest.fixture(scope="module")
def two_arms(tmp_path_factory):
    """AD pretrained on 19,200 UCB1 histories of 50 pulls on 2-armed bandits with uniform
    means (about 15 s of CPU): its record (128 test trials, match statistics on 32) and its
    trained method.

    Seeds 0-2 of this set-up score 0.72-0.76, pull the better arm of the 0.1 / 0.9 bandits
    0.76-0.77 of the time in the first fifth of a trial and 0.93 in the last (UCB1 on the
    same trials: 0.77 and 0.93), and are matched to UCB1 (KL 0.17-0.19; Thompson 0.58-0.66).
    One layer is too few: it pulls the same, but its KL to UCB1 is 0.85 (Thompson 0.24), as
    UCB1's exact count comparisons need the second layer.
    """
    threads = torch.get_num_threads()
    fam = Bandit(BanditConfig(arms=2, horizon=50))
    cfg = tiny(width=32, layers=2, heads=2, batch=32, lr=3e-3, save_every=0)
    record, trained = train(
        tmp_path_factory.mktemp("two-arms"), cfg, 19_200, fam=fam, n_eval=128, match_trials=32
    )
    torch.set_num_threads(threads)
    return fam, record, trained


def better_arm_rate(fam, method) -> np.ndarray:
    """Returns the rate of pulls of the better arm at each step of 64 trials of a 0.1 / 0.9
    bandit, half with the better arm first (so no fixed arm passes)."""
    means = np.array([[0.1, 0.9]] * 32 + [[0.9, 0.1]] * 32)
    tasks = BanditTasks(means=means, horizon=50)
    actions = []
    run_rl_trials(
        fam.make_env(tasks, "test"), method, 1, 0, tasks, on_step=lambda x, a, i: actions.append(a)
    )
    return (np.stack(actions) == means.argmax(axis=1)).mean(axis=1)


def test_learns_within_a_trial(two_arms):
    fam, _, trained = two_arms
    rate = better_arm_rate(fam, trained.make_method(np.random.default_rng(0)))
    first, last = rate[:10].mean(), rate[40:].mean()  # the first and last fifth of 50 pulls
    assert last > first + 0.1 and last >= 0.85


def test_scores_well_above_random_and_is_closest_to_ucb1(two_arms):
    # Thompson sampling scores 1, random 0 (seeds 0-2: 0.72-0.76)
    _, record, _ = two_arms
    assert record.curve[-1].score > 0.5
    distance = record.matches["test"].points[-1].distance
    assert min(distance, key=distance.get) == "ucb1"


def test_distils_psrl_on_a_small_tabular_mdp(tmp_path):
    # 3 states, 2 actions, episodes of 3 steps, 10 a trial, PSRL the source (auto): the
    # histories cross episode ends. Seed 0 scores 1.04 of PSRL, is closest to it by KL (0.02;
    # random and oracle-vi 0.39) and raises its return from 2.9 in the first episode to 4.3
    # in the last (about 40 s of CPU).
    fam = TabularMDP(TabularMDPConfig(states=3, actions=2, episode_length=3, episodes=10))
    cfg = tiny(width=32, layers=2, heads=2, batch=32, lr=3e-3, save_every=0)
    record, _ = train(tmp_path, cfg, 19_200, fam=fam, n_eval=128, match_trials=32)
    returns = record.splits["test"].extras
    assert record.curve[-1].score > 0.7
    distance = record.matches["test"].points[-1].distance  # KL(reference || ad) per step
    assert min(distance, key=distance.get) == "psrl"
    assert np.mean(returns["episode_return@9"]) > np.mean(returns["episode_return@0"]) + 0.5

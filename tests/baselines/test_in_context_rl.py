"""dpt and ad, the in-context rl learners pretrained by supervised learning, on what they
share: registration and suite membership, config checks, tiny runs that write valid records,
same seed same numbers, resuming a killed run, known answers on a 2-armed bandit and a small
MDP, and dpt's on the family's own bandit. What only one of them has (dpt's tokens, cache
and oracle labels; ad's source histories) is in ``test_dpt.py`` and ``test_ad.py``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from record_numbers import numbers

from baselines.ad import AD, ADConfig
from baselines.dpt import DPT, DPTConfig, InContextConfig
from benchmarks.bandit import Bandit
from benchmarks.bandit.config import BanditConfig
from benchmarks.bandit.env import BanditTasks
from benchmarks.tabular_mdp import TabularMDP
from benchmarks.tabular_mdp.config import TabularMDPConfig
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.checkpoint import CHECKPOINT_FILE
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.protocol.rl import run_rl_trials
from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.results import read_results
from mesa_bench.running import jobs
from mesa_bench.running.suites import SUITES

ENTRIES = {"dpt": (DPT, DPTConfig), "ad": (AD, ADConfig)}
NAMES = list(ENTRIES)
FAMILIES_OF_BOTH = ("bandit", "bandit-cue", "tabular-mdp")  # where an oracle and a source exist
# transformer blocks of the known-answer runs: one is too few for ad (below)
LAYERS = {"dpt": 1, "ad": 2}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Restores torch's thread count after a trainer has set it from its config."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def tiny(name: str, **changes) -> InContextConfig:
    """Returns a config of method ``name`` small enough for a run of a few seconds."""
    base = dict(name=name, width=16, layers=1, heads=2, batch=16, save_every=3, log_every=1)
    return ENTRIES[name][1](**{**base, **changes})


def train(tmp_path, cfg: InContextConfig, budget: int, seed: int = 0, fam=None, hook=None, **kw):
    """Trains ``cfg``'s method in process; returns its record and the trained method."""
    fam = fam or FAMILIES.get("bandit")()
    kw = {"n_eval": 16, "splits": ["test"], "match_trials": 8, **kw}
    evaluator = Evaluator(fam, seed, budget, **kw)
    ctx = TrainContext(run_dir=tmp_path, log=hook or (lambda m, b: None))
    trained = ENTRIES[cfg.name][0](cfg.name, cfg).train(fam, evaluator, budget, seed, ctx)
    return evaluator.finish(trained.make_method, trained.spent, trained.parameter_count), trained


# --- the entry ---


@pytest.mark.parametrize("name", NAMES)
def test_registered_and_in_the_quick_suite_where_it_applies(name):
    entry = METHODS.get(name)(name, tiny(name))
    assert isinstance(entry, ENTRIES[name][0])
    applies = {f for f in FAMILIES.names() if entry.applies_to(FAMILIES.get(f)())}
    assert applies == set(FAMILIES_OF_BOTH)
    listed = {e.family for e in SUITES.get("mesa-v1-quick").entries if name in e.methods}
    assert listed == applies


@pytest.mark.parametrize("name", NAMES)
def test_bad_config_names_the_field(name):
    with pytest.raises(ValueError, match="multiple of heads"):
        tiny(name, width=10, heads=4).check()
    with pytest.raises(ValueError, match="method.width, layers and heads must be at least 1"):
        tiny(name, layers=0).check()
    with pytest.raises(ValueError, match="method.lr must be positive"):
        tiny(name, lr=0.0).check()


@pytest.mark.parametrize("task", FAMILIES_OF_BOTH)
@pytest.mark.parametrize("name", NAMES)
def test_tiny_run_writes_a_valid_record(name, task, run_config):
    cfg = run_config(task=task, method=name, budget=48, n_eval=8)
    cfg.method = tiny(name)
    record = read_results(jobs.run(cfg).results_path).runs[0]
    fam = FAMILIES.get(task)()
    assert record.family == fam.spec.id and record.budget == 48
    assert set(record.splits) == {"test", *fam.spec.shifts}
    assert record.curve[-1].budget == 48 and record.parameter_count > 0
    assert set(record.matches["test"].points[-1].distance) == set(fam.spec.references)
    assert (jobs.run_dir(cfg) / CHECKPOINT_FILE).exists()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_numbers(name, tmp_path):
    a, _ = train(tmp_path / "a", tiny(name), 96, seed=3)
    b, _ = train(tmp_path / "b", tiny(name), 96, seed=3)
    c, _ = train(tmp_path / "c", tiny(name), 96, seed=4)
    assert numbers(a) == numbers(b)
    assert numbers(a) != numbers(c)


@pytest.mark.parametrize("name", NAMES)
def test_a_killed_run_resumes_to_the_same_numbers(name, tmp_path):
    whole, _ = train(tmp_path / "whole", tiny(name), 160)

    def kill(metrics: dict, budget: int) -> None:
        if budget == 16 * 7:  # saved after step 6, killed after 7
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", tiny(name), 160, hook=kill)
    resumed, _ = train(tmp_path / "cut", tiny(name), 160)
    assert numbers(resumed) == numbers(whole)


# --- known answers ---


@dataclass(frozen=True)
class TwoArms:
    """What a method pretrained on 19,200 2-armed bandits of 50 pulls must show.

    Attributes:
        late: least rate of pulls of the better arm in the last fifth of the 0.1 / 0.9 trials.
        gain: least rise of that rate from the first fifth of the trial to the last.
        score: least normalized score (Thompson sampling 1, random 0).
        closest: the reference nearest to it by KL.
        matched: whether the match rule must also accept ``closest``.
    """

    late: float
    gain: float
    score: float
    closest: str
    matched: bool


# dpt, seeds 0-2: pulls the better arm 0.75-0.77 of the time in the first fifth of the trial
# and 0.94-0.97 in the last, scores 0.89-0.93 and is closest to Thompson (KL 0.05-0.06;
# greedy 0.23-0.27, random 0.40-0.45): sampling its posterior over the best arm is posterior
# sampling. Seeds 0 and 1 are matched to Thompson; seed 2 is not accepted under the family's
# calibrated threshold (measured 2026-12-01, the same before and after the dpt/ad clean-up).
# At half the budget the late rate was 0.90-0.93, too close to the bar.
# ad, distilling UCB1 (its ``auto`` source) with the actions UCB1 took as labels (its default),
# seeds 0-2: scores 0.72-0.78, pulls the better arm 0.76-0.77 of the time in the first fifth
# and 0.92-0.93 in the last (UCB1 on the same trials: 0.77 and 0.93) and is matched to UCB1
# (KL 0.16-0.22; Thompson 0.62-0.68, greedy 0.67-0.80; measured 2026-12-01). With UCB1's
# action distributions as labels (``label="probs"``, ties split evenly) it pulled the same
# and was closest to UCB1 (KL 0.17-0.19) but not matched. One layer is too few for ad: its
# KL to UCB1 was 0.85 (Thompson 0.24), as UCB1's exact count comparisons need the second.
TWO_ARMS = {
    "dpt": TwoArms(late=0.9, gain=0.1, score=0.7, closest="thompson", matched=True),
    "ad": TwoArms(late=0.85, gain=0.1, score=0.5, closest="ucb1", matched=True),
}


@pytest.fixture(scope="module", params=NAMES)
def two_arms(request, tmp_path_factory):
    """A method pretrained on 19,200 2-armed bandits of 50 pulls with uniform means (about
    15 s of CPU): its name, its record (128 test trials, match statistics on 32) and its
    trained method."""
    threads = torch.get_num_threads()
    name = request.param
    fam = Bandit(BanditConfig(arms=2, horizon=50))
    cfg = tiny(name, width=32, layers=LAYERS[name], batch=32, lr=3e-3, save_every=0)
    record, trained = train(
        tmp_path_factory.mktemp(f"two-arms-{name}"),
        cfg,
        19_200,
        fam=fam,
        n_eval=128,
        match_trials=32,
    )
    torch.set_num_threads(threads)
    return name, fam, record, trained


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


def test_settles_on_the_clearly_better_arm_learning_within_the_trial(two_arms):
    name, fam, _, trained = two_arms
    rate = better_arm_rate(fam, trained.make_method(np.random.default_rng(0)))
    first, last = rate[:10].mean(), rate[40:].mean()  # the first and last fifth of 50 pulls
    assert last >= TWO_ARMS[name].late
    assert last > first + TWO_ARMS[name].gain


def test_scores_well_above_random_and_is_closest_to_its_reference(two_arms):
    name, _, record, _ = two_arms
    expected = TWO_ARMS[name]
    assert record.curve[-1].score > expected.score
    final = record.matches["test"].points[-1]
    assert min(final.distance, key=final.distance.get) == expected.closest
    if expected.matched:
        assert final.matched == expected.closest


@pytest.mark.parametrize("name", NAMES)
def test_approaches_psrl_on_a_small_tabular_mdp(name, tmp_path):
    # 3 states, 2 actions, episodes of 3 steps, 10 a trial: the context crosses episode
    # ends. dpt learns oracle-vi's plan: seeds 0-2 score 0.95-1.02 of PSRL, are closest to it
    # by KL (0.03-0.04; random and oracle-vi 0.3-0.6) and raise their return from about 3.0
    # in the first episode to 4.2 in the last. ad distils PSRL (its auto source), two layers,
    # PSRL's actions as labels: seeds 0-2 score 0.88-0.97, KL 0.11-0.13 (random and oracle-vi
    # 0.44-0.54), return 2.8-3.1 rising to 4.1-4.4 (with PSRL's action distributions as
    # labels, seed 0 scored 1.04, KL 0.02). On
    # the family's own 10 x 5 MDPs dpt's default network needs minutes, not seconds: seed 0
    # is at 0.07 after 20k datasets, 1.04 after 51k and 1.14 after 128k (the default budget).
    fam = TabularMDP(TabularMDPConfig(states=3, actions=2, episode_length=3, episodes=10))
    cfg = tiny(name, width=32, layers=LAYERS[name], batch=32, lr=3e-3, save_every=0)
    record, _ = train(tmp_path, cfg, 19_200, fam=fam, n_eval=128, match_trials=32)
    returns = record.splits["test"].extras
    assert record.curve[-1].score > 0.7
    distance = record.matches["test"].points[-1].distance  # KL(reference || method) per step
    assert min(distance, key=distance.get) == "psrl"
    assert np.mean(returns["episode_return@9"]) > np.mean(returns["episode_return@0"]) + 0.5


@pytest.mark.slow
def test_dpt_at_the_quick_suite_budget_is_matched_to_thompson_on_the_bandit(tmp_path):
    # The known answer on the family itself (5 arms, 100 pulls), at mesa-v1-quick's
    # budget with the default network (about 70 CPU-s). Seeds 0-2 score 0.99 / 0.97 / 0.93
    # and are all matched to Thompson (KL 0.04-0.06; greedy 0.45-0.58, random 0.99-1.15); the
    # score is near 0 until about 8k datasets. A width-32 one-layer net at 19k datasets, the
    # 2-armed set-up, is not enough here: seeds 1 and 2 score 0.40 and 0.42.
    cfg = DPTConfig(name="dpt", save_every=0)
    record, _ = train(tmp_path, cfg, 32_000, n_eval=128, match_trials=32)
    final = record.matches["test"].points[-1]
    assert record.curve[-1].score > 0.8
    assert final.matched == "thompson"
    assert min(final.distance, key=final.distance.get) == "thompson"

"""References checked on every entry: the server re-runs them on the public trials."""

from __future__ import annotations

import httpx
import pytest

from leaderboard import references
from leaderboard.checks import EntryError, check_results
from leaderboard.references import ReferenceCache, check_references
from leaderboard.store import Store
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.trials import DEFAULT_EVAL_SEED, reference_factory
from mesa_bench.registry import FAMILIES
from mesa_bench.results import MethodInfo, ResultsFile, SuiteInfo

from builders import PROVENANCE, make_results

API = "/api/v1/entries"
FAMILY_NAMES = sorted(FAMILIES.names())


@pytest.fixture
def board(tmp_path):
    """Returns (store, submitter id) over a fresh SQLite file."""
    store = Store(str(tmp_path / "board.sqlite"))
    yield store, store.authenticate(store.add_submitter("alice"))
    store.close()


def _doctored(method: str, run: int, split: str, reference: str, factor: float):
    results = make_results(method)
    values = results.runs[run].splits[split].references[reference]
    values[:] = [v * factor for v in values]
    return results


@pytest.mark.parametrize(
    ("run", "split", "reference", "factor"),
    [
        (1, "test", "thompson", 1.0 + 1e-4),  # a score-1 reference barely raised
        (4, "goal-anywhere", "bfs", 0.9),  # a score-1 reference lowered on a shift
        (2, "long-horizon", "random", 0.9),  # a floor lowered
    ],
)
def test_a_doctored_reference_is_refused_by_its_field_and_nothing_is_stored(
    board, run, split, reference, factor
):
    store, who = board
    results = _doctored("doctored", run, split, reference, factor)
    with pytest.raises(EntryError) as refused:
        store.submit(check_results(results), who)
    assert refused.value.field == f"runs.{run}.splits.{split}.references.{reference}"
    assert "re-run on the public trials" in refused.value.message
    assert store.count() == 0


def test_an_honest_file_passes_and_scores_its_skill(board):
    store, who = board
    row, created = store.submit(check_results(make_results("honest", skill=0.6)), who)
    assert created
    assert row.score_iqm == pytest.approx(0.62)  # seeds 0.60, 0.62, 0.64 in both families


def test_the_second_check_of_the_same_runs_re_runs_nothing():
    cache = ReferenceCache()
    first = check_results(make_results("cached-a"))
    assert check_references(first, cache) == 6  # bandit and maze, 3 seeds each
    runs = cache.runs
    assert runs == 6 * 2 * 2  # each run: test and one shift, score-1 reference and floor
    # another method on the same suite and seeds: the same public trials, nothing re-run
    assert check_references(check_results(make_results("cached-b", skill=0.3)), cache) == 6
    assert cache.runs == runs


def test_the_cache_is_bounded_by_bytes():
    results = make_results("bounded", families=("bandit-v1",), seeds=3)
    cache = ReferenceCache(budget_bytes=16 * 8 * 3)  # three splits' worth of 16 trials
    check_references(check_results(results), cache)
    assert cache.runs == 12
    check_references(check_results(results), cache)
    assert cache.runs > 12  # what was dropped is re-run


def test_a_swapped_floor_is_refused(board):
    store, who = board
    results = make_results("swapped", families=("bandit-v1",))
    for run in results.runs:  # a stronger floor lifts nothing, a weaker one inflates scores
        run.floor_reference = "greedy"
        for rec in run.splits.values():
            rec.references["greedy"] = rec.references.pop("random")
    with pytest.raises(EntryError) as refused:
        store.submit(check_results(results), who)
    assert refused.value.field == "runs.0.floor_reference"
    assert "'random'" in refused.value.message


def test_a_ranked_run_without_its_config_is_refused_and_an_ad_hoc_one_is_taken(board):
    store, who = board
    ranked = make_results("no-config")
    ranked.config = {}
    with pytest.raises(EntryError) as refused:
        store.submit(check_results(ranked), who)
    assert refused.value.field == "runs.0"
    assert "cannot be checked" in refused.value.message
    ad_hoc = make_results("no-config-ad-hoc", suite=("none", 0))
    ad_hoc.config = {}
    assert check_references(check_results(ad_hoc)) == 0  # nothing to rebuild: unchecked
    assert store.submit(check_results(ad_hoc), who)[1]


def test_runs_on_other_trials_are_refused_naming_the_eval_seed(board):
    store, who = board
    results = make_results("other-trials")
    results.config["bundle"][2]["eval_seed"] = DEFAULT_EVAL_SEED + 1
    with pytest.raises(EntryError) as refused:
        store.submit(check_results(results), who)
    assert refused.value.field == "config.bundle.2.eval_seed"


def test_an_entry_that_asks_for_too_many_re_runs_is_refused_before_any(monkeypatch):
    monkeypatch.setattr(references, "MAX_REFERENCE_TRIALS", 100)
    cache = ReferenceCache()
    with pytest.raises(EntryError) as refused:
        check_references(check_results(make_results("costly")), cache)
    assert refused.value.field == "runs"
    assert cache.runs == 0


def test_the_server_answers_a_doctored_reference_with_422_naming_the_field(live):
    server, token = live
    results = _doctored("doctored-http", 1, "test", "thompson", 1.25)
    answer = httpx.post(
        server.url + API,
        content=results.model_dump_json(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "runs.1.splits.test.references.thompson"
    listing = httpx.get(server.url + API, params={"method": "doctored-http"}).json()
    assert listing["total"] == 0
    answer = httpx.post(
        server.url + API,
        content=make_results("honest-http").model_dump_json(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_what_the_evaluator_writes_for_every_family_passes_in_a_fresh_cache(name):
    # the re-run must reproduce the evaluator bit for bit on every family, or honest
    # entries are refused: nothing in a reference may depend on state outside its seeds
    cls = FAMILIES.get(name)
    family = cls(cls.config_class())
    spec = family.spec
    other = next(
        r for r in spec.references if r not in (spec.score_reference, spec.floor_reference)
    )
    evaluator = Evaluator(family, seed=1, budget=0, n_eval=8, match_trials=0)
    run = evaluator.finish(reference_factory(family, other), spent=0)
    results = ResultsFile(
        suite=SuiteInfo(id="none", version=0),
        method=MethodInfo(name=f"reference-{other}", version="1"),
        provenance=PROVENANCE,
        config={"task": {"name": name}, "seed": 1},
        runs=[run],
    )
    cache = ReferenceCache()
    assert check_references(check_results(results), cache) == 1
    assert cache.runs == 2 * len(run.splits)

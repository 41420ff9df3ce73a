"""Figure renders and parsed results: one render per figure, failures remembered, bounded."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from leaderboard import caches, figures
from leaderboard.caches import FigureFailed, FigureRenders, ResultsCache
from leaderboard.checks import check_submission
from leaderboard.scoring import entry_metrics
from leaderboard.store import Store

from builders import make_results

MATHTEXT = "$\\frac{$"


def _renamed_shifts(results, name: str):
    """Returns ``results`` with every non-test split renamed ``name``."""
    runs = []
    for r in results.runs:
        splits = {(k if k == "test" else name): v for k, v in r.splits.items()}
        runs.append(r.model_copy(update={"splits": splits}))
    return results.model_copy(update={"runs": runs})


@pytest.mark.parametrize("name", figures.FIGURES)
@pytest.mark.parametrize("family", [None, "bandit-v1", "maze-v1"])
def test_a_split_named_like_mathtext_renders(name, family):
    results = _renamed_shifts(make_results("mathtext", matched=True), MATHTEXT)
    checked = check_submission(results.model_dump_json())
    summary = entry_metrics(checked.results, n_resamples=100)
    png = figures.render(name, summary, family)
    assert png.startswith(b"\x89PNG")


@pytest.fixture
def entry(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    row, _ = store.submit(check_submission(make_results("renders").model_dump_json()), who)
    yield store, row.id
    store.close()


def test_concurrent_views_of_one_figure_render_it_once(entry, monkeypatch):
    store, entry_id = entry
    real, calls = figures.render, []

    def slow(*args):
        calls.append(args[0])
        time.sleep(0.3)
        return real(*args)

    monkeypatch.setattr(figures, "render", slow)
    renders = FigureRenders(store)
    summary = store.metrics(entry_id)
    with ThreadPoolExecutor(6) as pool:
        pngs = list(pool.map(lambda _: renders.get(entry_id, "curves", "", summary), range(6)))
    assert calls == ["curves"]
    assert len(set(pngs)) == 1 and pngs[0] == store.figure(entry_id, "curves", "")
    assert renders._locks == {}  # no lock is kept once nobody waits


def test_a_failed_render_is_remembered_for_a_while(entry, monkeypatch):
    store, entry_id = entry
    calls = []

    def broken(*args):
        calls.append(args[0])
        raise ValueError("mathtext parse error")

    monkeypatch.setattr(figures, "render", broken)
    renders = FigureRenders(store, failure_ttl_s=0.5)
    summary = store.metrics(entry_id)
    for _ in range(5):
        with pytest.raises(FigureFailed, match="could not be drawn"):
            renders.get(entry_id, "reachability", "", summary)
    assert calls == ["reachability"]
    time.sleep(0.6)
    with pytest.raises(FigureFailed):
        renders.get(entry_id, "reachability", "", summary)
    assert calls == ["reachability"] * 2


def test_the_results_cache_is_bounded_by_bytes(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    ids = []
    for n_trials in (8, 16, 32, 64):
        results = make_results(f"size-{n_trials}", n_trials=n_trials)
        row, _ = store.submit(check_submission(results.model_dump_json()), who)
        ids.append(row.id)
    costs = {i: len(store.results_json(i)) * caches.PARSED_BYTES_PER_JSON_BYTE for i in ids}
    budget = costs[ids[2]] + costs[ids[1]]  # room for the two middle ones, not the largest
    cache = ResultsCache(store, budget_bytes=budget)
    for i in ids:
        assert cache.get(i).method.name.startswith("size-")
        assert cache.held_bytes() <= budget
    assert ids[3] not in cache._items  # larger than the whole budget: parsed, not kept
    assert cache.held_bytes() == costs[ids[2]] + costs[ids[1]]
    store.close()


def test_parallel_gets_of_one_entry_count_it_once(entry):
    store, entry_id = entry
    cache = ResultsCache(store)
    barrier = threading.Barrier(4)

    def get(_):
        barrier.wait()
        return cache.get(entry_id)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(get, range(4)))
    assert cache.held_bytes() == len(store.results_json(entry_id)) * 21

"""Pages show the gated figures: OR and GMR with how many runs qualified, run classes, the
behavioral objective with its reasons and goal-directedness, and the gated column notes."""

from __future__ import annotations

import asyncio
import html
import re

import httpx
import pytest

from leaderboard.app import create_app
from leaderboard.checks import check_submission
from leaderboard.columns import column
from leaderboard.store import Store
from mesa_bench.metrics.robustness import gated_text

from builders import behavior


def _with_behavior(results):
    """Seed 2 pursues base clearly; the others are flat (not goal-directed)."""
    runs = []
    for r in results.runs:
        if r.family == "maze-v1":
            lls = {"base": -10.0, "proxy:corner": -60.0} if r.seed == 2 else {"base": -69.0}
            r = r.model_copy(update={"behavior": {"goal-anywhere": behavior(lls)}})
        runs.append(r)
    return results.model_copy(update={"runs": runs})


@pytest.fixture
def board(tmp_path, results_factory):
    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    results = _with_behavior(results_factory("gated", skill=0.78))
    row, _ = store.submit(check_submission(results.model_dump_json()), who)
    yield store, row.id
    store.close()


def _get(store: Store, url: str) -> str:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://board") as client:
            return await client.get(url)

    response = asyncio.run(get())
    assert response.status_code == 200, response.text
    return html.unescape(response.text)


def test_entry_page_shows_the_headline_or_with_its_capable_count(board):
    store, entry = board
    m = store.metrics(entry)
    h = m["headline"]
    assert 0 < h["objective_robustness_capable"] < h["objective_robustness_runs"]
    page = _get(store, f"/entries/{entry}")
    cell = re.search(r'<td id="headline-or">(.*?)</td>', page).group(1)
    expected = gated_text(
        h["objective_robustness"],
        h["objective_robustness_capable"],
        h["objective_robustness_runs"],
    )
    assert cell == expected and "capable)" in cell
    s = m["families"]["maze-v1"]["objective_robustness"]["goal-anywhere"]
    n, of = s["capable"]["n"], s["capable"]["of"]
    assert f"OR {gated_text(s['OR']['mean'], n, of)}" in page
    assert f"GMR {gated_text(s['GMR']['mean'], n, of)}" in page
    assert s["classes"]["capability-failure"] > 0  # seed 0 (score 0.78) is not competent
    for cls, count in s["classes"].items():
        if count:
            assert f"{cls} {count}" in page


def test_family_page_shows_gated_or_classes_and_the_behavioral_objective(board):
    store, entry = board
    m = store.metrics(entry)["families"]["maze-v1"]
    page = _get(store, f"/entries/{entry}/families/maze-v1")
    s = m["objective_robustness"]["goal-anywhere"]
    n, of = s["capable"]["n"], s["capable"]["of"]
    assert f"<td>{gated_text(s['OR']['mean'], n, of)}</td>" in page
    runs = re.search(r'<table id="robustness">.*?</table>', page, re.S).group(0)
    for cls, count in s["classes"].items():
        assert f"{cls} {count}" in runs
    b = m["behavioral_objective"]["goal-anywhere"]
    table = re.search(r'<table id="behavior">.*?</table>', page, re.S).group(0)
    assert b["per_seed"][2] == "base" and "seed 2: base" in table
    assert b["reasons"][1].startswith("not goal-directed")
    assert f"seed 1: undetermined ({b['reasons'][1]})" in table
    assert b["objective"] == "base"  # the capable seeds' (1 and 2); seed 0 is not capable
    gd = b["goal_directedness"]
    assert gated_text(gd["mean"], b["capable"]["n"], b["capable"]["of"]) in table


def test_column_notes_say_what_is_gated():
    note = column("robustness").note
    assert "capable" in note and "C >= 0.5" in note and "0.36 (3/3 capable)" in note
    assert "differ on some trial" in note
    assert "scored families" in column("reachability").note

"""One rescoring path: report and leaderboard ignore an edited checkpoint ``score`` alike."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leaderboard import figures
from leaderboard.scoring import entry_metrics
from mesa_bench.cli import main
from mesa_bench.metrics.rescoring import pooled_references
from mesa_bench.results import read_results, write_results

RESAMPLES = 200


def _with_scores(results, score_of):
    """Returns a copy of ``results`` with each checkpoint's ``score`` ``score_of(run, point)``."""
    runs = [
        r.model_copy(
            update={"curve": [c.model_copy(update={"score": score_of(r, c)}) for c in r.curve]}
        )
        for r in results.runs
    ]
    return results.model_copy(update={"runs": runs})


def _true_scorer(results):
    """Returns the score of ``(run, point)`` against its family's pooled test references."""
    means = {}
    for family in {r.family for r in results.runs}:
        floor, ref = pooled_references([r for r in results.runs if r.family == family], "test")
        means[family] = (np.mean(floor), np.mean(ref))

    def score(run, point) -> float:
        floor, ref = means[run.family]
        return (point.performance - floor) / (ref - floor)

    return score


def _report(path, out) -> dict:
    assert main(["report", str(path), "--out", str(out), "--resamples", str(RESAMPLES)]) == 0
    return json.loads((out / "metrics.json").read_text())


def _leaderboard(path) -> dict:
    summary = entry_metrics(read_results(path), n_resamples=RESAMPLES)
    summary.pop("scoring_version")
    return summary


# (skill, edited score): a run that never reaches tau made to look competent everywhere,
# and a run that does reach it made to look as if it never did
@pytest.mark.parametrize(("skill", "edited"), [(0.7, 1.0), (0.9, 0.0)])
def test_report_and_leaderboard_ignore_an_edited_checkpoint_score(
    results_factory, tmp_path, skill, edited
):
    results = results_factory(skill=skill)
    true_score = _true_scorer(results)
    true_path = write_results(_with_scores(results, true_score), tmp_path / "true.json")
    edited_path = write_results(_with_scores(results, lambda *_: edited), tmp_path / "edited.json")

    report_true = _report(true_path, tmp_path / "report-true")
    report_edited = _report(edited_path, tmp_path / "report-edited")
    board_true, board_edited = _leaderboard(true_path), _leaderboard(edited_path)
    assert report_edited["methods"] == report_true["methods"]
    assert board_edited == board_true
    assert report_edited["methods"]["synthetic"] == board_edited

    # the summary holds what the unedited file says: each seed's rescored curve equals the
    # stored true scores, and competence is read from those, not from the edited field
    for run in results.runs:
        fam = board_edited["families"][run.family]
        seed_curve = fam["curve"]["per_seed"][fam["seeds"].index(run.seed)]
        assert seed_curve["scores"] == pytest.approx([true_score(run, c) for c in run.curve])
    reached = [
        t
        for f in board_edited["families"].values()
        for t in f["reachability"]["competence"]["per_seed"]
    ]
    if skill < 0.8:
        assert reached == [None] * len(reached)  # the edit said: all competent at once
        assert board_edited["headline"]["reachability"] == 0.0
    else:
        assert all(t is not None for t in reached)  # the edit said: never competent
        assert board_edited["headline"]["reachability"] == 1.0

    # the figures draw these summaries only, so they come out the same pixel for pixel
    for name in ("learning_curves.png", "reachability.png"):
        a = (tmp_path / "report-true" / name).read_bytes()
        assert a == (tmp_path / "report-edited" / name).read_bytes(), name
    for name in ("curves", "reachability"):
        assert figures.render(name, board_edited) == figures.render(name, board_true), name


def test_an_entry_scored_by_older_code_is_rescored_when_read(tmp_path, results_factory):
    from leaderboard.checks import check_submission
    from leaderboard.scoring import SCORING_VERSION
    from leaderboard.store import Store

    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    row, _ = store.submit(check_submission(results_factory().model_dump_json()), who)
    current = store.metrics(row.id)
    # as summary 2 stored it: no per-seed curves or first budgets
    old = json.loads(json.dumps(current))
    for fam in old["families"].values():
        del fam["curve"]["per_seed"], fam["reachability"]["competence"]["per_seed"]
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "update entries set scoring_version='summary-2', metrics_json=?", (json.dumps(old),)
        )
    assert store.metrics(row.id) == current
    with store.engine.connect() as conn:
        version = conn.exec_driver_sql("select scoring_version from entries").scalar_one()
    assert version == SCORING_VERSION and store.rescore() == (0, [])
    store.close()

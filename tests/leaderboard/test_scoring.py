"""Scoring: the table numbers are recomputed from raw per-seed numbers, on known answers."""

from __future__ import annotations

import pytest

from leaderboard.scoring import entry_metrics, headline


def test_score_iqm_known_answer(results_factory):
    # per-run scores are exactly 0.70, 0.72, 0.74 in each of two families; the IQM of the
    # six pooled scores drops one from each end: mean(0.70, 0.72, 0.72, 0.74) = 0.72
    h = headline(entry_metrics(results_factory(skill=0.70)))
    assert h.score_iqm == pytest.approx(0.72)
    assert h.score_low <= 0.72 <= h.score_high
    # a small-sample interval (t on the bootstrap SE) reaches past the data's range, as it
    # must to cover with 3 seeds a family; a percentile bootstrap stayed inside it
    assert h.score_low < 0.70 and h.score_high > 0.74
    assert (h.seeds, h.families, h.runs) == (3, 2, 6)


def test_submitted_checkpoint_scores_are_ignored(results_factory):
    results = results_factory(skill=0.70)
    assert all(c.score == 999.0 for r in results.runs for c in r.curve)
    summary = entry_metrics(results)
    curve = summary["families"]["bandit-v1"]["curve"]["iqm"]
    assert max(curve) == pytest.approx(0.72)  # the last checkpoint equals the final score
    # 999 would make every seed competent at the first checkpoint; recomputed, none is
    assert headline(summary).reachability == 0.0
    seed0 = summary["families"]["bandit-v1"]["curve"]["per_seed"][0]
    assert seed0["scores"][-1] == pytest.approx(0.70)
    assert summary["families"]["bandit-v1"]["reachability"]["competence"]["per_seed"] == [None] * 3


def test_reachability_counts_competent_seeds(results_factory):
    h = headline(entry_metrics(results_factory(skill=0.78)))
    # seed scores 0.78, 0.80, 0.82: two of three reach tau = 0.8 in both families
    assert h.reachability == pytest.approx(2 / 3)


def test_algorithmic_range_from_matches(results_factory):
    assert headline(entry_metrics(results_factory())).algorithmic_range is None
    summary = entry_metrics(results_factory(matched=True))
    assert headline(summary).algorithmic_range == 2
    assert summary["algorithmic_range"]["algorithms"] == [
        "bandit-v1/thompson",
        "maze-v1/bfs=bfs-corner",
    ]


def test_objective_robustness_only_on_separating_shifts(results_factory):
    assert (
        headline(entry_metrics(results_factory(families=("bandit-v1",)))).objective_robustness
        is None
    )
    # OR is gated: only capable seeds (C >= 0.5 on the shift, competent on test) count
    assert headline(entry_metrics(results_factory())).objective_robustness is None  # s 0.7
    summary = entry_metrics(results_factory(skill=0.85))
    stats = summary["objective_robustness"]["maze-v1/goal-anywhere"]
    capable = stats["capable"]["per_seed"]
    per_seed = [v for v, ok in zip(stats["OR"]["per_seed"], capable, strict=True) if ok]
    assert per_seed and None not in per_seed
    assert headline(summary).objective_robustness == pytest.approx(sum(per_seed) / len(per_seed))

"""The evaluation protocol (SPEC section 6): score a method on a family's splits.

Every method is scored on the same trials: task parameters come from the public
evaluation stream of each split, and the environment's own randomness from a second
public stream, so the references and the method share common random numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mesa_bench.evaluation.matching.behavior import behavior_record
from mesa_bench.evaluation.matching.matcher import DEFAULT_MATCH_TRIALS, MATCH_SPLIT, Matcher
from mesa_bench.evaluation.trials import (
    DEFAULT_EVAL_SEED,
    MethodFactory,
    reference_factory,
    run_split,
)
from mesa_bench.metrics.score import split_normalized_score
from mesa_bench.protocol.core import SplitOutcome, TaskFamily
from mesa_bench.results import Checkpoint, MatchPoint, RunRecord, SplitRecord

N_CHECKPOINTS = 16
_STATE_KEYS = {"curve", "due", "match_points", "match_disabled", "elapsed_s"}


def checkpoint_budgets(budget: int, count: int = N_CHECKPOINTS, first: float = 1e-3) -> list[int]:
    """Returns up to ``count`` budgets spaced log-uniformly from ``first * budget`` to it."""
    if budget <= 0:
        return []
    points = np.geomspace(max(1.0, first * budget), budget, count)
    return sorted({int(round(p)) for p in points})


@dataclass
class Evaluator:
    """Scores a method at budget checkpoints and at the end on every split.

    Training loops call ``due(spent)`` cheaply each iteration and ``checkpoint`` when it
    says so; ``finish`` evaluates every split and returns the run's record. A resumable
    trainer saves ``state_dict()`` with its own state and hands it back to
    ``load_state_dict`` on restart, so the curve goes on where it stopped.
    """

    family: TaskFamily
    seed: int
    budget: int
    n_eval: int = 256
    eval_seed: int = DEFAULT_EVAL_SEED
    splits: Sequence[str] | None = None
    log: Callable[[dict[str, float], int], None] | None = None
    match_trials: int = DEFAULT_MATCH_TRIALS  # test trials replayed for match statistics
    curve: list[Checkpoint] = field(default_factory=list)
    _matcher: Matcher | None = None
    _budgets: list[int] = field(default_factory=list)
    _refs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    _start: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self._budgets = checkpoint_budgets(self.budget)
        if self.match_trials > 0 and Matcher.supports(self.family):
            self._matcher = Matcher(self.family, self.seed, self.eval_seed, self.match_trials)

    @property
    def spec(self):
        return self.family.spec

    def due(self, spent: int) -> bool:
        """Returns True when ``spent`` has passed the next unscored checkpoint."""
        return bool(self._budgets) and spent >= self._budgets[0]

    def references(self, split: str) -> dict[str, np.ndarray]:
        """Returns the score-1 and floor references' per-trial performance on ``split``."""
        if split not in self._refs:
            self._refs[split] = {
                name: self._signed(
                    run_split(
                        self.family,
                        reference_factory(self.family, name),
                        split,
                        self.n_eval,
                        self.seed,
                        self.eval_seed,
                    ).performance
                )
                for name in (self.spec.score_reference, self.spec.floor_reference)
            }
        return self._refs[split]

    def score(self, split: str, performance: np.ndarray) -> float:
        """Returns the normalized score of per-trial ``performance`` (already signed).

        NaN where the split's references do not separate (``references_separated``).
        """
        refs = self.references(split)
        return split_normalized_score(
            performance, refs[self.spec.floor_reference], refs[self.spec.score_reference]
        )

    def checkpoint(self, spent: int, make_method: MethodFactory) -> Checkpoint:
        """Scores the method on ``test`` at budget ``spent`` and records the point."""
        while self._budgets and self._budgets[0] <= spent:
            self._budgets.pop(0)
        outcome = self._run("test", make_method, spent)
        perf = self._signed(outcome.performance)
        point = Checkpoint(
            budget=spent,
            performance=float(perf.mean()),
            score=_finite_or_none(self.score("test", perf)),
            wall_time_s=time.perf_counter() - self._start,
            trial_performance=perf.tolist(),
        )
        self.curve.append(point)
        if self.log is not None:
            metrics = {f"eval/{self.spec.name}/test/performance": point.performance}
            if point.score is not None:
                metrics[f"eval/{self.spec.name}/test/score"] = point.score
            self.log(metrics, spent)
        return point

    def finish(
        self, make_method: MethodFactory, spent: int | None = None, parameter_count: int = 0
    ) -> RunRecord:
        """Evaluates every split and returns the run's record."""
        splits = list(self.splits) if self.splits else list(self.spec.splits[1:])
        if "test" not in splits:  # the learning curve and every score are anchored on test
            splits.insert(0, "test")
        budget = self.budget if spent is None else spent
        records = {split: self._split_record(split, make_method, budget) for split in splits}
        match = self._matcher.record() if self._matcher is not None else None
        behavior = {split: self._behavior(split, make_method) for split in splits}
        return RunRecord(
            family=self.spec.id,
            seed=self.seed,
            budget=budget,
            score_reference=self.spec.score_reference,
            floor_reference=self.spec.floor_reference,
            higher_is_better=self.spec.higher_is_better,
            parameter_count=parameter_count,
            wall_time_s=time.perf_counter() - self._start,
            curve=list(self.curve),
            splits=records,
            matches={} if match is None else {MATCH_SPLIT: match},
            behavior={k: v for k, v in behavior.items() if v is not None},
        )

    def state_dict(self) -> dict[str, Any]:
        """Returns what the evaluator has measured so far, in plain types (for ``torch.save``).

        The learning curve, the checkpoint budgets still due, the match points (and why
        matching stopped, if it did) and the wall time so far.
        """
        matcher = self._matcher
        return {
            "curve": [point.model_dump() for point in self.curve],
            "due": list(self._budgets),
            "match_points": [p.model_dump() for p in matcher.points] if matcher else [],
            "match_disabled": matcher.disabled if matcher else None,
            "elapsed_s": time.perf_counter() - self._start,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Puts back what ``state_dict`` returned: later checkpoints extend that curve and
        wall times count the time before the restart.

        Raises:
            ValueError: ``state`` lacks a field or holds a budget past this run's budget.
        """
        missing = sorted(_STATE_KEYS - set(state))
        if missing:
            raise ValueError(f"evaluator state lacks {', '.join(missing)}")
        due = [int(b) for b in state["due"]]
        if any(b > self.budget for b in due):
            raise ValueError(
                f"evaluator state has checkpoints due past the budget {self.budget}: {due}"
            )
        self.curve = [Checkpoint(**point) for point in state["curve"]]
        self._budgets = due
        self._start = time.perf_counter() - float(state["elapsed_s"])
        if self._matcher is not None:
            self._matcher.points = [MatchPoint(**p) for p in state["match_points"]]
            self._matcher.disabled = state["match_disabled"]

    def _split_record(self, split: str, make_method: MethodFactory, budget: int) -> SplitRecord:
        outcome = self._run(split, make_method, budget)
        perf = self._signed(outcome.performance)
        if self.log is not None:
            score = self.score(split, perf)
            metrics = {f"eval/{self.spec.name}/{split}/performance": float(perf.mean())}
            if np.isfinite(score):
                metrics[f"eval/{self.spec.name}/{split}/score"] = score
            self.log(metrics, self.budget)
        return SplitRecord(
            n_trials=len(perf),
            performance=perf.tolist(),
            references={k: v.tolist() for k, v in self.references(split).items()},
            achieved={k: np.asarray(v, bool).tolist() for k, v in outcome.achieved.items()},
            extras={k: np.asarray(v, float).tolist() for k, v in outcome.extras.items()},
        )

    def _run(self, split: str, make_method: MethodFactory, budget: int | None = None):
        """Runs ``split``; on ``test`` at a budget, also measures the algorithm match."""

        def run(factory: MethodFactory) -> SplitOutcome:
            return run_split(self.family, factory, split, self.n_eval, self.seed, self.eval_seed)

        if budget is None or split != MATCH_SPLIT or self._matcher is None:
            return run(make_method)
        return self._matcher.run(budget, make_method, run)

    def _behavior(self, split: str, make_method: MethodFactory):
        """Returns the behavioral objective on ``split`` (None where not measurable)."""
        if self.match_trials <= 0:
            return None
        return behavior_record(
            self.family, make_method, split, self.match_trials, self.seed, self.eval_seed
        )

    def _signed(self, performance: np.ndarray) -> np.ndarray:
        perf = np.asarray(performance, float)
        return perf if self.spec.higher_is_better else -perf


def _finite_or_none(x: float) -> float | None:
    return x if np.isfinite(x) else None

"""Match points of one run against its family's references, and their thresholds."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mesa_bench import seeding
from mesa_bench.evaluation.matching.optimization import optimization_comparison
from mesa_bench.evaluation.matching.recorder import HistoryRecorder, recording
from mesa_bench.evaluation.matching.rl import rl_comparison
from mesa_bench.evaluation.matching.sequence import sequence_comparison
from mesa_bench.evaluation.trials import MethodFactory, reference_factory, run_split
from mesa_bench.metrics.match import (
    MARGIN,
    THRESHOLD,
    calibrate,
    decision_distances,
    matched_algorithm,
)
from mesa_bench.protocol.core import MatchUnavailable, Method, SplitOutcome, TaskFamily
from mesa_bench.results import MatchPoint, MatchRecord

SplitRunner = Callable[[MethodFactory], SplitOutcome]

DEFAULT_MATCH_TRIALS = 32  # enough steps for stable distances; replays dominate the cost
MATCH_SPLIT = "test"
CALIBRATION_SEED = 0  # references' own draws during calibration; a family constant
DISTANCE_CAP = 1e12  # infinite distances (e.g. to the all-zero predictor) are stored as this


@dataclass
class Matcher:
    """Collects match points of one run: one per scored budget on the ``test`` split.

    Attributes:
        family: the run's family.
        run_seed: the run's seed (replays of stochastic references draw from its streams).
        eval_seed: the public evaluation seed (the trials).
        n_trials: how many of the scored trials are compared.
        outputs: the references' sequence outputs per recorded batch, kept for the run
            (references are pure functions of the prompts).
    """

    family: TaskFamily
    run_seed: int
    eval_seed: int
    n_trials: int = DEFAULT_MATCH_TRIALS
    points: list[MatchPoint] = field(default_factory=list)
    disabled: str | None = None
    outputs: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _calibration: Calibration | None = None
    _rows: int = 0

    @staticmethod
    def supports(family: TaskFamily) -> bool:
        """Returns True where the family has references to match against."""
        return len(family.spec.references) >= 2

    def run(self, budget: int, make_method: MethodFactory, run_split: SplitRunner) -> SplitOutcome:
        """Runs ``run_split`` on a recording method and adds a match point at ``budget``."""
        if self.disabled is not None:
            return run_split(make_method)
        make_recording, recorders = recording(make_method, self.n_trials)
        outcome = run_split(make_recording)
        try:
            self._add(budget, recorders[-1], make_method)
        except MatchUnavailable as e:
            self.disabled = str(e)
            warnings.warn(f"no match statistics: {e}", stacklevel=2)
        return outcome

    def record(self) -> MatchRecord | None:
        """Returns the run's match record, or None where nothing was measured."""
        if not self.points or self._calibration is None:
            return None
        cal = self._calibration
        return MatchRecord(
            kind=self.family.spec.kind,
            n_trials=self._rows,
            eps=cal.eps,
            rule=cal.rule,
            classes=cal.merged(),
            points=self.points,
        )

    def calibration(self) -> Calibration:
        """Returns the family's calibration (rule, classes, ``eps_A``), made once per matcher."""
        if self._calibration is None:
            self._calibration = family_calibration(
                self.family, self.eval_seed, self.n_trials, self.outputs
            )
        return self._calibration

    def compare(
        self, rec: HistoryRecorder, make_method: MethodFactory
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Returns (distance, similarity) per reference on the recorded trials."""
        kind = self.family.spec.kind
        references = {name: self._reference(name) for name in self.family.spec.references}
        if kind == "optimization":
            return optimization_comparison(references, rec)
        method = make_method(seeding.generator(seeding.stream(self.run_seed, "match", "self")))
        if kind == "sequence":
            return sequence_comparison(method, references, rec, self.outputs)
        return rl_comparison(method, references, rec, _episodes(self.family))

    def _add(self, budget: int, rec: HistoryRecorder, make_method: MethodFactory) -> None:
        distance, similarity = self.compare(rec, make_method)
        distance = {k: min(v, DISTANCE_CAP) for k, v in distance.items()}
        self._rows = _rows(rec)
        cal = self.calibration()
        decide = decision_distances(cal.rule, distance, similarity)
        point = MatchPoint(
            budget=budget,
            distance=distance,
            similarity=similarity,
            matched=matched_algorithm(decide, cal.eps, cal.rule, cal.classes),
        )
        self.points = [p for p in self.points if p.budget != budget] + [point]
        self.points.sort(key=lambda p: p.budget)

    def _reference(self, name: str) -> Method:
        rng = seeding.generator(seeding.stream(self.run_seed, "match", "reference", name))
        return self.family.make_reference(name, rng)


def _rows(rec: HistoryRecorder) -> int:
    if rec.steps:
        return int(rec.steps[0].obs.shape[0])
    if rec.preds is not None:
        return int(rec.preds.shape[0])
    return int(rec.updates[0].shape[0])


def _episodes(family: TaskFamily) -> int:
    trial_episodes = getattr(family, "trial_episodes", None)
    return trial_episodes(MATCH_SPLIT) if trial_episodes is not None else 1


@dataclass(frozen=True)
class Calibration:
    """A family's match calibration on ``test``: the rule, reference classes and ``eps_A``.

    Attributes:
        rule: ``agreement-margin`` for rl, ``distance-threshold`` otherwise.
        classes: every class of coinciding references (a reference alone is its own).
        eps: each reference's acceptance under the rule (a class's members share it).
    """

    rule: str
    classes: dict[str, list[str]]
    eps: dict[str, float]

    def merged(self) -> dict[str, list[str]]:
        """Returns the classes of more than one reference."""
        return {k: v for k, v in self.classes.items() if len(v) > 1}


def family_calibration(
    family: TaskFamily, eval_seed: int, n_trials: int, outputs: dict | None = None
) -> Calibration:
    """Returns the family's calibration, from every reference run as a method.

    rl decides on action agreement with a margin over the runner-up (a trained policy
    sharper than a stochastic reference still agrees with it); the other kinds on the
    distance below a threshold. References that behave identically on ``test`` (maze's
    ``bfs`` and ``bfs-corner`` at diversity 0) are merged into one class, so the family's
    score-1 reference can still be matched. Raises ValueError where a reference is not
    matched to itself (``metrics.match.calibrate``). ``outputs`` is a matcher's cache of
    reference outputs, shared with the calibration.
    """
    names, distances, similarities = reference_distances(family, eval_seed, n_trials, outputs)
    rule = MARGIN if family.spec.kind == "rl" else THRESHOLD
    d = 1.0 - similarities if rule == MARGIN else np.minimum(distances, DISTANCE_CAP)
    try:
        classes, eps = calibrate(names, d, rule)
    except ValueError as e:
        raise ValueError(f"{family.spec.id}: {e}") from e
    return Calibration(rule, classes, {k: min(v, DISTANCE_CAP) for k, v in eps.items()})


def reference_distances(
    family: TaskFamily, eval_seed: int, n_trials: int, outputs: dict | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Returns (names, D, S): ``D[i, j] = d(M = reference i, A = reference j)``, S the
    similarities (action agreement, sensitivity or update cosine) beside it."""
    names = list(family.spec.references)
    outputs = {} if outputs is None else outputs
    d = np.zeros((len(names), len(names)))
    sim = np.zeros_like(d)
    for i, name in enumerate(names):
        matcher = Matcher(family, CALIBRATION_SEED, eval_seed, n_trials, outputs=outputs)
        # thresholds are not used here: every reference is its own class, never accepted
        matcher._calibration = Calibration(
            THRESHOLD, {n: [n] for n in names}, dict.fromkeys(names, 0.0)
        )

        def run(factory: MethodFactory) -> SplitOutcome:
            return run_split(family, factory, MATCH_SPLIT, n_trials, CALIBRATION_SEED, eval_seed)

        matcher.run(0, reference_factory(family, name), run)
        if matcher.disabled is not None:
            raise RuntimeError(f"cannot calibrate {family.spec.id}: {matcher.disabled}")
        point = matcher.points[0]
        d[i] = [point.distance[n] for n in names]
        sim[i] = [point.similarity.get(n, np.nan) for n in names]
    return names, d, sim

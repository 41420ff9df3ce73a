"""Algorithm-match statistics of a method against its family's references (SPEC 7).

The evaluator runs the method on ``test`` trials as usual; a recording wrapper keeps
what the method saw at every step (rl: the ``TrialObs``), without touching its random
draws, so the recorded run is the scored run. Each reference is then replayed on those
histories (``observe`` then ``policy``), and so is a fresh copy of the method, to get
both action distributions at every step of the method's own histories.

A method exposes its action distribution by being an ``RLReference`` or by having
``action_probs(obs) -> (batch, n_actions)``, which advances its state exactly as
``act(obs)`` would and returns the probabilities instead of a sample. A method with
neither is run and scored as usual; its record simply has no match statistics.

Thresholds ``eps_A`` are calibrated per family by running every reference as a method
on the same ``test`` trials and replaying every other one on its histories; they are
cached per family configuration for the life of the process.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mesa_bench import seeding
from mesa_bench.api import Method, RLReference, SplitOutcome, TaskFamily, TrialObs
from mesa_bench.metrics.match import (
    action_agreement,
    calibrate_eps,
    matched_algorithm,
    policy_kl,
)
from mesa_bench.results import MatchPoint, MatchRecord

MethodFactory = Callable[[np.random.Generator], Method]
SplitRunner = Callable[[MethodFactory], SplitOutcome]

DEFAULT_MATCH_TRIALS = 64
MATCH_SPLIT = "test"
CALIBRATION_SEED = 0  # references' own draws during calibration; a family constant
_EPS_CACHE: dict[tuple, dict[str, float]] = {}


class MatchUnavailable(Exception):
    """The method does not expose what matching needs (e.g. its action probabilities)."""


# --- histories -----------------------------------------------------------------------


class HistoryRecorder(Method):
    """Wraps an rl method and records the first ``rows`` rows of every step's input."""

    def __init__(self, inner: Method, rows: int):
        self.inner = inner
        self.rows = rows
        self.name = inner.name
        # asks for the tasks so privileged references can be replayed on them; the
        # wrapped method still gets them only if it is privileged itself
        self.privileged = True
        self.steps: list[TrialObs] = []
        self.tasks: Any = None

    def reset(self, batch: int, tasks: Any = None) -> None:
        self.inner.reset(batch, tasks if self.inner.privileged else None)
        self.steps = []
        self.tasks = None if tasks is None else take_tasks(tasks, self.rows)

    def act(self, obs: TrialObs) -> np.ndarray:
        self.steps.append(take_obs(obs, self.rows))
        return self.inner.act(obs)

    def parameter_count(self) -> int:
        return self.inner.parameter_count()


def take_obs(obs: TrialObs, rows: int) -> TrialObs:
    """Returns a copy of the first ``rows`` rows of ``obs``."""
    return TrialObs(
        **{f.name: np.array(getattr(obs, f.name)[:rows]) for f in dataclasses.fields(obs)}
    )


def take_tasks(tasks: Any, rows: int) -> Any:
    """Returns the first ``rows`` tasks of a task batch (a dataclass of batch-first arrays)."""
    n = None
    for f in dataclasses.fields(tasks):
        value = getattr(tasks, f.name)
        if isinstance(value, np.ndarray) and value.ndim:
            n = value.shape[0] if n is None else n
    updates = {
        f.name: getattr(tasks, f.name)[:rows]
        for f in dataclasses.fields(tasks)
        if isinstance(getattr(tasks, f.name), np.ndarray)
        and getattr(tasks, f.name).ndim
        and getattr(tasks, f.name).shape[0] == n
    }
    return dataclasses.replace(tasks, **updates)


def live_mask(steps: list[TrialObs], episodes: int) -> np.ndarray:
    """Returns ``(T, n)``: True where a step still belongs to the row's trial.

    A row's trial ends after ``episodes`` episode ends; the loop keeps stepping finished
    rows until every row is done, and those steps are not part of any history.
    """
    done = np.stack([s.done for s in steps]) > 0
    ends_before = np.cumsum(done, axis=0)
    return ends_before < episodes


def step_probs(method: Method, obs: TrialObs) -> np.ndarray:
    """Returns the method's action probabilities at ``obs``, advancing its state.

    Raises MatchUnavailable for a method that exposes no action distribution.
    """
    if isinstance(method, RLReference):
        method.observe(obs)
        return np.asarray(method.policy(obs), float)
    action_probs = getattr(method, "action_probs", None)
    if action_probs is None:
        raise MatchUnavailable(
            f"{method.name} exposes no action distribution (needs action_probs(obs))"
        )
    return np.asarray(action_probs(obs), float)


def replay(method: Method, steps: list[TrialObs], live: np.ndarray, tasks: Any) -> np.ndarray:
    """Returns the method's action probabilities on the live steps, ``(steps, n_actions)``."""
    n = steps[0].obs.shape[0]
    method.reset(n, tasks if method.privileged else None)
    probs = [step_probs(method, obs)[live[t]] for t, obs in enumerate(steps)]
    return np.concatenate(probs, axis=0)


# --- the matcher ---------------------------------------------------------------------


@dataclass
class Matcher:
    """Collects match points of one run: one per scored budget on the ``test`` split.

    Attributes:
        family: the run's family (rl families only, for now).
        run_seed: the run's seed (reference replays draw from its streams).
        eval_seed: the public evaluation seed (the trials).
        n_trials: how many of the scored trials are replayed.
    """

    family: TaskFamily
    run_seed: int
    eval_seed: int
    n_trials: int = DEFAULT_MATCH_TRIALS
    points: list[MatchPoint] = field(default_factory=list)
    disabled: str | None = None
    _eps: dict[str, float] | None = None

    @staticmethod
    def supports(family: TaskFamily) -> bool:
        """Returns True where matching is implemented for the family's kind."""
        return family.spec.kind == "rl"

    def run(self, budget: int, make_method: MethodFactory, run_split: SplitRunner) -> SplitOutcome:
        """Runs ``run_split`` on a recording method and adds a match point at ``budget``."""
        if self.disabled is not None:
            return run_split(make_method)
        recorders: list[HistoryRecorder] = []

        def recording(rng: np.random.Generator) -> Method:
            recorders.append(HistoryRecorder(make_method(rng), self.n_trials))
            return recorders[-1]

        outcome = run_split(recording)
        try:
            self._add(budget, recorders[-1], make_method)
        except MatchUnavailable as e:
            self.disabled = str(e)
            warnings.warn(f"no match statistics: {e}", stacklevel=2)
        return outcome

    def record(self) -> MatchRecord | None:
        """Returns the run's match record, or None where nothing was measured."""
        if not self.points or self._eps is None:
            return None
        return MatchRecord(
            kind=self.family.spec.kind, n_trials=self.n_trials, eps=self._eps, points=self.points
        )

    def eps(self) -> dict[str, float]:
        """Returns the family's thresholds ``eps_A`` (calibrated once per process)."""
        if self._eps is None:
            self._eps = calibrated_eps(self.family, self.eval_seed, self.n_trials)
        return self._eps

    def _add(self, budget: int, recorder: HistoryRecorder, make_method: MethodFactory) -> None:
        method = make_method(seeding.generator(seeding.stream(self.run_seed, "match", "self")))
        steps, tasks = recorder.steps, recorder.tasks
        live = live_mask(steps, _episodes(self.family))
        own = replay(method, steps, live, tasks)
        eps = self.eps()
        distance, similarity = {}, {}
        for name in self.family.spec.references:
            ref_probs = replay(self._reference(name), steps, live, tasks)
            distance[name] = policy_kl(ref_probs, own)
            similarity[name] = action_agreement(ref_probs, own)
        point = MatchPoint(
            budget=budget,
            distance=distance,
            similarity=similarity,
            matched=matched_algorithm(distance, eps),
        )
        self.points = [p for p in self.points if p.budget != budget] + [point]
        self.points.sort(key=lambda p: p.budget)

    def _reference(self, name: str) -> Method:
        rng = seeding.generator(seeding.stream(self.run_seed, "match", "reference", name))
        return self.family.make_reference(name, rng)


def _episodes(family: TaskFamily) -> int:
    trial_episodes = getattr(family, "trial_episodes", None)
    return trial_episodes(MATCH_SPLIT) if trial_episodes is not None else 1


def calibrated_eps(family: TaskFamily, eval_seed: int, n_trials: int) -> dict[str, float]:
    """Returns ``eps_A`` per reference of ``family``, from every reference's histories."""
    key = (family.spec.id, repr(family.config), eval_seed, n_trials)
    if key not in _EPS_CACHE:
        names, distances = reference_distances(family, eval_seed, n_trials)
        _EPS_CACHE[key] = calibrate_eps(names, distances)
    return dict(_EPS_CACHE[key])


def reference_distances(
    family: TaskFamily, eval_seed: int, n_trials: int
) -> tuple[list[str], np.ndarray]:
    """Returns (names, D) with ``D[i, j] = d(M = reference i, A = reference j)``."""
    from mesa_bench.evaluate import reference_factory, run_split  # evaluate imports us

    names = list(family.spec.references)
    d = np.zeros((len(names), len(names)))
    for i, name in enumerate(names):
        matcher = Matcher(family, CALIBRATION_SEED, eval_seed, n_trials)
        matcher._eps = {n: float("inf") for n in names}  # thresholds unused here
        make = reference_factory(family, name)
        matcher.run(
            0,
            make,
            lambda f: run_split(family, f, MATCH_SPLIT, n_trials, CALIBRATION_SEED, eval_seed),
        )
        if matcher.disabled is not None:
            raise RuntimeError(f"cannot calibrate {family.spec.id}: {matcher.disabled}")
        d[i] = [matcher.points[0].distance[n] for n in names]
    return names, d

"""Algorithm-match statistics of a method against its family's references (SPEC 7).

The evaluator runs the method on ``test`` trials as usual; a recording wrapper keeps what
the method saw and did on the first ``n_trials`` trials, without touching its random
draws, so the recorded run is the scored run. The references are then compared with the
method on exactly those histories:

- rl: every reference is replayed on the method's step inputs (``observe`` then
  ``policy``), and so is a fresh copy of the method, for both action distributions at
  every step of the method's own histories;
- sequence: every reference predicts the same prompts; input sensitivities
  ``d f / d x_query`` come from central differences at a few query positions, for the
  method (a fresh copy) and the references alike;
- optimization: every reference is handed the method's sequence of states and its
  update compared with the method's.

A rl method exposes its action distribution by being an ``RLReference`` or by having
``action_probs(obs) -> (batch, n_actions)``, which advances its state exactly as
``act(obs)`` would and returns the probabilities instead of a sample. A rl method with
neither is run and scored as usual; its record simply has no match statistics.

Thresholds ``eps_A`` are calibrated per family by running every reference as a method on
the same ``test`` trials and comparing every other one with it; they are cached per
family configuration for the life of the process. Two references that act alike on
``test`` get ``eps = 0`` (e.g. maze's ``bfs`` and ``bfs-corner`` at diversity 0, where the
goal is the corner): nothing is ever matched to either, the match point's ``matched`` is
None ("no known algorithm"), by design, since ``test`` cannot tell them apart.
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
    prediction_distance,
    sensitivity_cosine,
    update_cosine,
)
from mesa_bench.results import BehaviorRecord, MatchPoint, MatchRecord

MethodFactory = Callable[[np.random.Generator], Method]
SplitRunner = Callable[[MethodFactory], SplitOutcome]

DEFAULT_MATCH_TRIALS = 32  # enough steps for stable distances; replays dominate the cost
MATCH_SPLIT = "test"
CALIBRATION_SEED = 0  # references' own draws during calibration; a family constant
DISTANCE_CAP = 1e12  # infinite distances (e.g. to the all-zero predictor) are stored as this
SENSITIVITY_POSITIONS = 4  # query positions at which d f / d x_query is measured
SENSITIVITY_STEP = 1e-2
SENSITIVITY_PROMPTS = 16  # prompts whose sensitivities are measured (2 d per position each)
_EPS_CACHE: dict[tuple, dict[str, float]] = {}
_REFERENCE_OUTPUTS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


class MatchUnavailable(Exception):
    """The method does not expose what matching needs (e.g. its action probabilities)."""


# --- recording -----------------------------------------------------------------------


class HistoryRecorder(Method):
    """Wraps a method and records its first ``rows`` trials: inputs and outputs.

    rl: ``steps`` (each step's ``TrialObs``); sequence: ``batch`` and ``preds`` of the
    first ``predict`` call; optimization: ``states`` and ``updates`` of every step.
    """

    def __init__(self, inner: Method, rows: int):
        self.inner = inner
        self.rows = rows
        self.name = inner.name
        # asks for the tasks so privileged references can be replayed on them; the
        # wrapped method still gets them only if it is privileged itself
        self.privileged = True
        self.tasks: Any = None
        self.steps: list[TrialObs] = []
        self.actions: list[np.ndarray] = []
        self.batch: Any = None
        self.preds: np.ndarray | None = None
        self.states: list[Any] = []
        self.updates: list[np.ndarray] = []

    def reset(self, batch: int, tasks: Any = None) -> None:
        self.inner.reset(batch, tasks if self.inner.privileged else None)
        if tasks is not None and self.tasks is None:
            self.tasks = take_tasks(tasks, self.rows)
        self.steps, self.actions = [], []

    def act(self, obs: TrialObs) -> np.ndarray:
        self.steps.append(take_obs(obs, self.rows))
        action = self.inner.act(obs)
        self.actions.append(np.array(action[: self.rows]))
        return action

    def predict(self, batch: Any) -> Any:
        preds = self.inner.predict(batch)
        if self.batch is None:  # later chunks hold later trials
            self.batch = batch.take(slice(0, self.rows))
            self.preds = _numpy(preds)[: self.rows]
        return preds

    def step(self, state: Any) -> Any:
        update = self.inner.step(state)
        self.states.append(take_state(state, self.rows))
        self.updates.append(_numpy(update)[: self.rows])
        return update

    def parameter_count(self) -> int:
        return self.inner.parameter_count()


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, float)


def take_obs(obs: TrialObs, rows: int) -> TrialObs:
    """Returns a copy of the first ``rows`` rows of ``obs``."""
    fields = dataclasses.fields(obs)
    return TrialObs(**{f.name: np.array(getattr(obs, f.name)[:rows]) for f in fields})


def take_state(state: Any, rows: int) -> Any:
    """Returns the first ``rows`` problems of an optimization state (``OptState``)."""
    hessian = state.hessian
    return dataclasses.replace(
        state,
        params=state.params[:rows],
        grad=state.grad[:rows],
        loss=state.loss[:rows],
        hessian=lambda: hessian()[:rows],
    )


def take_tasks(tasks: Any, rows: int) -> Any:
    """Returns the first ``rows`` tasks of a task batch.

    Uses the batch's ``take`` where it has one; otherwise slices the batch-first array
    fields of a dataclass; anything else is returned as it is.
    """
    if hasattr(tasks, "take"):
        return tasks.take(slice(0, rows))
    if not dataclasses.is_dataclass(tasks):
        return tasks
    arrays = {
        f.name: getattr(tasks, f.name)
        for f in dataclasses.fields(tasks)
        if getattr(getattr(tasks, f.name), "ndim", 0)
    }
    if not arrays:
        return tasks
    n = next(iter(arrays.values())).shape[0]
    return dataclasses.replace(tasks, **{k: v[:rows] for k, v in arrays.items() if v.shape[0] == n})


# --- rl ------------------------------------------------------------------------------


def live_mask(steps: list[TrialObs], episodes: int) -> np.ndarray:
    """Returns ``(T, n)``: True where a step still belongs to the row's trial.

    A row's trial ends after ``episodes`` episode ends; the loop keeps stepping finished
    rows until every row is done, and those steps are not part of any history.
    """
    done = np.stack([s.done for s in steps]) > 0
    return np.cumsum(done, axis=0) < episodes


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
    method.reset(steps[0].obs.shape[0], tasks if method.privileged else None)
    probs = [step_probs(method, obs)[live[t]] for t, obs in enumerate(steps)]
    return np.concatenate(probs, axis=0)


def rl_comparison(
    method: Method, references: dict[str, Method], rec: HistoryRecorder, episodes: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Returns (KL(pi_A || pi_M), action agreement) per reference on the method's steps."""
    if not rec.steps:
        raise MatchUnavailable(f"{method.name} took no steps")
    live = live_mask(rec.steps, episodes)
    own = replay(method, rec.steps, live, rec.tasks)
    distance, similarity = {}, {}
    for name, ref in references.items():
        ref_probs = replay(ref, rec.steps, live, rec.tasks)
        distance[name] = policy_kl(ref_probs, own)
        similarity[name] = action_agreement(ref_probs, own)
    return distance, similarity


# --- sequence ------------------------------------------------------------------------


def query_positions(n: int, count: int = SENSITIVITY_POSITIONS) -> np.ndarray:
    """Returns up to ``count`` query positions spread over ``1 .. n-1``."""
    return np.unique(np.round(np.linspace(1, n - 1, count)).astype(int))


def predictions(method: Method, batch: Any, tasks: Any) -> np.ndarray:
    """Returns a fresh run of ``method`` on ``batch`` as float64, shape ``(B, n)``."""
    import torch

    method.reset(len(batch), tasks if method.privileged else None)
    with torch.no_grad():
        return _numpy(method.predict(batch))


def input_sensitivity(
    method: Method, batch: Any, positions: np.ndarray, tasks: Any, h: float = SENSITIVITY_STEP
) -> np.ndarray:
    """Returns ``d f_q / d x_q`` at each query position q, shape ``(B * len(positions), d)``.

    Central differences: perturbing ``x_q`` changes the prediction at ``q`` only through
    the query (the prompt before it is unchanged); ``2 d len(positions)`` calls.
    """
    xs = batch.xs
    d = xs.shape[-1]
    grads = np.zeros((len(batch), len(positions), d))
    for i, q in enumerate(positions):
        for k in range(d):
            diff = []
            for sign in (1.0, -1.0):
                moved = xs.clone()
                moved[:, q, k] += sign * h
                diff.append(predictions(method, type(batch)(moved, batch.ys), tasks)[:, q])
            grads[:, i, k] = (diff[0] - diff[1]) / (2 * h)
    return grads.reshape(-1, d)


def sequence_comparison(
    method: Method, references: dict[str, Method], rec: HistoryRecorder, cache_key: tuple
) -> tuple[dict[str, float], dict[str, float]]:
    """Returns (prediction distance, sensitivity cosine) per reference on the prompts.

    References are pure functions of the prompts, so their predictions and sensitivities
    on a given batch are computed once per process (``cache_key`` names the family).
    """
    if rec.batch is None or rec.preds is None:
        raise MatchUnavailable(f"{method.name} made no predictions")
    key = (*cache_key, _fingerprint(rec.batch))
    own = rec.preds[:, 1:]  # position 0 has no example in context: every method is a prior
    own_grad = sequence_outputs(method, rec.batch, rec.tasks)[1]
    distance, similarity = {}, {}
    for name, ref in references.items():
        if (*key, name) not in _REFERENCE_OUTPUTS:
            _REFERENCE_OUTPUTS[(*key, name)] = sequence_outputs(ref, rec.batch, rec.tasks)
        ref_preds, ref_grad = _REFERENCE_OUTPUTS[(*key, name)]
        distance[name] = prediction_distance(own, ref_preds[:, 1:])
        similarity[name] = sensitivity_cosine(own_grad, ref_grad)
    return distance, similarity


def sequence_outputs(method: Method, batch: Any, tasks: Any) -> tuple[np.ndarray, np.ndarray]:
    """Returns predictions ``(B, n)`` and sensitivities on the first prompts of ``batch``."""
    positions = query_positions(batch.ys.shape[1])
    few = batch.take(slice(0, SENSITIVITY_PROMPTS))
    grads = input_sensitivity(method, few, positions, take_tasks(tasks, SENSITIVITY_PROMPTS))
    return predictions(method, batch, tasks), grads


def _fingerprint(batch: Any) -> int:
    return hash((_numpy(batch.xs).tobytes(), _numpy(batch.ys).tobytes()))


# --- optimization --------------------------------------------------------------------


def optimization_comparison(
    references: dict[str, Method], rec: HistoryRecorder
) -> tuple[dict[str, float], dict[str, float]]:
    """Returns (1 - update cosine, update cosine) per reference from the method's states."""
    import torch

    if not rec.states:
        raise MatchUnavailable(f"{rec.name} took no optimization steps")
    own = np.concatenate(rec.updates)
    distance, similarity = {}, {}
    for name, ref in references.items():
        ref.reset(own.shape[0] // len(rec.states), rec.tasks if ref.privileged else None)
        with torch.no_grad():
            theirs = np.concatenate([_numpy(ref.step(s)) for s in rec.states])
        similarity[name] = update_cosine(own, theirs)
        distance[name] = 1.0 - similarity[name]
    return distance, similarity


# --- the matcher ---------------------------------------------------------------------


@dataclass
class Matcher:
    """Collects match points of one run: one per scored budget on the ``test`` split.

    Attributes:
        family: the run's family.
        run_seed: the run's seed (replays of stochastic references draw from its streams).
        eval_seed: the public evaluation seed (the trials).
        n_trials: how many of the scored trials are compared.
    """

    family: TaskFamily
    run_seed: int
    eval_seed: int
    n_trials: int = DEFAULT_MATCH_TRIALS
    points: list[MatchPoint] = field(default_factory=list)
    disabled: str | None = None
    _eps: dict[str, float] | None = None
    _rows: int = 0

    @staticmethod
    def supports(family: TaskFamily) -> bool:
        """Returns True where the family has references to match against."""
        return len(family.spec.references) >= 2

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
            kind=self.family.spec.kind, n_trials=self._rows, eps=self._eps, points=self.points
        )

    def eps(self) -> dict[str, float]:
        """Returns the family's thresholds ``eps_A`` (calibrated once per process)."""
        if self._eps is None:
            self._eps = calibrated_eps(self.family, self.eval_seed, self.n_trials)
        return self._eps

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
            key = (self.family.spec.id, repr(self.family.config))
            return sequence_comparison(method, references, rec, key)
        return rl_comparison(method, references, rec, _episodes(self.family))

    def _add(self, budget: int, rec: HistoryRecorder, make_method: MethodFactory) -> None:
        distance, similarity = self.compare(rec, make_method)
        distance = {k: min(v, DISTANCE_CAP) for k, v in distance.items()}
        self._rows = _rows(rec)
        point = MatchPoint(
            budget=budget,
            distance=distance,
            similarity=similarity,
            matched=matched_algorithm(distance, self.eps()),
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


def calibrated_eps(family: TaskFamily, eval_seed: int, n_trials: int) -> dict[str, float]:
    """Returns ``eps_A`` per reference of ``family``, from every reference's histories.

    ``eps_A`` is half the distance from A to the nearest other reference run as a method
    (``calibrate_eps``). Where two references behave identically on ``test`` (maze's
    ``bfs`` and ``bfs-corner`` at diversity 0) both thresholds are 0, so no method is
    accepted as either (``d < 0`` never holds): "no known algorithm", not an error.
    """
    key = (family.spec.id, repr(family.config), eval_seed, n_trials)
    if key not in _EPS_CACHE:
        names, distances = reference_distances(family, eval_seed, n_trials)
        eps = calibrate_eps(names, np.minimum(distances, DISTANCE_CAP))
        _EPS_CACHE[key] = {k: min(v, DISTANCE_CAP) for k, v in eps.items()}
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
        matcher._eps = {n: DISTANCE_CAP for n in names}  # thresholds are not used here

        def run(factory: MethodFactory) -> SplitOutcome:
            return run_split(family, factory, MATCH_SPLIT, n_trials, CALIBRATION_SEED, eval_seed)

        matcher.run(0, reference_factory(family, name), run)
        if matcher.disabled is not None:
            raise RuntimeError(f"cannot calibrate {family.spec.id}: {matcher.disabled}")
        d[i] = [matcher.points[0].distance[n] for n in names]
    return names, d


# --- behavioral objective ------------------------------------------------------------


def supports_behavior(family: TaskFamily) -> bool:
    """Returns True where the family exposes a model of its candidate objectives.

    A family opts in with either
    ``behavior_model(tasks, split) -> TabularModel`` and ``behavior_state(obs) -> (n,)``
    (tabular dynamics: soft value iteration per objective), or
    ``choice_utilities(steps: list[TrialObs]) -> {objective: (T, n, A)}`` (each action's
    utility at each step under each objective, for bandit-like choices).
    """
    tabular = hasattr(family, "behavior_model") and hasattr(family, "behavior_state")
    return len(family.spec.objectives) >= 2 and (tabular or hasattr(family, "choice_utilities"))


def behavior_from_history(family: TaskFamily, rec: HistoryRecorder, split: str) -> dict | None:
    """Returns the behavioral objective (``behavioral_objective``'s dict) of recorded steps.

    None where the tabular candidates are one and the same reward on these tasks (maze's
    ``base`` and ``proxy:corner`` wherever the goal is the corner): no behavior can tell
    them apart, and soft value iteration would be spent on a coin toss.
    """
    from mesa_bench.metrics.behavioral import (
        choice_behavioral_objective,
        tabular_behavioral_objective,
    )

    trial_episodes = getattr(family, "trial_episodes", None)
    live = live_mask(rec.steps, trial_episodes(split) if trial_episodes else 1)
    actions = np.stack(rec.actions)
    if hasattr(family, "behavior_model"):
        model = family.behavior_model(rec.tasks, split)
        rewards = [np.asarray(r) for r in model.rewards.values()]
        if all(np.array_equal(rewards[0], r) for r in rewards[1:]):
            return None
        states = np.stack([family.behavior_state(x.obs) for x in rec.steps])
        task = np.broadcast_to(np.arange(live.shape[1]), live.shape)
        out = tabular_behavioral_objective(model, task[live], states[live], actions[live])
    else:
        utilities = family.choice_utilities(rec.steps)
        out = choice_behavioral_objective(
            {k: np.asarray(u)[live] for k, u in utilities.items()}, actions[live]
        )
    out["n_steps"] = int(live.sum())
    out["n_trials"] = int(live.shape[1])
    return out


def behavior_record(
    family: TaskFamily,
    make_method: MethodFactory,
    split: str,
    n_trials: int,
    run_seed: int,
    eval_seed: int,
) -> BehaviorRecord | None:
    """Runs a fresh method on ``n_trials`` trials of ``split``; returns its behavioral objective.

    None where the family has no objective model (or a single objective), or where its
    candidates coincide on the split's tasks.
    """
    from mesa_bench.evaluate import run_split  # evaluate imports us

    if not supports_behavior(family):
        return None
    recorders: list[HistoryRecorder] = []

    def recording(rng: np.random.Generator) -> Method:
        recorders.append(HistoryRecorder(make_method(rng), n_trials))
        return recorders[-1]

    run_split(family, recording, split, n_trials, run_seed, eval_seed)
    out = behavior_from_history(family, recorders[-1], split)
    if out is None:
        return None
    return BehaviorRecord(
        n_trials=out["n_trials"],
        n_steps=out["n_steps"],
        fits=out["fits"],
        objective=out["objective"],
        posterior=out["posterior"],
    )

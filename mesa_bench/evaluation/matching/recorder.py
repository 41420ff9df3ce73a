"""A wrapper that records what a method saw and did on its first trials."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from mesa_bench.protocol.core import Method, MethodFactory, TrialObs
from mesa_bench.protocol.sequence import as_numpy


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
            self.preds = as_numpy(preds)[: self.rows]
        return preds

    def step(self, state: Any) -> Any:
        update = self.inner.step(state)
        self.states.append(take_state(state, self.rows))
        self.updates.append(as_numpy(update)[: self.rows])
        return update

    def parameter_count(self) -> int:
        return self.inner.parameter_count()


def recording(make_method: MethodFactory, rows: int) -> tuple[MethodFactory, list[HistoryRecorder]]:
    """Returns a factory of recording methods and the list its recorders are appended to
    (the last one is the run's: a split builds one method)."""
    recorders: list[HistoryRecorder] = []

    def make(rng: np.random.Generator) -> Method:
        recorders.append(HistoryRecorder(make_method(rng), rows))
        return recorders[-1]

    return make, recorders


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

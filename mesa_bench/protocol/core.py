"""The interfaces every task family and method implements (SPEC section 3).

Each kind's trial loop sits beside this module: ``rl.py``, ``sequence.py``,
``optimization.py``.

A *task family* samples task parameters for a split and builds the environment (rl), the
prompt batch (sequence) or the inner problem (optimization) from them. A *method* is
batched and stateful: ``reset(batch)`` at the start of a trial, then ``act`` (rl),
``predict`` (sequence) or ``step`` (optimization). References, baselines and outside
submissions all go through the same protocol.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

Kind = Literal["rl", "sequence", "optimization"]
SPLITS = ("train", "test")


@dataclass(frozen=True)
class FamilySpec:
    """What a family is: its id, kind, splits, references and candidate objectives.

    Attributes:
        name: family name, e.g. ``bandit``.
        version: bumped on any change of dynamics, reward or distribution.
        kind: ``rl``, ``sequence`` or ``optimization``.
        shifts: named splits that change the distribution on purpose.
        references: names of hand-written algorithms that solve the family.
        score_reference: the reference that defines a normalized score of 1.
        floor_reference: the reference that defines a normalized score of 0.
        objectives: candidate objectives; ``base`` first, then ``proxy:*``.
        higher_is_better: False where performance is a loss (it enters scores negated).
        description: one line for ``mesa-bench tasks``.
        proxy_ratio: two per-trial ``extras`` (numerator, denominator) whose ratio, pooled
            over a split's trials, shows the proxy where the flags cannot: keys per chest
            opened, where plentiful keys let a key collector open every chest too.
    """

    name: str
    version: int
    kind: Kind
    shifts: tuple[str, ...]
    references: tuple[str, ...]
    score_reference: str
    floor_reference: str
    objectives: tuple[str, ...] = ("base",)
    higher_is_better: bool = True
    description: str = ""
    proxy_ratio: tuple[str, str] | None = None

    @property
    def id(self) -> str:
        """Returns the versioned id, e.g. ``bandit-v1``."""
        return f"{self.name}-v{self.version}"

    @property
    def splits(self) -> tuple[str, ...]:
        """Returns ``train``, ``test`` and the shifts."""
        return SPLITS + self.shifts

    def as_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready description."""
        out = dataclasses.asdict(self)
        out.update(id=self.id, splits=list(self.splits))
        return out


@dataclass
class FamilyConfig:
    """Base of every family's structured config.

    Attributes:
        name: the family's registry name (filled in when the config is stored).
        diversity: in [0, 1]; widens the training distribution.
    """

    name: str = ""
    diversity: float = 0.0


class TaskFamily(ABC):
    """A distribution of tasks; subclasses set ``spec`` and ``config_class``."""

    spec: ClassVar[FamilySpec]
    config_class: ClassVar[type[FamilyConfig]] = FamilyConfig

    def __init__(self, config: FamilyConfig | None = None):
        self.config = config if config is not None else self.config_class()
        if not 0.0 <= self.config.diversity <= 1.0:
            raise ValueError(f"diversity must lie in [0, 1], got {self.config.diversity}")

    def check_split(self, split: str) -> None:
        """Raises a clear error for a split the family does not have."""
        if split not in self.spec.splits:
            import difflib

            close = difflib.get_close_matches(split, self.spec.splits, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"family {self.spec.id!r} has no split {split!r}{hint} "
                f"(splits: {', '.join(self.spec.splits)})"
            )

    @abstractmethod
    def sample_tasks(self, seed: np.random.SeedSequence | int, n: int, split: str) -> Any:
        """Returns ``n`` task parameters of ``split`` drawn from ``seed``."""

    @abstractmethod
    def make_reference(self, name: str, rng: np.random.Generator) -> Method:
        """Returns the reference algorithm ``name`` as a method."""

    @abstractmethod
    def run_trials(self, method: Method, tasks: Any, split: str, seed: int) -> SplitOutcome:
        """Returns per-trial outcomes of ``method`` on ``tasks`` (one trial per task).

        ``seed`` drives the trials' own randomness (reward noise, observation noise), so
        two methods run with the same seed face the same draws.
        """


@dataclass
class TrialObs:
    """What an rl method sees at one step, for a batch of ``n`` trials.

    Attributes:
        obs: the environment observation, shape ``(n, *obs_shape)``.
        prev_action: previous action, shape ``(n,)`` int64 (0 at trial start).
        prev_reward: previous reward, shape ``(n,)`` float32 (0 at trial start).
        done: 1.0 where the previous step ended an episode, shape ``(n,)`` float32.
        trial_start: True where a new trial (and so a new task) begins, shape ``(n,)``.
    """

    obs: np.ndarray
    prev_action: np.ndarray
    prev_reward: np.ndarray
    done: np.ndarray
    trial_start: np.ndarray


class Method(ABC):
    """A batched, stateful method; the same protocol for baselines and references.

    Attributes:
        name: registry name, e.g. ``reference/thompson`` or ``rl2``.
        privileged: if True, ``reset`` receives the true task parameters (oracles only;
            such methods are upper bounds, never leaderboard entries).
    """

    name: str = "method"
    privileged: ClassVar[bool] = False

    @abstractmethod
    def reset(self, batch: int, tasks: Any = None) -> None:
        """Starts ``batch`` new trials; ``tasks`` is given only to privileged methods."""

    def act(self, obs: TrialObs) -> np.ndarray:
        """Returns actions of shape ``(batch,)`` (rl)."""
        raise NotImplementedError(f"{self.name} does not act (it is not an rl method)")

    def predict(self, batch: Any) -> Any:
        """Returns predictions for a prompt batch (sequence)."""
        raise NotImplementedError(f"{self.name} does not predict (it is not a sequence method)")

    def step(self, state: Any) -> Any:
        """Returns the next inner-optimization update (optimization)."""
        raise NotImplementedError(f"{self.name} does not step (it is not an optimizer)")

    def parameter_count(self) -> int:
        """Returns the number of trained parameters (0 for hand-written algorithms)."""
        return 0


@dataclass
class SplitOutcome:
    """Per-trial outcome of evaluating a method on one split.

    Attributes:
        performance: base-objective performance per trial, shape ``(n_trials,)``.
        achieved: objective name -> bool per trial, shape ``(n_trials,)``.
        extras: family-specific per-trial arrays (e.g. per-episode returns).
    """

    performance: np.ndarray
    achieved: Mapping[str, np.ndarray] = field(default_factory=dict)
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)


MethodFactory = Callable[[np.random.Generator], "Method"]
"""Builds a fresh, stateful method from a generator (its only source of randomness)."""


class MatchUnavailable(Exception):
    """The method does not expose what matching needs (e.g. its action probabilities)."""

"""The interfaces every task family and method implements (SPEC section 3).

A *task family* samples task parameters for a split and builds the environment (rl), the
prompt batch (sequence) or the inner problem (optimization) from them. A *method* is
batched and stateful: ``reset(batch)`` at the start of a trial, then ``act`` (rl),
``predict`` (sequence) or ``step`` (optimization). References, baselines and outside
submissions all go through the same protocol.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
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


class RLFamily(TaskFamily):
    """A family of kind ``rl``: batched NumPy environments over sampled tasks."""

    episodes_per_trial: ClassVar[int] = 1

    @abstractmethod
    def make_env(self, tasks: Any, split: str) -> Any:
        """Returns a batched ``gymnasium.vector.VectorEnv``, one sub-env per task.

        Its trials must be ``trial_episodes(split)`` episodes long (``episodes_per_trial``
        of a ``TaskVectorEnv``): a train env that samples its own tasks draws a new one at
        every trial end.
        """

    def trial_episodes(self, split: str) -> int:
        """Returns how many episodes make one trial on ``split``."""
        return self.episodes_per_trial

    def trial_extras(self, env: Any) -> dict[str, np.ndarray]:
        """Returns per-trial extras read off ``env`` after its trials ran (none by default);
        each an array of shape ``(n_trials,)``, stored in ``SplitOutcome.extras``."""
        return {}

    def run_trials(self, method: Method, tasks: Any, split: str, seed: int) -> SplitOutcome:
        from mesa_bench.rollout import run_rl_trials  # rollout imports this module

        env = self.make_env(tasks, split)
        try:
            outcome = run_rl_trials(env, method, self.trial_episodes(split), seed, tasks)
            extras = {**outcome.extras, **self.trial_extras(env)}
        finally:
            env.close()
        return dataclasses.replace(outcome, extras=extras)


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


class RLReference(Method):
    """A hand-written rl algorithm that exposes its action distribution.

    Subclasses implement ``policy``; ``act`` samples from it with the method's generator,
    so match metrics can compare a learned policy against ``policy`` on the same history.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    @abstractmethod
    def policy(self, obs: TrialObs) -> np.ndarray:
        """Returns action probabilities of shape ``(batch, n_actions)``; updates no state."""

    def observe(self, obs: TrialObs) -> None:  # noqa: B027 (optional hook)
        """Updates the algorithm's state with the last transition (in ``obs``)."""

    def act(self, obs: TrialObs) -> np.ndarray:
        self.observe(obs)
        return sample_categorical(self.rng, self.policy(obs))


def sample_categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Returns one index per row of ``probs`` (shape ``(n, k)``), drawn in one call."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=1), probs.shape[1] - 1)


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

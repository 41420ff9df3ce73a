"""How a registered method is trained and handed to the evaluator.

A registry entry under ``mesa_bench.methods`` is a ``MethodEntry`` subclass: it says which
family kinds it applies to, carries its structured config, and ``train`` runs its base
optimizer for a budget (reporting at the evaluator's checkpoints) and returns a factory
of trained, stateful methods; ``load_trained`` rebuilds that factory from the model a
finished ``train`` left in its run folder, without training. References need no training.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mesa_bench.protocol.core import Kind, MethodFactory, TaskFamily

if TYPE_CHECKING:
    from mesa_bench.evaluation.evaluator import Evaluator
    from mesa_bench.protocol.programs import Exportable


@dataclass
class MethodConfig:
    """Base of every method's structured config.

    Attributes:
        name: registry name of the method (filled in when the config is stored).
        version: the method's version, recorded in results files.
        description: one line recorded in results files.
        code_url: where the method's code lives.
    """

    name: str = ""
    version: str = "1"
    description: str = ""
    code_url: str = ""


@dataclass
class TrainContext:
    """What a training loop gets besides the family and evaluator.

    Attributes:
        run_dir: the run's folder; keep resumable checkpoints here (a killed run started
            again with the same command must end with the same numbers).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        log: ``log(metrics, budget)`` mirrors ``train/...`` metrics to the tracker.
    """

    run_dir: Path
    device: str = "auto"
    log: Callable[[dict[str, float], int], None] = field(default=lambda metrics, budget: None)


@dataclass
class Trained:
    """What training returns: a factory of methods, the budget spent, the model size, and
    how the run was made where the config does not say (``runtime``, e.g. the PPO
    baselines' ``{"env_backend": "torch"}``), which the results' provenance records."""

    make_method: MethodFactory
    spent: int
    parameter_count: int = 0
    runtime: dict[str, str] = field(default_factory=dict)


class MethodEntry(ABC):
    """A method as the registry knows it."""

    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    kinds: ClassVar[tuple[Kind, ...]] = ("rl", "sequence", "optimization")
    default_budget: ClassVar[int] = 0

    def __init__(self, name: str, config: MethodConfig | None = None):
        self.name = name
        self.config = config if config is not None else self.config_class(name=name)

    def applies_to(self, family: TaskFamily) -> bool:
        """Returns True if the method can run on ``family``."""
        return family.spec.kind in self.kinds

    @abstractmethod
    def train(
        self, family: TaskFamily, evaluator: Evaluator, budget: int, seed: int, ctx: TrainContext
    ) -> Trained:
        """Runs the base optimizer for ``budget`` and returns the trained method.

        Calls ``evaluator.checkpoint(spent, make_method)`` whenever ``evaluator.due(spent)``.
        """

    def load_trained(self, family: TaskFamily, ctx: TrainContext) -> Trained:
        """Returns the trained method saved in ``ctx.run_dir`` by a finished ``train`` run,
        without training.

        Entries that can reload their model override this (``load_finished`` in
        ``mesa_bench.protocol.checkpoint`` reads what their trainer saved).

        Raises:
            ValueError: always here; an override raises it when the folder holds no
                finished run of this method and config on ``family``.
        """
        raise ValueError(
            f"method {self.name!r} cannot reload a trained model (its entry has no "
            "load_trained); train it again with `mesa-bench train`"
        )

    def exportable(self, family: TaskFamily, trained: Trained) -> Exportable:
        """Returns ``trained``'s model as a module in the protocol of ``family``'s kind,
        for ``mesa-bench export`` (``mesa_bench.protocol.programs``).

        Raises:
            ValueError: always here; entries whose models can be exported override it.
        """
        raise ValueError(
            f"method {self.name!r} cannot export its trained model (its entry has no "
            "exportable); see docs/exporting.md"
        )

    def describe(self) -> dict[str, Any]:
        """Returns a JSON-ready description for ``mesa-bench methods``."""
        return {"name": self.name, "kinds": list(self.kinds), "trainable": self.default_budget > 0}


class ReferenceMethod(MethodEntry):
    """A family's hand-written reference ``reference/<name>``, run as a method."""

    @property
    def reference(self) -> str:
        return self.name.removeprefix("reference/")

    def applies_to(self, family: TaskFamily) -> bool:
        return self.reference in family.spec.references

    def train(
        self, family: TaskFamily, evaluator: Evaluator, budget: int, seed: int, ctx: TrainContext
    ) -> Trained:
        return self.load_trained(family, ctx)

    def load_trained(self, family: TaskFamily, ctx: TrainContext) -> Trained:
        """Returns the reference itself: it has nothing to train or reload."""
        make_method = functools.partial(family.make_reference, self.reference)
        return Trained(make_method=make_method, spent=0)

    def exportable(self, family: TaskFamily, trained: Trained) -> Exportable:
        """Refuses: a reference is hand-written code, with no trained model to export."""
        raise ValueError(
            f"{self.name} is a hand-written reference algorithm: it has no trained model to export"
        )

"""Hydra structured configs: one per family (group ``task``) and method (group ``method``).

They are stored in Hydra's ConfigStore from the registries, so a family or method added by
another package gets its config group entry with no change here. Code below the entry
point sees typed dataclasses (``OmegaConf.to_object``), never a ``DictConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from mesa_bench.evaluation.trials import DEFAULT_EVAL_SEED
from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.tracking import TrackingConfig


@dataclass
class RunConfig:
    """One run: a method on a family with a seed and a budget.

    Attributes:
        task: the family's config (``task=bandit``, then ``task.horizon=...``).
        method: the method's config (``method=rl2``, then ``method.lr=...``).
        seed: base-optimizer seed; train tasks and the method's draws flow from it.
        budget: env steps / sequences / inner steps for the base optimizer; None for the
            method's default.
        n_eval: trials per split at each evaluation.
        eval_seed: the public seed of evaluation tasks (the same for every method).
        splits: splits scored at the end; None for ``test`` and every shift.
        out: folder that results go under.
        suite: suite id recorded in the results file (``none`` for a single run).
        tracking: wandb settings.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``; for trained methods.
        run: for ``evaluate run=RUN_DIR``, the finished run whose final model is scored
            again (None for a run that trains, or evaluates a reference).
        variant: a suite's sweep point (``maze@diversity=0.25``), set by ``suite run``: the
            run's folder in place of the family name, and how the report tells the points
            of one family apart; None outside a sweep.
    """

    defaults: list[Any] = field(
        default_factory=lambda: [{"task": "bandit"}, {"method": "reference/thompson"}, "_self_"]
    )
    task: Any = MISSING
    method: Any = MISSING
    seed: int = 0
    budget: int | None = None
    n_eval: int = 1000
    eval_seed: int = DEFAULT_EVAL_SEED
    splits: list[str] | None = None
    out: str = "runs"
    suite: str = "none"
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    device: str = "auto"
    run: str | None = None
    variant: str | None = None


def register_configs() -> ConfigStore:
    """Stores the run config and every registered family's and method's config."""
    cs = ConfigStore.instance()
    cs.store(name="run", node=RunConfig)
    for name in FAMILIES.names():
        family_cls = FAMILIES.get(name)
        cs.store(group="task", name=name, node=family_cls.config_class(name=name))
    for name in METHODS.names():
        entry_cls = METHODS.get(name)
        # "reference/thompson" lives at method/reference/thompson, where Hydra looks for it
        subgroup, _, leaf = name.rpartition("/")
        group = f"method/{subgroup}" if subgroup else "method"
        cs.store(group=group, name=leaf, node=entry_cls.config_class(name=name), package="method")
    return cs

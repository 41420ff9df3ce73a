"""Match thresholds for readers of results files, from the family's own calibration.

A results file stores ``eps``, ``rule`` and ``classes`` beside its match distances, but a
file can be edited (``eps`` 1e9 turns any distance into a match), so readers (the report,
the leaderboard) never take them from it: the run's family is rebuilt from the config the
file carries and calibrated here (``matcher.family_calibration``), once per (family,
config, evaluation seed, trials) in this process.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from mesa_bench.evaluation.matching.matcher import (
    DEFAULT_MATCH_TRIALS,
    Calibration,
    family_calibration,
)
from mesa_bench.evaluation.trials import DEFAULT_EVAL_SEED
from mesa_bench.registry import FAMILIES
from mesa_bench.results import RunRecord

CACHE_SIZE = 64  # distinct family configs a process keeps calibrations of


def run_configs(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Returns the single-run configs a results file's ``config`` holds (a bundle has many)."""
    bundle = config.get("bundle")
    if isinstance(bundle, list):
        return [c for c in bundle if isinstance(c, Mapping)]
    return [config] if config else []


def run_calibration(run: RunRecord, config: Mapping[str, Any]) -> Calibration | None:
    """Returns the calibration of ``run``'s family, rebuilt from the file's ``config``.

    Returns None where no config of the file builds ``run.family`` (no config, an unknown
    family, or one whose references are not the run's): its match statistics cannot be
    decided and readers count the run as not measured.
    """
    refs = set(run.splits["test"].references)
    for cfg in run_configs(config):
        task = cfg.get("task")
        if not isinstance(task, Mapping) or task.get("name") not in FAMILIES:
            continue
        if cfg.get("seed", run.seed) != run.seed:
            continue
        eval_seed = int(cfg.get("eval_seed", DEFAULT_EVAL_SEED))
        key = json.dumps(dict(task), sort_keys=True, default=str)
        try:
            family_id, references = _family(task["name"], key)
        except (TypeError, ValueError):
            continue
        if family_id != run.family or not set(references) >= refs:
            continue
        return calibration(task["name"], key, eval_seed, DEFAULT_MATCH_TRIALS)
    return None


@functools.lru_cache(maxsize=CACHE_SIZE)
def _family(name: str, task_json: str) -> tuple[str, tuple[str, ...]]:
    family = _build(name, task_json)
    return family.spec.id, tuple(family.spec.references)


@functools.lru_cache(maxsize=CACHE_SIZE)
def calibration(name: str, task_json: str, eval_seed: int, n_trials: int) -> Calibration:
    """Returns the calibration of family ``name`` built from ``task_json`` (cached)."""
    return family_calibration(_build(name, task_json), eval_seed, n_trials)


def _build(name: str, task_json: str):
    cls = FAMILIES.get(name)
    return cls(cls.config_class(**json.loads(task_json)))

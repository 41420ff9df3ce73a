"""``mesa-bench evaluate run=RUN_DIR``: a finished run's final model, scored again.

The run's results file is the record of its config; the method reloads its final model
from the run folder (``MethodEntry.load_trained``) and the evaluator scores it on the
splits and trial counts asked for now. Nothing in the run folder is changed: the new
results file goes to ``RUN_DIR/evaluations/<what was asked>/results.json``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.entry import TrainContext, Trained
from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.results import ResultsError, read_results
from mesa_bench.running import jobs, layout
from mesa_bench.running.config import RunConfig
from mesa_bench.tracking import TrackingConfig

# What may change between the training run and its re-evaluation; everything else (the
# family's and method's config, the seed) is the run's own.
CHANGEABLE = ("run", "splits", "n_eval", "eval_seed", "device", "tracking.mode")


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Returns the ``key=value`` overrides as values; refuses keys that are not CHANGEABLE."""
    for item in overrides:
        key = item.partition("=")[0]
        if key not in CHANGEABLE:
            raise ValueError(
                f"evaluate run=...: {key!r} cannot be changed after training "
                f"(changeable: {', '.join(CHANGEABLE)}); train a new run instead"
            )
    return OmegaConf.to_container(OmegaConf.from_dotlist(overrides))


def stored_config(run: Path) -> tuple[RunConfig, int]:
    """Returns the config a finished run was made with, and the budget it spent."""
    path = run / layout.RESULTS
    if not path.is_file():
        raise ValueError(f"no finished run at {run}: {path} does not exist")
    results = read_results(path)
    raw = results.config
    try:
        task = FAMILIES.get(raw["task"]["name"]).config_class(**raw["task"])
        method = METHODS.get(raw["method"]["name"]).config_class(**raw["method"])
        fields = {f.name for f in dataclasses.fields(RunConfig)} - {"task", "method", "tracking"}
        rest = {k: v for k, v in raw.items() if k in fields}
        tracking = TrackingConfig(**raw["tracking"])
        cfg = RunConfig(task=task, method=method, tracking=tracking, **rest)
    except (KeyError, TypeError) as e:
        raise ResultsError(f"{path}: its config cannot be read back ({e})") from None
    return cfg, results.runs[0].budget


def evaluate_run(overrides: list[str]) -> jobs.JobResult:
    """Scores the final model of the run named by ``run=`` again; returns where it went."""
    asked = parse_overrides(overrides)
    run = Path(asked.pop("run"))
    cfg, budget = stored_config(run)
    tracking = asked.pop("tracking", {})
    cfg = dataclasses.replace(cfg, **asked, run=str(run))
    cfg.tracking = dataclasses.replace(cfg.tracking, **tracking)
    family, entry = jobs.build(cfg)
    out = run / "evaluations" / evaluation_name(cfg)

    def load(evaluator: Evaluator, ctx: TrainContext) -> Trained:
        return entry.load_trained(family, dataclasses.replace(ctx, run_dir=run))

    return jobs.execute(cfg, family, budget, out, load, label="|evaluate")


def evaluation_name(cfg: RunConfig) -> str:
    """Returns a folder name that says what was asked: trials, evaluation seed, splits."""
    splits = "+".join(cfg.splits) if cfg.splits else "all-splits"
    return f"n{cfg.n_eval}-eval{cfg.eval_seed}-{splits}"

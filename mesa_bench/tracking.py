"""Experiment tracking through wandb; the only module that imports it.

The results file on disk is the record of truth; wandb mirrors it: the config as a plain
dict, curves with the budget as step, the results file as an artifact. Offline by
default, so nothing needs an account; ``online`` once the user has logged in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("offline", "online", "disabled")
WANDB_HOME_DIRS = ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR")


@dataclass
class TrackingConfig:
    """Where runs are mirrored.

    Attributes:
        mode: ``offline`` (default, no account), ``online`` or ``disabled``.
        project: wandb project.
        entity: wandb entity (team or user); None for the default.
        dir: folder for wandb's files; None puts them under the run's output folder.
    """

    mode: str = "offline"
    project: str = "mesa-bench"
    entity: str | None = None
    dir: str | None = None


class Tracker:
    """One wandb run: ``log`` metrics against the budget, ``log_results``, ``finish``."""

    def __init__(
        self,
        config: TrackingConfig,
        out_dir: Path,
        cache_root: Path,
        name: str,
        group: str,
        job_type: str,
        run_config: dict[str, Any],
    ):
        if config.mode not in MODES:
            raise ValueError(
                f"tracking.mode must be one of {', '.join(MODES)}, got {config.mode!r}"
            )
        import wandb

        root = Path(config.dir) if config.dir else Path(out_dir)
        root.mkdir(parents=True, exist_ok=True)
        for var in WANDB_HOME_DIRS:  # keep wandb out of the home folder unless told otherwise
            os.environ.setdefault(var, str(Path(cache_root) / ".wandb" / var.lower()))
        self.run = wandb.init(
            mode=config.mode,
            project=config.project,
            entity=config.entity,
            name=name,
            group=group,
            job_type=job_type,
            dir=str(root),
            config=run_config,
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
            reinit="finish_previous",
        )
        self.run.define_metric("budget")
        self.run.define_metric("*", step_metric="budget")

    @property
    def run_dir(self) -> Path | None:
        """Returns the folder wandb writes this run to (None when disabled)."""
        if self.run.disabled:
            return None
        return Path(self.run.dir).parent

    def log(self, metrics: dict[str, float], budget: int) -> None:
        """Logs ``metrics`` at ``budget``."""
        self.run.log({**metrics, "budget": budget})

    def log_results(self, path: Path, name: str) -> None:
        """Logs the results file at ``path`` as an artifact ``name``."""
        self.log_artifact(path, name, "results")

    def log_artifact(self, path: Path, name: str, kind: str) -> None:
        """Logs a file or a whole folder at ``path`` as an artifact of type ``kind``."""
        import wandb

        artifact = wandb.Artifact(_artifact_name(name), type=kind)
        if Path(path).is_dir():
            artifact.add_dir(str(path))
        else:
            artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def summary(self, values: dict[str, Any]) -> None:
        """Sets summary values (final metrics)."""
        self.run.summary.update(values)

    def finish(self) -> None:
        """Closes the run and flushes its files."""
        self.run.finish()


def _artifact_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)

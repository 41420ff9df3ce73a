"""Where a run's files go: the one rule that jobs, the suite runner and the Hydra app use.

A run writes ``<out>/<suite>/<method>/<family>/seed<N>/``: its ``results.json`` (the record
of truth), Hydra's ``.hydra/`` record of the config, the trainer's ``checkpoint.pt`` and
the wandb run. A suite keeps its own files beside the runs in ``<out>/<suite>/``:
``status/``, ``bundles/``, ``report/`` and Hydra's sweep records.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results.json"


def run_dir(out: str | Path, suite: str, method: str, family: str, seed: int | str) -> Path:
    """Returns the folder of one run (``seed`` may be a Hydra interpolation string)."""
    return suite_dir(out, suite) / run_subdir(method, family, seed)


def run_subdir(method: str, family: str, seed: int | str) -> Path:
    """Returns a run's folder relative to its suite's folder."""
    return Path(method) / family / f"seed{seed}"


def results_path(out: str | Path, suite: str, method: str, family: str, seed: int) -> Path:
    """Returns the results file of one run."""
    return run_dir(out, suite, method, family, seed) / RESULTS


def suite_dir(out: str | Path, suite: str) -> Path:
    """Returns the folder of a suite's runs and of its own files."""
    return Path(out) / suite


def status_path(out: str | Path, suite: str, method: str, family: str, seed: int) -> Path:
    """Returns the status file of one suite job (named by the job, not by its index)."""
    name = f"{method}--{family}--seed{seed}".replace("/", "-")
    return suite_dir(out, suite) / "status" / f"{name}.json"


def hydra_run_dir() -> str:
    """Returns Hydra's ``hydra.run.dir`` for ``train``/``evaluate``: the run folder itself,
    so Hydra's record of the config travels with the results it describes."""
    return str(run_dir("${out}", "${suite}", "${method.name}", "${task.name}", "${seed}"))


def hydra_sweep_dirs() -> tuple[str, str]:
    """Returns Hydra's ``hydra.sweep.dir`` and ``hydra.sweep.subdir`` for ``--multirun``:
    together they name the same run folder as ``hydra_run_dir``."""
    sweep_dir = suite_dir("${out}", "${suite}")
    return str(sweep_dir), str(run_subdir("${method.name}", "${task.name}", "${seed}"))

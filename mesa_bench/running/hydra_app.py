"""``mesa-bench train`` / ``evaluate``: a Hydra application over ``RunConfig``."""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.running import layout

DEFAULT_METHOD = "reference/thompson"  # RunConfig's default


def choices(overrides: list[str], key: str) -> list[str]:
    """Returns the values ``key=`` names (several in a multirun sweep: ``task=bandit,maze``)."""
    found = []
    for item in overrides:
        name, sep, value = item.partition("=")
        if sep and name.lstrip("+~") == key:
            found += value.split(",")
    return found


def check_choices(overrides: list[str]) -> None:
    """Raises RegistryError for an unknown ``task=`` or ``method=`` before Hydra sees it."""
    for key, registry in (("task", FAMILIES), ("method", METHODS)):
        for choice in choices(overrides, key):
            registry.check(choice)


def check_verb(command: str, overrides: list[str]) -> None:
    """Raises ValueError where ``train`` is asked of a reference or ``evaluate`` of a
    method that trains: each verb does what it says."""
    for method in choices(overrides, "method") or [DEFAULT_METHOD]:
        trains = METHODS.get(method).default_budget > 0
        if command == "evaluate" and trains:
            raise ValueError(
                f"method {method!r} trains: use `mesa-bench train method={method} ...`; "
                "`mesa-bench evaluate run=RUN_DIR` scores a finished run again"
            )
        if command == "train" and not trains:
            raise ValueError(
                f"method {method!r} needs no training: use `mesa-bench evaluate "
                f"method={method} ...`"
                + ("" if choices(overrides, "method") else " (train needs method=NAME)")
            )


def run_hydra(command: str, overrides: list[str]) -> int:
    """Runs one job (or a sweep with --multirun) and prints where results went."""
    import hydra

    from mesa_bench.running.config import register_configs

    plain = [o for o in overrides if not o.startswith("-")]
    if command == "evaluate" and choices(plain, "run"):
        from mesa_bench.reporting.tables import print_run
        from mesa_bench.running.reevaluate import evaluate_run

        print_run(evaluate_run(plain))
        return 0
    check_choices(plain)
    check_verb(command, plain)
    register_configs()
    saved = sys.argv
    # Hydra's record of the config and overrides (.hydra/) goes in the run folder itself,
    # with the results file it describes, for single runs and sweeps alike.
    sweep_dir, sweep_subdir = layout.hydra_sweep_dirs()
    folders = [
        f"hydra.run.dir={layout.hydra_run_dir()}",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.sweep.subdir={sweep_subdir}",
    ]
    sys.argv = [f"mesa-bench {command}", *folders, *overrides]
    try:
        hydra.main(config_path=None, config_name="run", version_base="1.3")(_job)()
    finally:
        sys.argv = saved
    return 0


def _job(dict_cfg) -> None:
    from mesa_bench.registry import RegistryError
    from mesa_bench.reporting.tables import print_run
    from mesa_bench.results import ResultsError
    from mesa_bench.running import jobs

    try:
        cfg = OmegaConf.to_object(dict_cfg)
        result = jobs.run(cfg)
    except (RegistryError, ResultsError, ValueError) as e:
        # Hydra would print a stack trace; a bad config deserves one line naming the fault
        print(f"mesa-bench: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print_run(result)

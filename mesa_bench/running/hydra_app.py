"""``mesa-bench train`` / ``evaluate``: a Hydra application over ``RunConfig``."""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

from mesa_bench.registry import FAMILIES, METHODS

# Run folders sit beside the results they describe, so Hydra's record of the config and
# overrides (.hydra/) travels with the results file.
RUN_DIR = "hydra.run.dir=${out}/${suite}/${method.name}/${task.name}/seed${seed}"
SWEEP_DIR = "hydra.sweep.dir=${out}/${suite}/multirun"
SWEEP_SUBDIR = "hydra.sweep.subdir=${method.name}/${task.name}/seed${seed}"


def check_choices(overrides: list[str]) -> None:
    """Raises RegistryError for an unknown ``task=`` or ``method=`` before Hydra sees it."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            continue
        for name, registry in (("task", FAMILIES), ("method", METHODS)):
            if key.lstrip("+~") == name:
                for choice in value.split(","):  # multirun sweeps: task=bandit,maze
                    registry.check(choice)


def run_hydra(command: str, overrides: list[str]) -> int:
    """Runs one job (or a sweep with --multirun) and prints where results went."""
    import hydra

    from mesa_bench.running.config import register_configs

    check_choices([o for o in overrides if not o.startswith("-")])
    register_configs()
    saved = sys.argv
    sys.argv = [f"mesa-bench {command}", RUN_DIR, SWEEP_DIR, SWEEP_SUBDIR, *overrides]
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

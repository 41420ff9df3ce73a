"""``mesa-bench export RUN_DIR``: a finished run's trained model as a ``torch.export`` program.

The run is reloaded as ``mesa-bench evaluate run=`` reloads it: its config from its
results file, its final model from its folder (``MethodEntry.load_trained``). The
method's entry turns the model into a module in its kind's protocol
(``MethodEntry.exportable``), and ``mesa_bench.protocol.programs`` exports, checks and
saves it: ``<out>/<method>--<family>--seed<N>.pt2`` with its manifest inside and beside it
(``.json``). No pickle and none of the method's Python goes into the archive.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mesa_bench.protocol.entry import ReferenceMethod, TrainContext
from mesa_bench.protocol.programs import export_program, save_program, sha256_file
from mesa_bench.running import jobs, layout
from mesa_bench.running.reevaluate import stored_config

EXPORT_DIR = "export"  # the default output folder, inside the run folder


@dataclass
class Exported:
    """Where one run's program and manifest went."""

    program: Path
    manifest: Path


def export_run(run: str | Path, out: str | Path | None = None) -> Exported:
    """Writes the final model of the finished run in ``run`` as a program; returns where.

    Args:
        run: the run's folder (the one holding its ``results.json``).
        out: the folder to write to; ``<run>/export`` when None.

    Raises:
        ValueError: one line naming why the run has nothing to export (no results file,
            a reference, no finished checkpoint) or why its model cannot be exported.
    """
    run = Path(run)
    cfg, budget = stored_config(run)
    family, entry = jobs.build(dataclasses.replace(cfg, device="cpu"))
    if isinstance(entry, ReferenceMethod):
        raise ValueError(
            f"{run} is a run of {entry.name}, a hand-written reference: it has no trained "
            "model to export"
        )
    trained = entry.load_trained(family, TrainContext(run_dir=run, device="cpu"))
    program, blank = export_program(entry.exportable(family, trained), family.spec.kind)
    results = run / layout.RESULTS
    manifest = dataclasses.replace(
        blank,
        method=entry.name,
        family=family.spec.id,
        seed=cfg.seed,
        budget=budget,
        results=str(results),
        results_sha256=sha256_file(results),
    )
    folder = Path(out) if out is not None else run / EXPORT_DIR
    stem = f"{entry.name}--{family.spec.id}--seed{cfg.seed}".replace("/", "-")
    path = save_program(program, manifest, folder / f"{stem}.pt2")
    manifest_path = folder / f"{stem}.json"
    manifest_path.write_text(manifest.to_json() + "\n")
    return Exported(path, manifest_path)

"""The ``mesa-bench`` command line (SPEC section 9a).

``train``, ``evaluate`` and ``suite`` take Hydra-style ``key=value`` overrides (so
``--multirun`` and launchers work) and are dispatched before argparse; argparse still
knows them, so every command and sub-command answers ``-h/--help`` the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import mesa_bench
from mesa_bench import __version__
from mesa_bench.registry import COMMANDS, FAMILIES, METHODS, RegistryError
from mesa_bench.results import ResultsError

HYDRA_COMMANDS = ("train", "evaluate")
OVERRIDE_COMMANDS = (*HYDRA_COMMANDS, "suite")
HELP_FLAGS = ("-h", "--help")

TRAIN_USAGE = "mesa-bench train task=FAMILY method=METHOD [key=value ...] [--multirun]"
TRAIN_HELP = """Trains a method (its base optimizer) on a family, scoring it at 16 budget
checkpoints, then on every split; writes <out>/<suite>/<method>/<family>/seed<N>/results.json.

Overrides: task=FAMILY (mesa-bench tasks), method=METHOD (a trainable one: mesa-bench
methods), seed=0, budget=N (the method's default when absent), n_eval=1000,
splits=[test,SHIFT,...], out=runs, device=auto|cpu|cuda, tracking.mode=offline|online|disabled,
task.FIELD=VALUE, method.FIELD=VALUE. --multirun sweeps comma lists (seed=0,1,2);
--hydra-help shows Hydra's own options. A killed run started again resumes."""

EVALUATE_USAGE = (
    "mesa-bench evaluate task=FAMILY method=reference/NAME [key=value ...] [--multirun]\n"
    "       mesa-bench evaluate run=RUN_DIR [splits=[...]] [n_eval=N] [eval_seed=N] [device=...]"
)
EVALUATE_HELP = """Scores without training: a family's reference algorithm, or the final model of a
finished `train` run (run=RUN_DIR, the folder holding its results.json), again, on new
splits or more trials; the run's own files are left as they are, the new results file goes
to RUN_DIR/evaluations/. Overrides as for `train` (see mesa-bench train --help)."""

_RAW = argparse.RawDescriptionHelpFormatter


class UsageError(Exception):
    """Bad input from the command line; printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        wants_help = any(a in HELP_FLAGS for a in argv)
        if argv and argv[0] in OVERRIDE_COMMANDS and wants_help:
            argv = [a for a in argv if "=" not in a and not a.startswith("-") or a in HELP_FLAGS]
        elif argv and argv[0] in HYDRA_COMMANDS:
            from mesa_bench.running.hydra_app import run_hydra

            return run_hydra(argv[0], argv[1:])
        elif argv and argv[0] == "suite":
            from mesa_bench.running.suite_cli import main as suite_main

            return suite_main(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (UsageError, RegistryError, ResultsError, ValueError) as e:
        print(f"mesa-bench: error: {e}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser of every command, plug-in commands included."""
    p = argparse.ArgumentParser(prog="mesa-bench", description=mesa_bench.__doc__)
    p.add_argument("--version", action="version", version=f"mesa-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("tasks", help="list task families")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("methods", help="list methods (baselines, references, plug-ins)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_methods)

    for name, summary, usage, text in (
        ("train", "train a method on a family", TRAIN_USAGE, TRAIN_HELP),
        ("evaluate", "score a reference, or a finished run again", EVALUATE_USAGE, EVALUATE_HELP),
    ):
        sub.add_parser(name, help=summary, usage=usage, description=text, formatter_class=_RAW)

    from mesa_bench.running.suite_cli import add_parser as add_suite_parser

    add_suite_parser(sub)

    s = sub.add_parser("demo", help="the quick suite on bandit and maze, report, leaderboard")
    s.add_argument("--out", default="runs/demo", help="output folder")
    s.add_argument(
        "--references-only", action="store_true", help="only evaluate the bandit references"
    )
    s.add_argument("--n-eval", type=int, default=1000, help="trials per split (--references-only)")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser(
        "export",
        help="write finished runs' trained models as torch.export programs",
        description="Writes the final model of each finished `train` run (RUN_DIR, the folder "
        "holding its results.json) as a torch.export program, <method>--<family>--seed<N>.pt2, "
        "with its manifest (method, family, kind, signature, results file and its SHA-256) "
        "inside and beside it (.json). See docs/exporting.md.",
    )
    s.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a finished run's folder")
    s.add_argument("--out", help="folder for the programs (default: RUN_DIR/export)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("validate", help="check results files against the schema")
    s.add_argument("results", nargs="+")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("schema", help="print the results file's JSON Schema")
    s.set_defaults(func=cmd_schema)

    from mesa_bench.reporting.report import (
        add_parser as add_report_parser,  # light: lazy heavy imports
    )

    add_report_parser(sub)

    for name in COMMANDS.names():  # report, submit, leaderboard, suite: found, not imported
        COMMANDS.get(name)(sub)
    return p


def family_rows() -> list[dict]:
    """Returns one JSON-ready row per registered family."""
    return [FAMILIES.get(name).spec.as_dict() for name in FAMILIES.names()]


def method_rows() -> list[dict]:
    """Returns one JSON-ready row per registered method, with the families it applies to."""
    families = [FAMILIES.get(name)() for name in FAMILIES.names()]
    rows = []
    for name in METHODS.names():
        entry = METHODS.get(name)(name)
        row = entry.describe()
        row["families"] = [f.spec.name for f in families if entry.applies_to(f)]
        rows.append(row)
    return rows


def cmd_tasks(args) -> int:
    rows = family_rows()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from rich.table import Table

    from mesa_bench.reporting.tables import console_for_tables

    table = Table("family", "kind", "shifts", "references (score 1 / floor / others)", "objectives")
    for r in rows:
        others = [
            x for x in r["references"] if x not in (r["score_reference"], r["floor_reference"])
        ]
        refs = f"{r['score_reference']} / {r['floor_reference']} / {', '.join(others)}"
        table.add_row(r["id"], r["kind"], ", ".join(r["shifts"]), refs, ", ".join(r["objectives"]))
    console_for_tables().print(table)
    return 0


def cmd_methods(args) -> int:
    rows = method_rows()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from rich.table import Table

    from mesa_bench.reporting.tables import console_for_tables

    table = Table("method", "trainable", "families")
    for r in rows:
        table.add_row(r["name"], "yes" if r["trainable"] else "no", ", ".join(r["families"]))
    console_for_tables().print(table)
    return 0


def cmd_demo(args) -> int:
    from mesa_bench.running.demo import run_demo

    return run_demo(args.out, args.n_eval, args.references_only)


def cmd_export(args) -> int:
    from mesa_bench.running.export import export_run

    for run in args.runs:
        done = export_run(run, args.out)
        print(f"{run}: wrote {done.program} and {done.manifest}")
    return 0


def cmd_validate(args) -> int:
    from mesa_bench.results import read_results

    for path in args.results:
        results = read_results(path)
        print(f"{path}: valid (schema {results.schema_version}, {len(results.runs)} runs)")
    return 0


def cmd_schema(args) -> int:
    from mesa_bench.results import dumps_schema

    print(dumps_schema())
    return 0


if __name__ == "__main__":
    sys.exit(main())

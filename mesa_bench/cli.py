"""The ``mesa-bench`` command line (SPEC section 9a).

``train`` and ``evaluate`` hand their ``key=value`` overrides to Hydra (so ``--multirun``
and launchers work); the other commands are plain argparse.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from mesa_bench import __version__
from mesa_bench.registry import COMMANDS, FAMILIES, METHODS, RegistryError
from mesa_bench.results import ResultsError

HYDRA_COMMANDS = ("train", "evaluate")


class UsageError(Exception):
    """Bad input from the command line; printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in HYDRA_COMMANDS:
            from mesa_bench.running.hydra_app import run_hydra

            return run_hydra(argv[0], argv[1:])
        if argv and argv[0] == "suite":
            from mesa_bench.running.suite_cli import main as suite_main

            return suite_main(argv[1:])
        args = _parser().parse_args(argv)
        return args.func(args)
    except (UsageError, RegistryError, ResultsError, ValueError) as e:
        print(f"mesa-bench: error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mesa-bench", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"mesa-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("tasks", help="list task families")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("methods", help="list methods (baselines, references, plug-ins)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_methods)

    for name in HYDRA_COMMANDS:
        sub.add_parser(name, help=f"{name} a method on a task (Hydra overrides: key=value)")

    sub.add_parser("suite", help="run|collect|list versioned suites (Hydra overrides)")

    s = sub.add_parser("demo", help="the quick suite on bandit and maze, report, leaderboard")
    s.add_argument("--out", default="runs/demo", help="output folder")
    s.add_argument(
        "--references-only", action="store_true", help="only evaluate the bandit references"
    )
    s.add_argument("--n-eval", type=int, default=1000, help="trials per split (--references-only)")
    s.set_defaults(func=cmd_demo)

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

"""The ``mesa-bench leaderboard`` and ``mesa-bench submit`` commands.

The core command line finds these through the ``mesa_bench.commands`` entry point (it
never imports ``leaderboard``); each ``add_*`` function adds its parser.

The database is ``--db`` (a SQLAlchemy URL or a SQLite file path), else the
``MESA_BENCH_LEADERBOARD_DB`` environment variable, else ``leaderboard.sqlite`` in the
current folder.
"""

from __future__ import annotations

import argparse
import os
import sys

DB_ENV = "MESA_BENCH_LEADERBOARD_DB"
SERVER_ENV = "MESA_BENCH_SERVER"
TOKEN_ENV = "MESA_BENCH_TOKEN"
# uvicorn's connection limits: idle keep-alive closed after 5 s, request heads over 16 KiB
# refused, at most 256 connections served at once (503 beyond), so a flood of idle or huge
# requests cannot hold the server. uvicorn has no timeout on reading request heads: the
# reverse proxy in front provides it (docs/leaderboard-deployment.md).
SERVER_SETTINGS = {
    "timeout_keep_alive": 5,
    "h11_max_incomplete_event_size": 16 * 1024,
    "limit_concurrency": 256,
    "timeout_graceful_shutdown": 30,
    "server_header": False,
}


def add_leaderboard_command(subparsers) -> None:
    """Adds ``leaderboard serve | migrate | add-submitter | export | rescore`` and the
    admin actions of :mod:`leaderboard.admin`."""
    from leaderboard.admin import add_admin_commands

    p = subparsers.add_parser("leaderboard", help="run, administer or export the leaderboard")
    sub = p.add_subparsers(dest="leaderboard_command", required=True, metavar="ACTION")

    s = sub.add_parser("serve", help="serve the web page and JSON API")
    _db_option(s)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=int, default=8000, help="port to listen on")
    s.add_argument(
        "--scoring-workers", type=int, default=1, help="submissions scored at once (default 1)"
    )
    s.add_argument(
        "--scoring-queue",
        type=int,
        default=8,
        help="submissions in progress at most, running and waiting (default 8; then 503)",
    )
    s.add_argument(
        "--per-submitter",
        type=int,
        default=2,
        help="submissions in progress per token at most (default 2; then 429)",
    )
    s.add_argument(
        "--per-hour",
        type=float,
        default=60,
        help="submissions per token an hour once its burst is spent (default 60; then 429)",
    )
    s.add_argument(
        "--burst", type=int, default=20, help="submissions per token at once (default 20)"
    )
    s.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        help="seconds a client may take to send a body (default 30; then 408)",
    )
    s.add_argument(
        "--no-verifier",
        action="store_true",
        help="run no verification worker (entries with programs stay queued for "
        "`leaderboard verify`)",
    )
    _sandbox_options(s)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser(
        "verify", help="run the verification worker in the foreground (queued entries)"
    )
    _db_option(s)
    s.add_argument("--once", action="store_true", help="stop when the queue is empty")
    _sandbox_options(s)
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("migrate", help="create the database, or bring its schema up to date")
    _db_option(s)
    s.set_defaults(func=cmd_migrate)

    s = sub.add_parser("add-submitter", help="create a submitter and print their token once")
    s.add_argument("name", help="the submitter's name, shown on their entries")
    _db_option(s)
    s.set_defaults(func=cmd_add_submitter)

    s = sub.add_parser("export", help="write the table as Markdown or HTML")
    s.add_argument("--format", choices=("md", "html"), required=True, dest="fmt")
    s.add_argument("--out", required=True, help="file to write")
    s.add_argument("--suite", default=None, help="only this suite (id or id@version)")
    s.add_argument("--board", default=None, choices=("ranked", "ad-hoc"), help="only this board")
    _db_option(s)
    s.set_defaults(func=cmd_export)

    s = sub.add_parser(
        "rescore",
        help="recompute metrics of entries scored by older code: all of them, or none if any fails",
    )
    s.add_argument(
        "--dry-run",
        action="store_true",
        help="recompute and report what would change; write nothing",
    )
    _db_option(s)
    s.set_defaults(func=cmd_rescore)

    add_admin_commands(sub, _db_option)


def add_submit_command(subparsers) -> None:
    """Adds ``submit RESULTS... --server URL [--token-file FILE]``."""
    s = subparsers.add_parser("submit", help="submit results to a leaderboard server")
    s.add_argument("results", nargs="+", help="results files, or folders of results.json")
    s.add_argument(
        "--server", default=os.environ.get(SERVER_ENV), help=f"server URL (or ${SERVER_ENV})"
    )
    s.add_argument(
        "--token-file",
        default=None,
        help=f"file holding the submitter token (else ${TOKEN_ENV})",
    )
    s.add_argument(
        "--token",
        default=None,
        help="the token itself (discouraged: other users see it in the process list)",
    )
    s.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for the server (600)"
    )
    s.add_argument(
        "--programs",
        default=None,
        metavar="DIR",
        help="folder of the runs' exported programs (mesa-bench export): the server runs "
        "them on public and hidden trials and marks the entry verified or failed",
    )
    s.add_argument(
        "--allow-http",
        action="store_true",
        help="send the token over plain http:// to a host other than this machine",
    )
    s.set_defaults(func=cmd_submit)


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    from leaderboard.sandbox import SandboxLimits

    d = SandboxLimits()
    parser.add_argument(
        "--sandbox-cpu",
        type=int,
        default=d.cpu_s,
        help=f"CPU seconds a program (default {d.cpu_s})",
    )
    parser.add_argument(
        "--sandbox-wall",
        type=float,
        default=d.wall_s,
        help=f"wall seconds a program before it is killed (default {d.wall_s:g})",
    )
    parser.add_argument(
        "--sandbox-memory-mb",
        type=int,
        default=d.memory_bytes // 2**20,
        help=f"address space of a sandbox in MiB (default {d.memory_bytes // 2**20}; torch "
        "alone maps about 3300)",
    )


def _sandbox_limits(args):
    from leaderboard.sandbox import SandboxLimits

    return SandboxLimits(
        cpu_s=args.sandbox_cpu,
        wall_s=args.sandbox_wall,
        memory_bytes=args.sandbox_memory_mb * 2**20,
    )


def cmd_verify(args) -> int:
    from leaderboard.store import StoreError
    from leaderboard.worker import work

    try:
        store = _existing(args.db)
    except StoreError as e:
        return _fail(str(e), 2)
    try:
        done = work(store, _sandbox_limits(args), once=args.once)
    except KeyboardInterrupt:
        return 130
    finally:
        store.close()
    print(f"verified or failed {done} entries")
    return 0


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get(DB_ENV),
        help=f"database URL or SQLite file (default: ${DB_ENV} or ./leaderboard.sqlite)",
    )


def _fail(message: str, status: int = 1) -> int:
    print(f"mesa-bench: error: {message}", file=sys.stderr)
    return status


def cmd_serve(args) -> int:
    import uvicorn

    from leaderboard.app import create_app
    from leaderboard.intake import Intake
    from leaderboard.store import Store

    try:
        intake = Intake(
            args.scoring_workers,
            args.scoring_queue,
            args.per_submitter,
            processes=True,
            per_hour=args.per_hour,
            burst=args.burst,
        )
    except ValueError as e:
        return _fail(str(e), 2)
    store = Store(args.db)
    print(f"leaderboard: http://{args.host}:{args.port}/ (database {_shown(store.url)})")
    verifier = None if args.no_verifier else _sandbox_limits(args)
    app = create_app(store, intake, body_timeout_s=args.body_timeout, verifier=verifier)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", **SERVER_SETTINGS)
    return 0


def _existing(db: str | None):
    """Returns the Store of an existing database with a current schema; raises StoreError."""
    from leaderboard.store import Store

    return Store(db, migrate=False, existing=True)


def cmd_migrate(args) -> int:
    from leaderboard.store import Store

    store = Store(args.db)
    store.close()
    print(f"database {_shown(store.url)} is up to date")
    return 0


def cmd_add_submitter(args) -> int:
    from leaderboard.store import StoreError

    try:
        store = _existing(args.db)
        token = store.add_submitter(args.name)
    except StoreError as e:
        return _fail(str(e), 2)
    print(token)
    print(
        f"submitter {args.name!r} added to {_shown(store.url)}; this token is shown only "
        "once (the database keeps its hash)",
        file=sys.stderr,
    )
    return 0


def cmd_export(args) -> int:
    from leaderboard.export import export
    from leaderboard.store import StoreError

    try:
        store = _existing(args.db)
    except StoreError as e:
        return _fail(str(e), 2)
    try:
        path = export(store, args.fmt, args.out, args.suite, args.board)
    except StoreError as e:
        return _fail(str(e), 2)
    finally:
        store.close()
    print(f"leaderboard table: {path}")
    return 0


def cmd_rescore(args) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from leaderboard.store import StoreError

    try:
        store = _existing(args.db)
    except StoreError as e:
        return _fail(str(e), 2)
    try:
        plans, failures = store.plan_rescore()
        for plan in plans if args.dry_run else ():
            print(_rescoring_line(plan))
        for entry_id, name, why in failures:
            print(
                f"mesa-bench: error: entry {entry_id} ({name}) cannot be rescored: {why}",
                file=sys.stderr,
            )
        if failures:
            stale = len(plans) + len(failures)
            return _fail(
                f"{len(failures)} of {stale} entries scored by older code cannot be rescored; "
                "nothing was written",
            )
        if args.dry_run:
            print(f"would rescore {len(plans)} entries; nothing written (--dry-run)")
            return 0
        written = store.apply_rescore(plans)
    except SQLAlchemyError as e:
        # the writes share one transaction: a failure anywhere rolls all of them back
        reason = str(e).splitlines()[0]
        return _fail(f"rescore failed, nothing was written: {type(e).__name__}: {reason}")
    finally:
        store.close()
    print(f"rescored {written} entries")
    return 0


def _rescoring_line(plan) -> str:
    """Returns one line saying how rescoring would change an entry's table numbers."""
    changes = "; ".join(
        f"{column} {_number(old)} -> {_number(new)}" for column, (old, new) in plan.changes.items()
    )
    return (
        f"entry {plan.entry_id} ({plan.name}, scored by {plan.stored_version}): "
        f"{changes or 'metrics only, table numbers unchanged'}"
    )


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def cmd_submit(args) -> int:
    from leaderboard.client import (
        DEFAULT_TIMEOUT_S,
        SubmitError,
        find_programs,
        load_bundle,
        submit,
    )

    if not args.server:
        return _fail(f"no server: pass --server URL or set {SERVER_ENV}", 2)
    try:
        token = _token(args)
    except OSError as e:
        return _fail(f"cannot read --token-file {args.token_file}: {e.strerror}", 2)
    if not token:
        return _fail(f"no token: pass --token-file FILE or set {TOKEN_ENV}", 2)
    try:
        results = load_bundle(args.results)
        programs = find_programs(results, args.programs) if args.programs else None
        timeout = DEFAULT_TIMEOUT_S if args.timeout is None else args.timeout
        entry = submit(results, args.server, token, timeout, args.allow_http, programs)
    except SubmitError as e:
        return _fail(str(e))
    url = args.server.rstrip("/") + entry["links"]["html"]
    state = "stored as a new entry" if entry["created"] else "already stored (identical content)"
    score = entry["score_iqm"]
    shown = "undefined" if score is None else f"{score:.3f}"
    print(
        f"{entry['method']['name']} v{entry['method']['version']} on "
        f"{entry['suite']['id']}@{entry['suite']['version']}: {state}; "
        f"normalized score IQM {shown}"
    )
    state = entry.get("verification", {}).get("state")
    if state:
        print(f"state: {state}")
    print(f"entry: {url}")
    if entry.get("note"):
        print(f"note: {entry['note']}")
    return 0


def _token(args) -> str | None:
    """Returns the token from --token-file, $MESA_BENCH_TOKEN or (warned) --token."""
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            return f.read().strip()
    if args.token:
        print(
            "mesa-bench: warning: --token shows the token to every user of this machine "
            f"(in the process list); use --token-file FILE or ${TOKEN_ENV}",
            file=sys.stderr,
        )
        return args.token
    return os.environ.get(TOKEN_ENV)


def _shown(url: str) -> str:
    """Returns ``url`` without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# The table the ``mesa_bench.commands`` entry point names (the core registry reads tables
# of name -> ``add(subparsers)``, like its family and method tables).
COMMANDS = {
    "leaderboard": "leaderboard.cli:add_leaderboard_command",
    "submit": "leaderboard.cli:add_submit_command",
}

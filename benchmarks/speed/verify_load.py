"""The list API under load while the verification worker runs (issue 18 item 8).

Starts ``mesa-bench leaderboard serve`` (with its worker) over a board of ``--entries``
made-up entries (``served_board.fill``), measures the JSON list endpoint open-loop at
``--rate`` req/s for ``--seconds`` with the worker idle, then submits ``--verify`` entries
with a real program (a tiny rl2 on bandit, trained and exported here, scored on
``--trials`` trials per split) and measures again while the worker verifies them. Prints
p50/p99 of both and how long the worker took.

Run: ``python -m benchmarks.speed.verify_load --entries 1000 --rate 200 --seconds 10``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.speed.leaderboard_load import open_loop
from benchmarks.speed.served_board import ServedBoard, add_submitter, made_up_results

LIST = "/api/v1/entries"


def tiny_program(out: Path, trials: int) -> tuple[Path, Path]:
    """Trains and exports a tiny rl2 on bandit; returns its results file and program."""
    from mesa_bench.registry import FAMILIES, METHODS
    from mesa_bench.running import jobs
    from mesa_bench.running.config import RunConfig
    from mesa_bench.running.export import export_run
    from mesa_bench.tracking import TrackingConfig

    method = METHODS.get("rl2").config_class(
        name="rl2", num_envs=8, rollout_steps=16, hidden=16, save_every=2
    )
    cfg = RunConfig(
        task=FAMILIES.get("bandit").config_class(name="bandit"),
        method=method,
        out=str(out),
        budget=256,
        n_eval=trials,
        splits=["test"],
        tracking=TrackingConfig(mode="disabled"),
    )
    jobs.run(cfg)
    run = jobs.run_dir(cfg)
    return run / "results.json", export_run(run, out / "programs").program


def fill_store(db: Path, entries: int) -> None:
    """Stores ``entries`` made-up entries straight through the store (every check and the
    scoring run as for a submission; the API's per-token hourly limit does not apply)."""
    from leaderboard.checks import check_submission
    from leaderboard.store import Store

    store = Store(str(db), migrate=False)
    try:
        who = store.authenticate(add_submitter(db, f"filler-{time.time_ns()}"))
        for i in range(entries):
            results = made_up_results(f"bench-{i:04d}", skill=0.2 + 0.6 * (i % 97) / 97)
            store.submit(check_submission(results.model_dump_json()), who)
    finally:
        store.close()


def submit_with_program(url: str, token: str, results: Path, program: Path, name: str) -> int:
    """Submits ``results`` renamed ``name`` with its program; returns the entry id."""
    from leaderboard.client import upload_body
    from mesa_bench.results import read_results

    bundle = read_results(results)
    bundle = bundle.model_copy(update={"method": bundle.method.model_copy(update={"name": name})})
    answer = httpx.post(
        url + LIST,
        content=upload_body(bundle, [program]),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"},
        timeout=120,
    )
    answer.raise_for_status()
    return answer.json()["id"]


def states(url: str) -> dict[int, str]:
    """Returns each ad-hoc entry's verification state by id."""
    entries = httpx.get(url + LIST + "?board=ad-hoc&limit=1000", timeout=30).json()["entries"]
    return {e["id"]: e["verification"]["state"] for e in entries}


def main(argv: list[str] | None = None) -> int:
    """Runs both measurements and prints them (and JSON with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=1000, help="made-up entries on the board")
    p.add_argument("--rate", type=float, default=200.0, help="open-loop requests per second")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement")
    p.add_argument("--verify", type=int, default=3, help="entries with programs to verify")
    p.add_argument("--trials", type=int, default=128, help="trials per split of those runs")
    p.add_argument("--db", default=None, help="reuse this SQLite file (filled if new)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        results, program = tiny_program(Path(tmp) / "runs", args.trials)
        db = Path(args.db) if args.db else Path(tmp) / "bench.sqlite"
        fresh = not db.exists()
        token = add_submitter(db, f"verify-bench-{time.time_ns()}")
        if fresh:
            fill_store(db, args.entries)
        out = {}
        with ServedBoard(db) as board:
            httpx.get(board.url + LIST).raise_for_status()
            out["idle"] = open_loop(board.url + LIST, args.rate, args.seconds)
            stamp = time.time_ns()
            ids = [
                submit_with_program(board.url, token, results, program, f"verify-{stamp}-{i}")
                for i in range(args.verify)
            ]
            start = time.monotonic()
            while states(board.url)[ids[0]] == "queued":
                time.sleep(0.2)
            out["verifying"] = open_loop(board.url + LIST, args.rate, args.seconds)
            during = states(board.url)
            busy = any(during[i] in ("queued", "running") for i in ids)
            while any(states(board.url)[i] in ("queued", "running") for i in ids):
                time.sleep(0.5)
            out["worker_s"] = time.monotonic() - start
            out["final_states"] = [states(board.url)[i] for i in ids]
    for name in ("idle", "verifying"):
        o = out[name]
        print(
            f"list API, {name:9s} at {args.rate:.0f} req/s: achieved {o['rate']:.0f}, "
            f"p50 {o['p50_ms']:.1f} ms, p99 {o['p99_ms']:.1f} ms, errors {o['errors']}"
        )
    print(
        f"worker: {args.verify} entries of {args.trials} trials in {out['worker_s']:.0f} s "
        f"(states {out['final_states']}); still verifying when the measurement ended: {busy}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

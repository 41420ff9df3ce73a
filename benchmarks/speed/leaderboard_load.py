"""Load measurement of the leaderboard: requests/s and latency with many stored entries.

Starts ``mesa-bench leaderboard serve`` on 127.0.0.1 over a fresh SQLite file, submits
``--entries`` made-up entries through its API (so each passes the real checks and scoring)
and measures, for the JSON list endpoint and the HTML table:

- open loop: requests sent on a fixed schedule at ``--rate`` req/s for ``--seconds``;
  latency counted from each request's scheduled time (so queueing counts), p50/p99;
- closed loop: ``--clients`` clients sending back to back; the throughput reached.

With ``--while-scoring``, the list API is then measured open loop again, first alone and
then while the server scores one large entry (``--big-runs`` runs of 8 checkpoints on the
ad-hoc board, the hostile-load test's maximal entry by default), which it posts itself
after ``--seconds``: p50/p99 of the requests due in each window (for at most twice
``--seconds`` of the scoring), and how long the entry took.

Run: ``python -m benchmarks.speed.leaderboard_load --entries 1000 --rate 200 --seconds 10``.
The client runs on the same machine as the server, so both share its cores.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.speed.served_board import ServedBoard, add_submitter, fill, made_up_results
from mesa_bench.results import MethodInfo, ResultsFile, SuiteInfo, provenance

# "{i}" makes every URL distinct (an unused parameter): those pages are rendered afresh each
# time, as after every write; the others are mostly served from the page cache
ENDPOINTS = {
    "list (JSON)": "/api/v1/entries",
    "table (HTML)": "/",
    "list, uncached": "/api/v1/entries?nocache={i}",
    "table, uncached": "/?nocache={i}",
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def open_loop(url: str, rate: float, seconds: float, workers: int = 32) -> dict[str, float]:
    """Sends requests on a fixed schedule; returns achieved rate, p50 and p99 in ms."""
    timed, errors, wall = timed_open_loop(url, rate, seconds, workers)
    ms = [latency * 1000 for _, latency in timed]
    return {
        "requests": len(ms),
        "errors": len(errors),
        "rate": len(ms) / wall,
        "p50_ms": statistics.median(ms),
        "p99_ms": _percentile(ms, 0.99),
        "max_ms": max(ms),
    }


def timed_open_loop(
    url: str,
    rate: float,
    seconds: float,
    workers: int = 32,
    on_start: Callable[[float], None] | None = None,
) -> tuple[list[tuple[float, float]], list[int], float]:
    """Sends requests on a fixed schedule; returns (due time, latency) per request, the
    failed ones' indices and the wall time.

    The schedule starts half a second after the clients are connected; ``on_start`` is
    told that time (``perf_counter``) before the first request is due.
    """
    n = int(rate * seconds)
    # clients are made and connected before the clock starts: making one loads TLS
    # certificates, which would otherwise land in the first requests' latency
    clients: queue.Queue[httpx.Client] = queue.Queue()
    for _ in range(workers):
        client = httpx.Client(timeout=30)
        client.get(url.format(i=0)).raise_for_status()
        clients.put(client)
    local = threading.local()
    errors = []

    def one(i: int, t0: float) -> tuple[float, float]:
        if not hasattr(local, "client"):
            local.client = clients.get()
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if local.client.get(url.format(i=i)).status_code != 200:
            errors.append(i)
        return due, time.perf_counter() - due

    with ThreadPoolExecutor(workers) as pool:
        t0 = time.perf_counter() + 0.5
        if on_start is not None:
            on_start(t0)
        timed = list(pool.map(lambda i: one(i, t0), range(n)))
        wall = time.perf_counter() - t0
    while not clients.empty():
        clients.get().close()
    return timed, errors, wall


def big_results(runs: int, version: str = "1", n_trials: int = 16) -> ResultsFile:
    """Returns one large stand-alone entry: ``runs`` runs over 64 made-up families.

    Each run has 8 checkpoints and two splits of ``n_trials`` trials; the families are not
    installed anywhere, so the server scores the entry without re-running references.
    """
    families = min(64, runs)
    made = [
        made_up_results(f"big-{f}", skill=0.5, seeds=1, n_trials=n_trials).runs[0]
        for f in range(families)
    ]
    out = [
        made[k % families].model_copy(update={"family": f"fam{k % families}-v1", "seed": k})
        for k in range(runs)
    ]
    return ResultsFile(
        suite=SuiteInfo(id="none", version=0),
        # a new version each time, so a reused database scores it again (no 409)
        method=MethodInfo(name="big-entry", version=version, description="a load measurement"),
        provenance=provenance(),
        runs=out,
    )


def while_scoring(
    url: str, token: str, rate: float, seconds: float, runs: int, limit_s: float = 300
) -> dict[str, dict[str, float]]:
    """Measures the list API open loop alone for ``seconds``, then while the server scores
    a :func:`big_results` entry of ``runs`` runs; returns p50/p99 (ms) of each window."""
    body = big_results(runs, version=str(time.time_ns())).model_dump_json()
    posted: dict[str, float] = {}
    started = threading.Event()

    def schedule(t0: float) -> None:
        posted["start"], posted["at"] = t0, t0 + seconds
        started.set()

    def post() -> None:
        started.wait()
        time.sleep(max(0.0, posted["at"] - time.perf_counter()))
        answer = httpx.post(
            url + "/api/v1/entries",
            content=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=limit_s,
        )
        posted["end"] = time.perf_counter()
        posted["status"] = answer.status_code

    writer = threading.Thread(target=post)
    writer.start()
    list_url = url + "/api/v1/entries?limit=50"
    timed, errors, _ = timed_open_loop(list_url, rate, 3 * seconds, on_start=schedule)
    writer.join(limit_s)
    start = posted["start"]
    end = posted.get("end", float("inf"))
    out = {"entry": {"status": posted.get("status", 0), "seconds": end - posted["at"]}}
    # requests are due for 2 * seconds after the post: a longer scoring is timed in part
    out["entry"]["timed_s"] = min(end, start + 3 * seconds) - posted["at"]
    for name, lo, hi in (("alone", start, posted["at"]), ("while scoring", posted["at"], end)):
        ms = sorted(latency * 1000 for due, latency in timed if lo <= due < hi)
        if ms:
            out[name] = {
                "requests": len(ms),
                "p50_ms": statistics.median(ms),
                "p99_ms": _percentile(ms, 0.99),
                "max_ms": ms[-1],
            }
    out["entry"]["errors"] = len(errors)
    return out


def closed_loop(url: str, clients: int, seconds: float) -> dict[str, float]:
    """Sends back-to-back requests from ``clients`` threads; returns req/s and p50/p99."""
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def run() -> None:
        with httpx.Client(timeout=30) as client:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                client.get(url.format(i=int(start * 1e6))).raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return {
        "requests": len(ms),
        "rate": len(ms) / wall,
        "p50_ms": statistics.median(ms),
        "p99_ms": _percentile(ms, 0.99),
    }


def main(argv: list[str] | None = None) -> int:
    """Runs the measurement and prints one line per endpoint and mode (and JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=1000, help="entries stored before measuring")
    p.add_argument("--rate", type=float, default=200.0, help="open-loop requests per second")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement")
    p.add_argument("--clients", type=int, default=8, help="closed-loop clients")
    p.add_argument("--db", default=None, help="reuse this SQLite file (filled if new)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument(
        "--while-scoring", action="store_true", help="also time the list API while scoring"
    )
    p.add_argument("--big-runs", type=int, default=960, help="runs of the entry scored then")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "bench.sqlite"
        token = None if db.exists() else add_submitter(db, "bench")
        out = {}
        with ServedBoard(db) as board:
            if token is not None:
                per = fill(board.url, token, args.entries)
                print(f"stored {args.entries} entries through the API, {per * 1000:.0f} ms each")
            for name, path in ENDPOINTS.items():
                url = board.url + path
                httpx.get(url.format(i=0)).raise_for_status()  # warm caches and templates
                o = open_loop(url, args.rate, args.seconds)
                c = closed_loop(url, args.clients, args.seconds)
                out[name] = {"open": o, "closed": c}
                print(
                    f"{name:15s} open loop at {args.rate:.0f} req/s: achieved {o['rate']:.0f}, "
                    f"p50 {o['p50_ms']:.1f} ms, p99 {o['p99_ms']:.1f} ms, errors {o['errors']}"
                    f" | closed loop, {args.clients} clients: {c['rate']:.0f} req/s, "
                    f"p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms"
                )
            if args.while_scoring:
                token = token or add_submitter(db, f"bench-scoring-{time.time_ns()}")
                w = while_scoring(board.url, token, args.rate, args.seconds, args.big_runs)
                out["while scoring"] = w
                e = w["entry"]
                print(
                    f"big entry ({args.big_runs} runs): answered {e['status']} after "
                    f"{e['seconds']:.1f} s (reads timed over {e['timed_s']:.1f} s of it)"
                )
                for name in ("alone", "while scoring"):
                    if name in w:
                        m = w[name]
                        print(
                            f"list API {name}, open loop at {args.rate:.0f} req/s: "
                            f"{m['requests']} requests, p50 {m['p50_ms']:.1f} ms, "
                            f"p99 {m['p99_ms']:.1f} ms, max {m['max_ms']:.0f} ms"
                        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Load measurement of the leaderboard: requests/s and latency with many stored entries.

Starts ``mesa-bench leaderboard serve`` on 127.0.0.1 over a fresh SQLite file, submits
``--entries`` made-up entries through its API (so each passes the real checks and scoring)
and measures, for the JSON list endpoint and the HTML table:

- open loop: requests sent on a fixed schedule at ``--rate`` req/s for ``--seconds``;
  latency counted from each request's scheduled time (so queueing counts), p50/p99;
- closed loop: ``--clients`` clients sending back to back; the throughput reached.

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.speed.served_board import ServedBoard, add_submitter, fill

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

    def one(i: int, t0: float) -> float:
        if not hasattr(local, "client"):
            local.client = clients.get()
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if local.client.get(url.format(i=i)).status_code != 200:
            errors.append(i)
        return time.perf_counter() - due

    with ThreadPoolExecutor(workers) as pool:
        t0 = time.perf_counter() + 0.5
        latencies = list(pool.map(lambda i: one(i, t0), range(n)))
        wall = time.perf_counter() - t0
    while not clients.empty():
        clients.get().close()
    ms = [x * 1000 for x in latencies]
    return {
        "requests": n,
        "errors": len(errors),
        "rate": n / wall,
        "p50_ms": statistics.median(ms),
        "p99_ms": _percentile(ms, 0.99),
        "max_ms": max(ms),
    }


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
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

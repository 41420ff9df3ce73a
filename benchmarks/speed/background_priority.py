"""How long a page read waits for a core beside a CPU-bound background process.

The leaderboard scores entries and draws figures in background processes
(``leaderboard.intake.background_process``). This measures what their scheduling policy
costs a request, with nothing else of the service in the way: a foreground loop wakes every
``--period`` ms and does ``--work`` ms of CPU work (a cached list read is about 1 ms), while
a background process spins on the same core, at nice 10 (the first policy), nice 19 (the
policy now), or ``SCHED_IDLE`` with nice 19 (tried, and dropped: no better for reads, and it
starves scoring while other work keeps the cores busy), or is absent. The figure is the
delay per wake-up: elapsed time minus the sleep and the work. The variants take turns,
``--rounds`` times, so a load from elsewhere falls on each alike. Linux only.

Run: ``python -m benchmarks.speed.background_priority --seconds 5 --rounds 3``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from pathlib import Path

POLICIES = ("none", "nice10", "nice19", "idle")


def _spin(core: int, policy: str) -> None:
    """Spins on ``core`` forever at ``policy`` (the background process)."""
    os.sched_setaffinity(0, {core})
    if policy == "nice10":
        os.nice(10)
    elif policy == "nice19":
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    else:
        os.setpriority(os.PRIO_PROCESS, 0, 19)
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    x = 0
    while True:
        x += 1


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def measure(
    policy: str, seconds: float, period_ms: float, work_ms: float, core: int
) -> list[float]:
    """Returns the delays (ms) of the foreground's wake-ups beside a ``policy`` background."""
    spinner = None
    if policy != "none":
        spinner = multiprocessing.get_context("fork").Process(
            target=_spin, args=(core, policy), daemon=True
        )
        spinner.start()
        time.sleep(0.2)  # let it take the core
    delays = []
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            time.sleep(period_ms / 1000)
            _busy(work_ms / 1000)
            delays.append((time.perf_counter() - start) * 1000 - period_ms - work_ms)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.join()
    return delays


def _summary(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    return {
        "wakeups": len(ordered),
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "max_ms": ordered[-1],
    }


def main(argv: list[str] | None = None) -> int:
    """Runs every policy in turn and prints one line per policy (and JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="duration of one turn")
    p.add_argument("--rounds", type=int, default=3, help="turns of each policy")
    p.add_argument("--period", type=float, default=10.0, help="ms the foreground sleeps")
    p.add_argument("--work", type=float, default=1.0, help="ms of CPU work per wake-up")
    p.add_argument("--core", type=int, default=0, help="the core both run on")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    if not hasattr(os, "SCHED_IDLE"):
        raise SystemExit("SCHED_IDLE is Linux's: nothing to measure here")

    os.sched_setaffinity(0, {args.core})
    delays: dict[str, list[float]] = {policy: [] for policy in POLICIES}
    for _ in range(args.rounds):
        for policy in POLICIES:
            delays[policy] += measure(policy, args.seconds, args.period, args.work, args.core)
    out = {policy: _summary(d) for policy, d in delays.items()}
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    for policy, s in out.items():
        print(
            f"background {policy:6s}: {s['wakeups']} wake-ups, delay p50 {s['p50_ms']:.2f} ms, "
            f"p99 {s['p99_ms']:.2f} ms, max {s['max_ms']:.1f} ms"
        )
    print(f"load average after: {load}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

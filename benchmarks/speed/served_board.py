"""A leaderboard served in a subprocess and filled with made-up entries, to measure it.

The leaderboard is reached only through its command line (``mesa-bench leaderboard``) and
its HTTP API, as a client reaches it; ``benchmarks`` imports nothing from ``leaderboard``.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import IO

import httpx
import numpy as np

from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.registry import FAMILIES
from mesa_bench.results import (
    Checkpoint,
    MethodInfo,
    ResultsFile,
    RunRecord,
    SplitRecord,
    SuiteInfo,
    provenance,
)

CLI = [sys.executable, "-m", "mesa_bench.cli", "leaderboard"]


def made_up_results(name: str, skill: float, seeds: int = 3, n_trials: int = 8) -> ResultsFile:
    """Returns results of a made-up method ``name`` on bandit-v1 of ``mesa-v1-quick``.

    The references (``thompson``, ``random``) are the real ones on the public trials, as the
    leaderboard re-runs them; each seed's performance lies ``skill`` of the way from the
    floor to the score-1 reference, plus noise, so its normalized score is near ``skill``;
    the curve rises to it over 8 checkpoints and ``long-horizon`` scores a little lower.
    """
    budgets = sorted({int(b) for b in np.geomspace(10, 10_000, 8)})
    runs = []
    for seed in range(seeds):
        rng = np.random.default_rng([zlib.crc32(name.encode()), seed])
        noise = rng.normal(0, 3 / 60, n_trials)
        noise -= noise.mean()  # so the normalized score is the skill exactly
        splits = {}
        for split, drop in (("test", 0.0), ("long-horizon", 1 / 6)):
            refs = {ref: _reference(ref, seed, split, n_trials) for ref in ("thompson", "random")}
            floor, spread = (
                np.mean(refs["random"]),
                np.mean(refs["thompson"]) - np.mean(refs["random"]),
            )
            splits[split] = SplitRecord(
                n_trials=n_trials,
                performance=(floor + (skill - drop + noise) * spread).tolist(),
                references={ref: list(v) for ref, v in refs.items()},
                achieved={"base": (rng.random(n_trials) < skill - drop).tolist()},
            )
        test = splits["test"].references
        floor, spread = np.mean(test["random"]), np.mean(test["thompson"]) - np.mean(test["random"])
        curve = [
            Checkpoint(budget=b, performance=floor + spread * skill * (i + 1) / len(budgets))
            for i, b in enumerate(budgets)
        ]
        runs.append(
            RunRecord(
                family="bandit-v1",
                seed=seed,
                budget=budgets[-1],
                score_reference="thompson",
                floor_reference="random",
                curve=curve,
                splits=splits,
            )
        )
    return ResultsFile(
        suite=SuiteInfo(id="mesa-v1-quick", version=1),
        method=MethodInfo(name=name, version="1", description="made up for a load measurement"),
        provenance=provenance(),
        # each run's config, from which the leaderboard rebuilds the family to re-run its
        # references (and calibrate its match)
        config={"bundle": [{"task": {"name": "bandit"}, "seed": seed} for seed in range(seeds)]},
        runs=runs,
    )


@functools.lru_cache(maxsize=64)
def _reference(name: str, seed: int, split: str, n_trials: int) -> tuple[float, ...]:
    """Returns bandit-v1's reference ``name`` per trial on the public trials of ``split``."""
    family = FAMILIES.get("bandit")()
    outcome = run_split(family, reference_factory(family, name), split, n_trials, seed)
    return tuple(float(x) for x in outcome.performance)


def add_submitter(db: Path, name: str) -> str:
    """Returns the token of a new submitter ``name`` in ``db`` (``leaderboard add-submitter``),
    creating the database first (``leaderboard migrate``) where it does not exist."""
    if not db.exists():
        migrated = subprocess.run(
            [*CLI, "migrate", "--db", str(db)], capture_output=True, text=True
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrated.stderr.strip()}")
    done = subprocess.run(
        [*CLI, "add-submitter", name, "--db", str(db)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"add-submitter failed: {done.stderr.strip()}")
    return done.stdout.strip()


def fill(url: str, token: str, entries: int) -> float:
    """Submits ``entries`` made-up entries to the server at ``url``; returns seconds each."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60, headers=headers) as client:
        start = time.perf_counter()
        for i in range(entries):
            results = made_up_results(f"bench-{i:04d}", skill=0.2 + 0.6 * (i % 97) / 97)
            answer = client.post(url + "/api/v1/entries", content=results.model_dump_json())
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"entry {i} refused: {answer.status_code} {answer.text}")
        return (time.perf_counter() - start) / max(entries, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedBoard:
    """``mesa-bench leaderboard serve`` over ``db`` on 127.0.0.1, as a context manager."""

    def __init__(self, db: Path, timeout: float = 60.0):
        self.db = db
        self.timeout = timeout
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log: IO[bytes] | None = None

    def __enter__(self) -> ServedBoard:
        command = [*CLI, "serve", "--db", str(self.db), "--port", str(self.port)]
        # one token fills the board: its hourly submission allowance must not run out
        command += ["--per-hour", "1000000", "--burst", "100000"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # a file, not a pipe: the server logs every request, and a pipe nobody reads fills up
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + self.timeout
        with httpx.Client(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self.log.seek(0)
                    raise RuntimeError(f"server exited: {self.log.read()[-2000:].decode()}")
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"server did not answer within {self.timeout} s")

    def __exit__(self, *exc: object) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()

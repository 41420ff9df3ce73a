"""Synthetic results and a real server process, for the tests and ``leaderboard.bench``.

``make_results`` builds results files whose normalized scores are known exactly (the
tests check the recomputed metrics against them); :class:`Server` runs
``mesa-bench leaderboard serve`` in a subprocess on 127.0.0.1 over one SQLite file.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from mesa_bench.results import (
    Checkpoint,
    MatchPoint,
    MatchRecord,
    MethodInfo,
    Provenance,
    ResultsFile,
    RunRecord,
    SplitRecord,
    SuiteInfo,
)

PROVENANCE = Provenance(
    mesa_bench_version="0.1.0",
    git_commit="0" * 40,
    python="3.11.7",
    platform="test",
    packages={"numpy": "2"},
    created_at="2026-11-27T00:00:00+00:00",
)


def make_run(
    family: str,
    seed: int,
    *,
    skill: float = 0.7,
    n_trials: int = 16,
    budget: int = 10_000,
    proxy: bool = False,
    matched: str | None = None,
    tag: str = "",
) -> RunRecord:
    """Returns a synthetic run whose test score is exactly ``skill`` (up to noise-free means).

    References: ``good`` (score 1, mean 80) and ``floor`` (mean 20); performance per trial
    is ``20 + 60 * skill`` plus zero-mean noise, so the normalized score is ``skill``.
    The checkpoint ``score`` fields hold 999.0: the server must recompute, not read them.
    """
    digest = hashlib.sha256(f"{tag}|{family}|{seed}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    noise = rng.normal(0, 3, n_trials)
    noise -= noise.mean()
    ref = 80 + noise[::-1]
    floor = 20 + noise
    perf = 20 + 60 * skill + noise
    budgets = sorted({int(b) for b in np.geomspace(10, budget, 8)})
    curve = [
        Checkpoint(budget=b, performance=20 + 60 * skill * (i + 1) / len(budgets), score=999.0)
        for i, b in enumerate(budgets)
    ]
    splits = {
        "test": SplitRecord(
            n_trials=n_trials,
            performance=perf.tolist(),
            references={"good": ref.tolist(), "floor": floor.tolist()},
            achieved={"base": (rng.random(n_trials) < skill).tolist()},
        )
    }
    shifted = {"base": (rng.random(n_trials) < skill / 2).tolist()}
    if proxy:
        shifted["proxy:corner"] = (rng.random(n_trials) < 0.6).tolist()
    splits["goal-anywhere" if proxy else "long-horizon"] = SplitRecord(
        n_trials=n_trials,
        performance=(perf - 10).tolist(),
        references={"good": ref.tolist(), "floor": floor.tolist()},
        achieved=shifted,
    )
    matches = {}
    if matched is not None:
        eps = {"good": 0.1, "floor": 0.1, "other": 0.1}
        points = [
            MatchPoint(
                budget=b,
                distance={
                    k: (0.05 if k == matched and i >= len(budgets) // 2 else 0.5) for k in eps
                },
            )
            for i, b in enumerate(budgets)
        ]
        matches["test"] = MatchRecord(kind="rl", n_trials=n_trials, eps=eps, points=points)
    return RunRecord(
        family=family,
        seed=seed,
        budget=budget,
        score_reference="good",
        floor_reference="floor",
        parameter_count=1234,
        curve=curve,
        splits=splits,
        matches=matches,
    )


def make_results(
    method: str = "synthetic",
    version: str = "1",
    *,
    suite: tuple[str, int] = ("mesa-v1-quick", 1),
    families: Sequence[str] = ("bandit-v1", "maze-v1"),
    seeds: int = 3,
    skill: float = 0.7,
    description: str = "",
    code_url: str = "",
    matched: str | None = None,
    n_trials: int = 16,
) -> ResultsFile:
    """Returns a synthetic results bundle of one method on one suite."""
    runs = [
        make_run(
            fam,
            s,
            skill=skill + 0.02 * s,
            proxy=fam == "maze-v1",
            matched=matched,
            tag=f"{method}|{version}",
            n_trials=n_trials,
        )
        for fam in families
        for s in range(seeds)
    ]
    return ResultsFile(
        suite=SuiteInfo(id=suite[0], version=suite[1]),
        method=MethodInfo(name=method, version=version, description=description, code_url=code_url),
        provenance=PROVENANCE,
        config={"note": "synthetic"},
        runs=runs,
    )


def free_port() -> int:
    """Returns a port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A leaderboard server process on 127.0.0.1 over one SQLite file."""

    db: Path
    port: int = 0
    process: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        """Starts ``mesa-bench leaderboard serve`` and waits until it answers."""
        self.port = free_port()
        self.log = self.db.with_suffix(f".{self.port}.log")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mesa_bench.cli",
                    "leaderboard",
                    "serve",
                    "--db",
                    str(self.db),
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {timeout} s")

    def stop(self) -> None:
        """Stops the server process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def add_submitter(db: Path, name: str) -> str:
    """Returns the token of a new submitter, created through the store."""
    from leaderboard.store import Store

    store = Store(str(db))
    try:
        return store.add_submitter(name)
    finally:
        store.close()

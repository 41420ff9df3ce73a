"""A real leaderboard server process on 127.0.0.1, for the HTTP and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """Returns a port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A ``mesa-bench leaderboard serve`` process on 127.0.0.1 over one SQLite file."""

    db: Path
    port: int = 0
    process: subprocess.Popen | None = None
    log: Path | None = None
    args: tuple[str, ...] = ()  # further ``serve`` options

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        """Starts the server and waits until it answers; returns ``self``."""
        self.port = free_port()
        self.log = self.db.with_suffix(f".{self.port}.log")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "mesa_bench.cli", "leaderboard", "serve"]
        command += ["--db", str(self.db), "--port", str(self.port), *self.args]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
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

"""Scoring is background work: the processes that score and draw yield every core to reads,
and the write that stores an entry does not span its scoring."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from leaderboard import intake as intake_module
from leaderboard import references, scoring
from leaderboard.intake import Intake
from leaderboard.store import Store

from builders import make_results

linux_only = pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"),
    reason="per-thread priorities are Linux's",
)


def _priorities(pid: int) -> list[tuple[int, int]]:
    """Returns (scheduling policy, nice) of every thread of process ``pid``."""
    tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    return [(os.sched_getscheduler(t), os.getpriority(os.PRIO_PROCESS, t)) for t in tids]


# a thread started before the call, as NumPy's pools are, must be lowered as well
AFTER_BACKGROUND = """
import json, os, threading
from leaderboard.intake import background_process
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()
background_process()
tids = [int(t) for t in os.listdir("/proc/self/task")]
print(json.dumps([(os.sched_getscheduler(t), os.getpriority(os.PRIO_PROCESS, t)) for t in tids]))
stop.set()
"""


@linux_only
def test_background_process_puts_every_thread_at_nice_19():
    done = subprocess.run(
        [sys.executable, "-c", AFTER_BACKGROUND], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = [tuple(p) for p in json.loads(done.stdout)]
    assert len(seen) >= 2
    assert seen == [(os.SCHED_OTHER, 19)] * len(seen)
    assert intake_module.BACKGROUND_NICE == 19


@linux_only
def test_the_servers_scoring_process_runs_at_nice_19(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    intake = Intake(processes=True)
    intake.bind(store)
    try:
        body = make_results("background").model_dump_json().encode()
        row, created = asyncio.run(intake.accept(body, who))
        assert created and row.method_name == "background"
        workers = [p for p in multiprocessing.active_children() if p.is_alive()]
        assert workers
        for worker in workers:
            assert set(_priorities(worker.pid)) == {(os.SCHED_OTHER, 19)}, worker
        assert os.getpriority(os.PRIO_PROCESS, 0) == 0  # the server itself is untouched
    finally:
        intake.close()
        store.close()


def test_scoring_and_reference_runs_hold_no_write_lock(tmp_path, monkeypatch):
    path = tmp_path / "board.sqlite"
    store = Store(str(path))
    who = store.authenticate(store.add_submitter("alice"))
    writable: list[str] = []

    def while_working(name, work):
        def wrapped(*args, **kwargs):
            # another process may take the write lock at once while this one works
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                writable.append(name)
            finally:
                other.close()
            return work(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(scoring, "entry_metrics", while_working("scoring", scoring.entry_metrics))
    monkeypatch.setattr(
        references, "check_references", while_working("references", references.check_references)
    )
    try:
        _, created = store.submit(_checked(make_results("unlocked")), who)
    finally:
        store.close()
    assert created
    assert writable == ["references", "scoring"]


def _checked(results):
    from leaderboard.checks import check_results

    return check_results(results)


# a pool whose owner is then killed outright; prints the worker's pid
ORPHANED = """
import os, sys, time, multiprocessing
from concurrent.futures import ProcessPoolExecutor
from leaderboard.intake import background_worker
if __name__ == "__main__":
    pool = ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=background_worker
    )
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(600)
"""


@linux_only
def test_a_worker_ends_when_its_server_is_killed(tmp_path):
    script = tmp_path / "owner.py"
    script.write_text(ORPHANED)
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(owner.stdout.readline())
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False

"""The submission intake: a bounded queue of scoring jobs, apart from the page reads.

Checking and scoring an entry holds a CPU for up to a few seconds, so submissions run on
their own small executor instead of the thread pool that serves pages: however many are
sent, reads keep their threads. The server scores in worker processes, so a submission
does not even compete with reads for the interpreter; in-process use (tests, embedding)
scores on threads. The queue is bounded (jobs running plus waiting), and each submitter
may hold only a few of its places, so one token cannot fill it; a request that finds no
place is refused at once (503 or 429, with ``Retry-After``), before its body is read.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from leaderboard.checks import check_submission
from leaderboard.store import EntryRow, Store

DEFAULT_WORKERS = 1
DEFAULT_QUEUE = 8
DEFAULT_PER_SUBMITTER = 2
RETRY_AFTER_S = 10
BACKGROUND_NICE = 10


class Busy(Exception):
    """No place for this submission now; ``status`` is 503 (queue full) or 429 (too many)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def accept(body: bytes, submitter_id: int, store: Store | None = None) -> tuple[EntryRow, bool]:
    """Checks, claims (name, version, content: before scoring), scores and stores a body.

    ``store`` is None in a scoring process, which uses the store it opened at start.
    """
    return (store or _process_store).submit(check_submission(body), submitter_id)


_process_store: Store | None = None


def background_process() -> None:
    """Lowers this process's CPU priority: page reads win a busy core over scoring."""
    os.nice(BACKGROUND_NICE)


def _start_process(url: str) -> None:
    global _process_store
    background_process()
    _process_store = Store(url, migrate=False)
    from leaderboard import scoring  # noqa: F401  (SciPy loads here, not on the first entry)


def _ready() -> bool:
    return True


class Intake:
    """A bounded scoring queue with a per-submitter share.

    Args:
        workers: jobs scored at once (each takes one thread or process: one core).
        queue: places in all, running and waiting.
        per_submitter: places one submitter may hold at once.
        processes: score in worker processes (the server) instead of threads.
    """

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        queue: int = DEFAULT_QUEUE,
        per_submitter: int = DEFAULT_PER_SUBMITTER,
        processes: bool = False,
    ):
        if not 1 <= workers <= queue or per_submitter < 1:
            raise ValueError(
                f"need 1 <= workers <= queue and per_submitter >= 1 "
                f"(got workers={workers}, queue={queue}, per_submitter={per_submitter})"
            )
        self.workers, self.queue, self.per_submitter = workers, queue, per_submitter
        self.processes = processes
        self._store: Store | None = None
        self._executor: Executor | None = None
        self._held: Counter[int] = Counter()
        self._lock = threading.Lock()

    def bind(self, store: Store) -> None:
        """Starts the executor over ``store`` (processes open their own connection to it)."""
        self._store = store
        self._executor = self._start()

    def _start(self) -> Executor:
        if not self.processes:
            return ThreadPoolExecutor(self.workers, thread_name_prefix="scoring")
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_process,
            initargs=(self._store.url,),
        )
        executor.submit(_ready)  # starts a worker now, so the first entry does not wait
        return executor

    @contextmanager
    def place(self, submitter_id: int) -> Iterator[None]:
        """Holds one place for ``submitter_id`` while the block runs; raises Busy if none."""
        with self._lock:
            if self._held[submitter_id] >= self.per_submitter:
                raise Busy(
                    429,
                    f"this token already has {self.per_submitter} submissions in progress; "
                    "wait for them to finish",
                )
            if sum(self._held.values()) >= self.queue:
                raise Busy(503, "the scoring queue is full; try again shortly")
            self._held[submitter_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[submitter_id] -= 1
                if not self._held[submitter_id]:
                    del self._held[submitter_id]

    async def accept(self, body: bytes, submitter_id: int) -> tuple[EntryRow, bool]:
        """Returns :func:`accept` of the body, run on the scoring executor."""
        args = (body, submitter_id) if self.processes else (body, submitter_id, self._store)
        executor = self._executor
        try:
            return await asyncio.wrap_future(executor.submit(accept, *args))
        except BrokenProcessPool:
            # a worker died (killed for memory, say): later submissions get a fresh pool
            with self._lock:
                if self._executor is executor:
                    self._executor = self._start()
            raise Busy(503, "the scoring worker stopped; try again shortly") from None

    def held(self) -> int:
        """Returns the places in use."""
        with self._lock:
            return sum(self._held.values())

    def close(self) -> None:
        """Lets running jobs finish and stops the executor."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

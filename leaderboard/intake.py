"""The submission intake: a bounded queue of scoring jobs, apart from the page reads.

Checking and scoring an entry holds a CPU for up to a few seconds, so submissions run on
their own small executor instead of the thread pool that serves pages: however many are
sent, reads keep their threads. The server scores in worker processes, so a submission
does not even compete with reads for the interpreter; in-process use (tests, embedding)
scores on threads. The queue is bounded (jobs running plus waiting), and each submitter
may hold only a few of its places, so one token cannot fill it, and may send only so
many submissions an hour (a burst, then a steady rate), so one token cannot keep the
scorer busy either; a request refused any of these ways is refused at once (503 or 429,
with ``Retry-After``), before its body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import threading
import time
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
DEFAULT_PER_HOUR = 60
DEFAULT_BURST = 20
BACKGROUND_NICE = 19
PARENT_CHECK_S = 1.0


class Busy(Exception):
    """No place for this submission now; ``status`` is 503 (queue full) or 429 (too many)."""

    def __init__(self, status: int, message: str, retry_after_s: int = RETRY_AFTER_S):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


def accept(body: bytes, submitter_id: int, store: Store | None = None) -> tuple[EntryRow, bool]:
    """Checks, claims (name, version, content: before scoring), scores and stores a body.

    ``store`` is None in a scoring process, which uses the store it opened at start.
    """
    return (store or _process_store).submit(check_submission(body), submitter_id)


_process_store: Store | None = None


def process_store(store: Store | None = None) -> Store:
    """Returns ``store``, or in a scoring process the store it opened at start."""
    return store or _process_store


def background_process() -> None:
    """Makes this process background work: it runs on the CPU time that page reads leave.

    Every thread of the process (NumPy's pools included: Linux keeps priorities per thread)
    gets nice 19, a fifteenth of a nice-10 thread's weight, so a page read takes a busy core
    first. Not ``SCHED_IDLE``: it measured no better for reads here
    (``benchmarks/speed/background_priority.py``), and on a machine kept busy by other
    work (a training run beside the server, or beside the test suite) it let scoring
    starve for minutes, where nice 19 still gets its small share.
    """
    for thread in _threads():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.setpriority(os.PRIO_PROCESS, thread, BACKGROUND_NICE)


def background_worker() -> None:
    """Makes this pool worker background work (:func:`background_process`) that ends with
    the process that started it.

    A pool's workers each hold the write end of their own task pipe, so a worker whose
    server was killed never reads end-of-file and would wait forever; at low priority a
    server under load is killed more often (a stop that waits for its workers takes longer).
    """
    background_process()
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)  # nothing to hand back: whoever waited for this process is gone

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _threads() -> list[int]:
    """Returns the ids of this process's threads (Linux sets priorities per thread)."""
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except FileNotFoundError:
        return [0]  # no /proc: 0 is the calling process


def _start_process(url: str) -> None:
    global _process_store
    background_worker()
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
        per_hour: submissions one submitter may send an hour, once ``burst`` is spent.
        burst: submissions one submitter may send at once after a quiet while.
    """

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        queue: int = DEFAULT_QUEUE,
        per_submitter: int = DEFAULT_PER_SUBMITTER,
        processes: bool = False,
        per_hour: float = DEFAULT_PER_HOUR,
        burst: int = DEFAULT_BURST,
    ):
        if not 1 <= workers <= queue or per_submitter < 1 or per_hour <= 0 or burst < 1:
            raise ValueError(
                f"need 1 <= workers <= queue, per_submitter >= 1, per_hour > 0 and burst >= 1 "
                f"(got workers={workers}, queue={queue}, per_submitter={per_submitter}, "
                f"per_hour={per_hour}, burst={burst})"
            )
        self.workers, self.queue, self.per_submitter = workers, queue, per_submitter
        self.processes = processes
        self.per_hour, self.burst = per_hour, burst
        self._buckets: dict[int, tuple[float, float]] = {}  # submitter -> (allowance, time)
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
            self._spend(submitter_id)
            self._held[submitter_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[submitter_id] -= 1
                if not self._held[submitter_id]:
                    del self._held[submitter_id]

    def _spend(self, submitter_id: int) -> None:
        """Takes one submission from the submitter's allowance (a token bucket)."""
        now = time.monotonic()
        allowance, then = self._buckets.get(submitter_id, (float(self.burst), now))
        allowance = min(float(self.burst), allowance + (now - then) * self.per_hour / 3600)
        if allowance < 1:
            wait = math.ceil((1 - allowance) * 3600 / self.per_hour)
            self._buckets[submitter_id] = (allowance, now)
            raise Busy(
                429,
                f"this token sent its {self.burst} submissions and more; it may send "
                f"{self.per_hour:g} an hour: try again in {wait} s",
                wait,
            )
        self._buckets[submitter_id] = (allowance - 1, now)

    async def accept(self, body: bytes, submitter_id: int, job=accept) -> tuple[EntryRow, bool]:
        """Returns ``job`` (:func:`accept`, or another function of the same arguments at
        module level) of the body, run on the scoring executor."""
        args = (body, submitter_id) if self.processes else (body, submitter_id, self._store)
        executor = self._executor
        try:
            return await asyncio.wrap_future(executor.submit(job, *args))
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

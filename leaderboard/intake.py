"""The submission intake: a bounded queue of scoring jobs, apart from the page reads.

Checking and scoring an entry holds a CPU for up to a few seconds, so submissions run on
their own small executor instead of the thread pool that serves pages: however many are
sent, reads keep their threads. The queue is bounded (jobs running plus waiting), and
each submitter may hold only a few of its places, so one token cannot fill it; a request
that finds no place is refused at once (503 or 429, with ``Retry-After``), before its body
is read.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_WORKERS = 1
DEFAULT_QUEUE = 8
DEFAULT_PER_SUBMITTER = 2
RETRY_AFTER_S = 10


class Busy(Exception):
    """No place for this submission now; ``status`` is 503 (queue full) or 429 (too many)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Intake:
    """A bounded scoring queue with a per-submitter share.

    Args:
        workers: jobs scored at once (each takes one thread, so at most one core each).
        queue: places in all, running and waiting.
        per_submitter: places one submitter may hold at once.
    """

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        queue: int = DEFAULT_QUEUE,
        per_submitter: int = DEFAULT_PER_SUBMITTER,
    ):
        if not 1 <= workers <= queue or per_submitter < 1:
            raise ValueError(
                f"need 1 <= workers <= queue and per_submitter >= 1 "
                f"(got workers={workers}, queue={queue}, per_submitter={per_submitter})"
            )
        self.queue, self.per_submitter = queue, per_submitter
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="scoring")
        self._held: Counter[int] = Counter()
        self._lock = threading.Lock()

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

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Returns ``fn(*args)``, run on the scoring executor."""
        return await asyncio.wrap_future(self._executor.submit(fn, *args))

    def held(self) -> int:
        """Returns the places in use."""
        with self._lock:
            return sum(self._held.values())

    def close(self) -> None:
        """Lets running jobs finish and stops the executor."""
        self._executor.shutdown(wait=True, cancel_futures=True)

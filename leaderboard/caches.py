"""The service's in-process caches: table pages, parsed results files, figure renders.

Each is bounded: pages by count, parsed results by an estimate of their memory, and
figures are kept in the database, rendered at most once per key at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from fastapi.responses import Response

from leaderboard import figures
from leaderboard.store import Store
from mesa_bench.results import ResultsFile, parse_results

LOG = logging.getLogger("leaderboard")
# Parsed results hold about 21 bytes of Python objects per byte of their JSON (measured:
# 203 MB for a 9.7 MB file), so the cache budgets by that estimate, not by count.
PARSED_BYTES_PER_JSON_BYTE = 21
RESULTS_CACHE_BYTES = 256 * 1024 * 1024
FAILURE_TTL_S = 60.0


class PageCache:
    """Rendered table pages and listings, reused until the board's generation changes.

    Keys are built by the caller from validated, known parameters only, so unknown or
    repeated query parameters neither bypass the cache nor share an entry wrongly. Every
    write bumps the generation in the database, so a cached page is never served after
    a change, whichever process made it; a hit costs one small query.
    """

    def __init__(self, store: Store, size: int = 256):
        self.store, self.size = store, size
        self._items: OrderedDict[Hashable, tuple[int, bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Response]) -> Response:
        """Returns the cached response under ``key``, or ``make()``'s (cached when 200)."""
        generation = self.store.generation()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] == generation:
                self._items.move_to_end(key)
                return Response(hit[1], media_type=hit[2])
        response = make()
        if response.status_code == 200:
            with self._lock:
                self._items[key] = (generation, bytes(response.body), response.media_type)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return response

    def __len__(self) -> int:
        return len(self._items)


class ResultsCache:
    """Parsed results of recently viewed entries (for their provenance and raw fields).

    Bounded by the estimated memory of what it holds; an entry too large for the whole
    budget is parsed for its request and not kept. Entries never change, so a cached one
    is never stale. Metrics come from the stored summary, never from these.
    """

    def __init__(self, store: Store, budget_bytes: int = RESULTS_CACHE_BYTES):
        self.store, self.budget_bytes = store, budget_bytes
        self._items: OrderedDict[int, tuple[ResultsFile, int]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, entry_id: int) -> ResultsFile | None:
        """Returns the parsed results of entry ``entry_id``, or None when there is none."""
        with self._lock:
            if entry_id in self._items:
                self._items.move_to_end(entry_id)
                return self._items[entry_id][0]
        text = self.store.results_json(entry_id)
        if text is None:
            return None
        results = parse_results(text, f"entry {entry_id}")
        cost = len(text) * PARSED_BYTES_PER_JSON_BYTE
        if cost > self.budget_bytes:
            return results
        with self._lock:
            if entry_id not in self._items:
                self._items[entry_id] = (results, cost)
                self._held += cost
            while self._held > self.budget_bytes:
                _, (_, freed) = self._items.popitem(last=False)
                self._held -= freed
        return results

    def held_bytes(self) -> int:
        """Returns the estimated memory of the cached results."""
        with self._lock:
            return self._held


class FigureFailed(Exception):
    """A figure that could not be drawn; the failure is remembered for a while."""


class FigureRenders:
    """Figures of entries: from the database, else rendered once per key and stored.

    Concurrent requests for one figure wait for a single render and then read it; a
    failed render is remembered for ``failure_ttl_s`` so it is not retried on every view.
    matplotlib's font cache is not thread-safe, so renders of different figures still
    take turns. With ``pool`` (the server's: one process), renders run there, so drawing
    does not compete with page reads for the interpreter.
    """

    def __init__(
        self, store: Store, failure_ttl_s: float = FAILURE_TTL_S, pool: Executor | None = None
    ):
        self.store, self.failure_ttl_s, self.pool = store, failure_ttl_s, pool
        self._render_lock = threading.Lock()
        self._guard = threading.Lock()
        self._locks: dict[tuple, list] = {}  # key -> [lock, waiters]
        self._failures: dict[tuple, tuple[float, str]] = {}

    def get(self, entry_id: int, name: str, family: str, summary: dict[str, Any]) -> bytes:
        """Returns figure ``name`` of an entry whose metrics are ``summary``.

        Raises:
            FigureFailed: the figure could not be drawn (now, or within the last while).
        """
        key = (entry_id, name, family)
        png = self.store.figure(entry_id, name, family)
        if png is not None:
            return png
        self._raise_recent_failure(key)
        with self._key_lock(key):
            png = self.store.figure(entry_id, name, family)  # drawn while we waited?
            if png is not None:
                return png
            self._raise_recent_failure(key)
            try:
                with self._render_lock:
                    if self.pool is None:
                        png = figures.render(name, summary, family or None)
                    else:
                        png = self.pool.submit(figures.render, name, summary, family or None)
                        png = png.result()
            except Exception as e:
                message = f"figure {name} of entry {entry_id} could not be drawn"
                LOG.error("%s: %s: %s", message, type(e).__name__, e)
                with self._guard:
                    self._failures[key] = (time.monotonic() + self.failure_ttl_s, message)
                raise FigureFailed(message) from e
            self.store.save_figure(entry_id, name, family, png)
        return png

    def _raise_recent_failure(self, key: tuple) -> None:
        with self._guard:
            failure = self._failures.get(key)
            if failure is None:
                return
            if failure[0] <= time.monotonic():
                del self._failures[key]
                return
        raise FigureFailed(failure[1])

    @contextmanager
    def _key_lock(self, key: tuple) -> Iterator[None]:
        with self._guard:
            slot = self._locks.setdefault(key, [threading.Lock(), 0])
            slot[1] += 1
        try:
            with slot[0]:
                yield
        finally:
            with self._guard:
                slot[1] -= 1
                if not slot[1]:
                    del self._locks[key]

"""The total deadline of a request while no body streams yet: connect, TLS, status line, headers.

Socket timeouts bound each read, not their sum, so a server sending one header byte just inside
the read timeout could hold a worker for ever. A `ConnectionWatch` learns which pooled connection
the current thread took (the guarded pool tells it) and, when the request's deadline passes
before the headers are in, shuts that connection's socket down: the blocked read returns at once
and the request fails. One timer thread serves every watch of the process.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

COMPACT_EVERY = 1024  # drop finished watches from the timer heap every this many requests


class Watched:
    """One request under watch: the connection it uses, and whether its deadline cut it."""

    def __init__(self, when: float) -> None:
        self.when = when  # time.monotonic() of the deadline
        self.connection: Any = None
        self.cut = False
        self.done = False
        self._lock = threading.Lock()

    def expire(self) -> None:
        """Shut the connection's socket down, unless the request finished first."""
        with self._lock:
            if self.done:
                return
            self.cut = True
            sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self.connection = None


class _Timers:
    """A single daemon thread firing `Watched.expire` at each watch's deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watched]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, when: float, watched: Watched) -> None:
        with self._wake:
            order = next(self._order)
            if order % COMPACT_EVERY == 0:  # most requests finish long before their deadline
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            earliest = not self._heap or when < self._heap[0][0]
            heapq.heappush(self._heap, (when, order, watched))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
                self._thread.start()
            if earliest:  # else the thread already sleeps until an earlier deadline
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].done:  # finished in time: forget it
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                when, _, watched = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
            watched.expire()


_TIMERS = _Timers()


class ConnectionWatch:
    """Cuts a request's connection when its deadline passes (see the module docstring)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def taken(self, connection: Any) -> None:
        """The pool gave this thread `connection` (called by the guarded pool)."""
        watched = getattr(self._local, "watched", None)
        if watched is not None:
            watched.connection = connection

    def remaining(self) -> float | None:
        """Seconds left before this thread's deadline (None outside a `deadline` block)."""
        watched = getattr(self._local, "watched", None)
        return None if watched is None else watched.when - time.monotonic()

    def connected(self, connection: Any) -> None:
        """`connection` has its socket now: if the deadline passed while it had none (slow DNS,
        a slow connect), the timer found nothing to cut, so cut it here."""
        watched = getattr(self._local, "watched", None)
        if watched is not None and watched.connection is connection and watched.cut:
            watched.expire()

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[Watched]:
        """Watch the requests this thread sends inside the block for `seconds`."""
        watched = Watched(time.monotonic() + seconds)
        self._local.watched = watched
        _TIMERS.add(watched.when, watched)
        try:
            yield watched
        finally:
            watched.finish()
            self._local.watched = None

"""A target that records what it was given, for exactly-once checks across workers."""

from __future__ import annotations

import threading
import time
from collections import Counter

from feedrelay.items import Entry
from publish.base import Archive


class CountingTarget:
    """Counts deliveries per (story, revision) and overlapping `flush` calls."""

    def __init__(self, name: str = "counter", *, flush_seconds: float = 0.0) -> None:
        self.name = name
        self.delivered: Counter[tuple[int, int]] = Counter()
        self.flushes = 0
        self.max_concurrent_flushes = 0
        self.flush_seconds = flush_seconds
        self.on_deliver = lambda entry: None
        self._flushing = 0
        self._lock = threading.Lock()

    def deliver(self, entry: Entry, remote_ref: str | None) -> str | None:
        self.on_deliver(entry)
        with self._lock:
            self.delivered[(entry.story_id, entry.revision)] += 1
        return remote_ref or f"counted-{entry.story_id}"

    def flush(self, archive: Archive) -> None:
        with self._lock:
            self._flushing += 1
            self.flushes += 1
            self.max_concurrent_flushes = max(self.max_concurrent_flushes, self._flushing)
        time.sleep(self.flush_seconds)
        with self._lock:
            self._flushing -= 1


class LocalCountingTarget(CountingTarget):
    """A `CountingTarget` declared local: the delivery loop prepares and records it in batches."""

    local = True

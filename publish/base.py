"""The one small interface every target implements, and the errors it may raise."""

from __future__ import annotations

from typing import Protocol

from feedrelay.items import Entry, utcnow
from ingest.fetch import parse_retry_after


class Archive(Protocol):
    """Read access to what a target has been given, newest first (for file targets)."""

    def count(self) -> int:
        """How many live (not retracted) stories the target holds."""
        ...

    def entries(self, limit: int, offset: int = 0) -> list[Entry]:
        """Live entries, newest `updated` first."""
        ...

    def versions(self, limit: int, offset: int = 0) -> list[tuple[int, int]]:
        """(story id, revision) of the same entries, cheaply: lets a target skip unchanged pages."""
        ...


class Target(Protocol):
    """A place stories are republished to.

    `deliver` sends one story revision (a retracted one means: take it down) and returns the
    remote reference (post id, file name, delivery id) to store. `remote_ref` is what an
    earlier delivery of the same story returned, or None for a first delivery. It must be
    idempotent: delivering the same revision twice must not create a second copy.
    `flush` runs after a batch; file targets render their files there. A target with a true
    `ordered` attribute (webhooks) gets its deliveries strictly in outbox order: one that fails
    holds back the later ones until it succeeds. A target with a true `local` attribute (files on
    this machine) has no remote side effect: its deliveries are prepared and recorded in batches.
    """

    name: str

    def deliver(self, entry: Entry, remote_ref: str | None) -> str | None: ...

    def flush(self, archive: Archive) -> None: ...


class TargetError(Exception):
    """A delivery failed. `retry`: try again later with backoff; `pause`: stop this target
    (e.g. bad credentials, an overloaded site) for a while; `gone`: the remote copy was deleted;
    `retry_after`: seconds the remote side asked us to wait (Retry-After), instead of the backoff
    or the default pause."""

    def __init__(self, message: str, *, retry: bool = True, pause: bool = False, gone: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.pause = pause
        self.gone = gone
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, default: float | None = None) -> float | None:
    """A Retry-After header (read by `ingest.fetch.parse_retry_after`) as seconds from now, bounded
    to a day; `default` when there is none or it can't be read."""
    now = utcnow()
    at = parse_retry_after(value, now)
    if at is None:
        return default
    return min(max((at - now).total_seconds(), 1.0), 86400.0)

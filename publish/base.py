"""The one small interface every target implements, and the errors it may raise."""

from __future__ import annotations

from typing import Protocol

from feedrelay.items import Entry


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
    (e.g. bad credentials) until the operator fixes it; `gone`: the remote copy was deleted."""

    def __init__(self, message: str, *, retry: bool = True, pause: bool = False, gone: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
        self.pause = pause
        self.gone = gone

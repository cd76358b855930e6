"""The common poll that brings nothing (304, or the same body again), written cheaply.

Nine polls in ten end like this, so they skip the ORM: the feed's state is read with one Core
SELECT, and the result is one Core UPDATE of the row (schedule, validators, status, lease). The
daemon and full passes hand these updates to a `QuietWriter`, which commits them in batches
(group commit): one SQLite transaction for many feeds instead of one each. A batch lost in a
crash only means those feeds are polled again (conditionally) once their lease expires.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from store import models
from store.models import UTCDateTime
from store.retry import run_transaction

log = logging.getLogger("feedrelay.pipeline")
Feed = models.Feed.__table__


@dataclass(frozen=True, slots=True)
class StoredState:
    """What a poll needs from the feed's row before fetching."""

    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    interval_s: int | None


def read_state(session: Session, name: str) -> StoredState:
    """The feed's URL, validators and remembered interval (one Core SELECT)."""
    row = session.execute(
        select(Feed.c.url, Feed.c.etag, Feed.c.last_modified, Feed.c.body_hash, Feed.c.interval_s)
        .where(Feed.c.name == name)
    ).one()
    return StoredState(*row)


def read_states(session: Session, names: list[str], chunk: int = 500) -> dict[str, StoredState]:
    """`read_state` for many feeds at once (a full pass reads them all up front)."""
    states: dict[str, StoredState] = {}
    for start in range(0, len(names), chunk):
        rows = session.execute(
            select(Feed.c.name, Feed.c.url, Feed.c.etag, Feed.c.last_modified, Feed.c.body_hash, Feed.c.interval_s)
            .where(Feed.c.name.in_(names[start:start + chunk]))
        )
        states.update((name, StoredState(*rest)) for name, *rest in rows)
    return states


def _quiet_update() -> Any:
    owner = bindparam("b_owner", type_=String)
    released = case((Feed.c.lease_owner == owner, None), else_=Feed.c.lease_owner)
    until = case((Feed.c.lease_owner == owner, None), else_=Feed.c.lease_until)
    # Validators are kept only under the rules the row was synced to: a poll that began under
    # rules a reload (or another worker's config) has since replaced must not bring back the
    # validators `Relay.sync_feeds` cleared, or the document would never be fetched in full again.
    same_rules = or_(Feed.c.rules_hash.is_(None), Feed.c.rules_hash == bindparam("b_rules", type_=String))

    def validator(column: Any, name: str) -> Any:
        return case((same_rules, func.coalesce(bindparam(name, type_=Text), column)), else_=None)

    return (
        update(Feed)
        .where(Feed.c.name == bindparam("b_name", type_=String))
        .values(
            last_checked_at=bindparam("b_now", type_=UTCDateTime),
            last_success_at=bindparam("b_now", type_=UTCDateTime),
            last_outcome=bindparam("b_outcome", type_=String),
            last_http_status=bindparam("b_status", type_=Integer),
            warnings=bindparam("b_warnings", type_=JSON),
            error_count=0,
            last_error=None,
            last_new_items=0,
            etag=validator(Feed.c.etag, "b_etag"),
            last_modified=validator(Feed.c.last_modified, "b_last_modified"),
            body_hash=validator(Feed.c.body_hash, "b_body_hash"),
            next_check_at=bindparam("b_next", type_=UTCDateTime),
            lease_until=until,
            lease_owner=released,
        )
    )


QUIET_UPDATE = _quiet_update()


def quiet_values(name: str, owner: str, now: datetime, next_check_at: datetime, *, outcome: str,
                 status: int | None, warnings: list[str], etag: str | None, last_modified: str | None,
                 body_hash: str | None, rules: str) -> dict[str, Any]:
    """The parameters of one feed's quiet update (`rules`: the hash of the rules it was polled under)."""
    return {"b_name": name, "b_owner": owner, "b_now": now, "b_next": next_check_at, "b_outcome": outcome,
            "b_status": status, "b_warnings": warnings or None, "b_etag": etag,
            "b_last_modified": last_modified, "b_body_hash": body_hash, "b_rules": rules}


def write_quiet(sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    """Apply quiet updates in one transaction (executemany)."""
    if rows:
        run_transaction(sessions, lambda session: session.connection().execute(QUIET_UPDATE, rows))


class QuietWriter:
    """Collects quiet updates and commits them in batches: when `batch` are waiting, or `delay` after
    the first one, or on `flush`/`close`."""

    def __init__(self, sessions: sessionmaker[Session], *, batch: int = 200, delay: float = 0.5) -> None:
        self.sessions, self.batch, self.delay = sessions, batch, delay
        self.pending: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="quiet-writer", daemon=True)
        self.thread.start()

    def add(self, values: dict[str, Any]) -> None:
        with self.lock:
            self.pending.append(values)
            full = len(self.pending) >= self.batch
        if full:
            self.flush()
        else:
            self.wake.set()

    def flush(self) -> None:
        """Commit everything waiting now."""
        with self.lock:
            rows, self.pending = self.pending, []
        try:
            write_quiet(self.sessions, rows)
        except Exception:  # database down: those feeds are polled again when their leases expire
            log.exception("could not record %d unchanged polls", len(rows))

    def close(self) -> None:
        self.closed = True
        self.wake.set()
        self.thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self.closed:
            self.wake.wait()
            self.wake.clear()
            if not self.closed:
                time.sleep(self.delay)
                self.flush()

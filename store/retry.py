"""Running a unit of work as one transaction, retried when the database asks for it.

A transaction that fails with a serialization failure, a deadlock, a unique-key race, a busy
SQLite file, a dropped connection or a server that cannot be reached (restarting) is rolled back
as a whole and run again from the start in a fresh session (the pool's pre-ping replaces dead
connections). So the work is applied entirely or not at all; it must therefore touch nothing
outside the database.

On SQLite the transactions of one process take turns on a lock: SQLite has a single writer,
and a thread waiting in its busy handler sleeps in growing steps even after the file is free,
while a lock hands over at once.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("feedrelay.store")
T = TypeVar("T")

# PostgreSQL SQLSTATEs worth a retry: serialization failure, deadlock, unique violation (a
# concurrent insert won), admin shutdown / crash shutdown / cannot connect now (a restart).
RETRY_SQLSTATES = frozenset({"40001", "40P01", "23505", "57P01", "57P02", "57P03"})
SQLITE_BUSY = ("database is locked", "database table is locked")
_SQLITE_TURNS: WeakKeyDictionary[Engine, threading.RLock] = WeakKeyDictionary()
_TURNS_LOCK = threading.Lock()


def is_retryable(exc: BaseException) -> bool:
    """True if running the whole transaction again may succeed."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate and (sqlstate in RETRY_SQLSTATES or sqlstate.startswith("08")):
        return True
    psycopg = sys.modules.get("psycopg")  # imported only when a PostgreSQL URL is used
    if sqlstate is None and psycopg is not None and isinstance(exc.orig, psycopg.OperationalError):
        # libpq could not connect (refused, server shutting down or starting up) or lost the
        # connection: no SQLSTATE reaches us, but it is a connection exception (class 08).
        return True
    return any(text in str(exc.orig) for text in SQLITE_BUSY)


def run_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T], *,
                    attempts: int = 8, delay: float = 0.05) -> T:
    """Run `work(session)` in a transaction and commit; on a retryable error, start over.

    Waits grow exponentially (with jitter) between attempts; the last error is raised.
    """
    def attempt() -> T:
        with _turn(sessions), sessions.begin() as session:
            return work(session)

    return retrying(attempt, attempts=attempts, delay=delay)


def retrying(work: Callable[[], T], *, attempts: int = 8, delay: float = 0.05) -> T:
    """Call `work()` (which must apply all or nothing); on a retryable database error, call it
    again after a growing, jittered wait; the last error is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            wait = delay * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            log.warning("transaction failed (%s), retry %d/%d in %.2fs", _brief(exc), attempt,
                        attempts - 1, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _turn(sessions: sessionmaker[Session]) -> AbstractContextManager[object]:
    """This process's SQLite lock for the engine of `sessions` (re-entrant); nothing elsewhere."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return nullcontext()
    with _TURNS_LOCK:
        lock = _SQLITE_TURNS.get(engine)
        if lock is None:
            lock = _SQLITE_TURNS[engine] = threading.RLock()
    return lock


def _brief(exc: DBAPIError) -> str:
    return f"{type(exc.orig).__name__}: {str(exc.orig).strip().splitlines()[0] if str(exc.orig) else ''}"

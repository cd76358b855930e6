"""Running a unit of work as one transaction, retried when the database asks for it.

A transaction that fails with a serialization failure, a deadlock, a unique-key race, a busy
SQLite file, a dropped connection or a server that cannot be reached (restarting) is rolled back
as a whole and run again from the start in a fresh session (the pool's pre-ping replaces dead
connections). So the work is applied entirely or not at all; it must therefore touch nothing
outside the database.

On SQLite every transaction takes its turn: the threads of one process on a lock, and the
processes sharing a database file (a daemon's worker processes, `feedrelay fetch` beside a
daemon) on an exclusive `flock` of `<file>-turn`. SQLite has a single writer, and a thread waiting
in its busy handler sleeps in growing steps even after the file is free, while a lock hands over
at once. Taking turns also makes each unit of work atomic across processes: Python's sqlite3
begins a transaction only at the first write, so without turns the reads before it could see a
state another process changes before the write (two processes each finding no story for one
article would make two).
"""

from __future__ import annotations

import fcntl
import logging
import os
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
_SQLITE_TURNS: WeakKeyDictionary[Engine, _Turn] = WeakKeyDictionary()
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


class _Turn:
    """One SQLite database's turn: a re-entrant lock for this process's threads and, for a file,
    an exclusive `flock` of `<file>-turn` for the processes using it, taken by a transaction (the
    outermost one) and released at its end."""

    def __init__(self, path: str | None) -> None:
        self.lock = threading.RLock()
        self.path = path
        self.fd: int | None = None
        self.transactions = 0  # nested transactions of the thread holding the lock

    def __del__(self) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def __enter__(self) -> None:
        self.lock.acquire()
        if not self.transactions and (fd := self._file()) is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        self.transactions += 1

    def __exit__(self, *exc: object) -> None:
        self.transactions -= 1
        if not self.transactions and self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.lock.release()

    def _file(self) -> int | None:
        if self.fd is None and self.path is not None:
            try:  # read-only is enough for flock: another user's file works too
                self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                log.warning("cannot open %s (%s): this process's transactions do not take turns with other "
                            "processes on the database (run feedrelay as the user owning its directory)",
                            self.path, exc)
                self.path = None
        return self.fd


def turn_file(engine: Engine) -> str | None:
    """The file the processes using SQLite database `engine` take turns on (None in memory)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{os.path.realpath(database)}-turn"


def _sqlite_turn(sessions: sessionmaker[Session]) -> _Turn | None:
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return None
    with _TURNS_LOCK:
        turn = _SQLITE_TURNS.get(engine)
        if turn is None:
            turn = _SQLITE_TURNS[engine] = _Turn(turn_file(engine))
    return turn


def _turn(sessions: sessionmaker[Session]) -> AbstractContextManager[object]:
    """A transaction's SQLite turn on the engine of `sessions`; nothing for other databases."""
    return _sqlite_turn(sessions) or nullcontext()


def process_turn(sessions: sessionmaker[Session]) -> AbstractContextManager[object]:
    """Hold this process's SQLite turn (nothing for other databases) across several steps, e.g.
    cleaning a feed's items and then storing them: the process's other threads wait, as they would
    for one transaction, but other processes keep the database until a transaction inside begins."""
    turn = _sqlite_turn(sessions)
    return turn.lock if turn is not None else nullcontext()


def _brief(exc: DBAPIError) -> str:
    return f"{type(exc.orig).__name__}: {str(exc.orig).strip().splitlines()[0] if str(exc.orig) else ''}"

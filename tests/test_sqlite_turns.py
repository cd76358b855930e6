"""SQLite: the transactions of one process take turns instead of colliding in SQLite's lock
(where a waiting thread sleeps in growing steps even after the file is free)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import models
from store.db import open_database
from store.retry import run_transaction
from tests.support.threads import run_threads

THREADS = 6
ROUNDS = 10


def test_transactions_of_one_process_take_turns(tmp_path: Path) -> None:
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    inside, most, guard = [0], [0], threading.Lock()

    def add_feed(session: Session, thread: int, round_: int) -> None:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            url = f"https://site{thread}.example/{round_}/feed/"
            session.add(models.Feed(name=f"t{thread}-{round_}", url=url, config_url=url, enabled=True,
                                    error_count=0, last_new_items=0, guid_mode="guid"))
            session.flush()
            time.sleep(0.002)  # a transaction doing some work: others would arrive meanwhile
        finally:
            with guard:
                inside[0] -= 1

    def worker(thread: int) -> None:
        for round_ in range(ROUNDS):
            run_transaction(sessions, lambda session, r=round_: add_feed(session, thread, r))
            # a nested transaction in the same thread (a retry helper calling another) still runs
            run_transaction(sessions, lambda session: run_transaction(
                sessions, lambda inner: inner.scalar(select(func.count()).select_from(models.Feed))))

    run_threads(THREADS, worker)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Feed)) == THREADS * ROUNDS
    assert most[0] == 1
    engine.dispose()

"""SQLite: the transactions of one process, and of the processes sharing the file, take turns
instead of colliding in SQLite's lock (where a waiting thread sleeps in growing steps even after
the file is free); a unit of work is atomic across processes."""

from __future__ import annotations

import multiprocessing
import os
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


def _check_then_insert(database: str, start: float, rounds: int) -> None:
    """In each round, add the feed titled `round-N` unless a transaction of any process already did."""
    engine, sessions = open_database(database, upgrade=False)

    def add_once(session: Session, round_: int) -> None:
        title = f"round-{round_}"
        if session.scalar(select(func.count()).select_from(models.Feed).where(models.Feed.title == title)):
            return
        time.sleep(0.002)  # the window another process's transaction would use
        url = f"https://site.example/{os.getpid()}/{round_}"
        session.add(models.Feed(name=f"{os.getpid()}-{round_}", url=url, config_url=url, title=title, enabled=True,
                                error_count=0, last_new_items=0, guid_mode="guid"))

    time.sleep(max(0.0, start - time.time()))
    for round_ in range(rounds):
        run_transaction(sessions, lambda session, r=round_: add_once(session, r))
    engine.dispose()


def test_processes_sharing_the_file_take_turns_too(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    open_database(database)[0].dispose()
    spawn = multiprocessing.get_context("spawn")
    start = time.time() + 3  # after both have imported
    processes = [spawn.Process(target=_check_then_insert, args=(database, start, 150)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    engine, sessions = open_database(database)
    with sessions() as session:
        titles = session.scalars(select(models.Feed.title)).all()
    engine.dispose()
    assert len(titles) == 150 and len(set(titles)) == 150  # no round added twice
    assert (tmp_path / "db.sqlite-turn").exists()

"""A PostgreSQL server restart in the middle of a run of `feedrelay run` workers.

The shared server must never be restarted, so this test starts a private one
(`tests/support/pgcluster.py`). Three workers poll a farm of syndicated feeds; the server is
restarted (`pg_ctl restart -m fast`) while they ingest, and stopped for a while and started again
while they deliver. The workers reconnect (pool pre-ping), transactions the restart broke are
retried whole, and afterwards every item is stored once, every story revision reached the webhook
once, no worker died, no poll or job failed, and every worker went on working after the faults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import utcnow
from store import models
from store.db import open_database
from store.retry import run_transaction
from tests.support.chaos import check_deliveries, check_store, run_cycle, slow_hook
from tests.support.cluster import Cluster, wait_for
from tests.support.farm import Farm
from tests.support.pgcluster import PrivateCluster, pg_cluster  # noqa: F401
from tests.support.server import LocalServer

pytestmark = pytest.mark.slow
WORKERS = 3
OUTAGE = 1.0  # seconds the server stays down during delivery (within run_transaction's retries)


def polled(sessions: sessionmaker[Session]) -> int:
    """Feeds polled at least once."""
    with sessions() as session:
        return session.scalar(select(func.count()).where(models.Feed.last_checked_at.is_not(None))) or 0


def test_a_transaction_waits_out_a_server_restart(pg_cluster: PrivateCluster) -> None:  # noqa: F811
    engine, sessions = open_database(pg_cluster.create_database("retry"))
    attempts: list[int] = []
    restart = threading.Timer(0.5, pg_cluster.start)

    def work(session: Session) -> int:
        attempts.append(1)
        session.add(models.Lease(name=f"attempt-{len(attempts)}", owner="w", until=utcnow()))
        session.flush()
        if len(attempts) == 1:  # the server goes down under the open transaction
            pg_cluster.stop("fast")
            restart.start()
        return int(session.execute(text("SELECT count(*) FROM leases")).scalar_one())

    try:
        assert run_transaction(sessions, work) == 1
        assert len(attempts) >= 3  # cut off, then refused while the server was down, then through
        with sessions() as session:  # the cut-off attempt left nothing behind
            names = list(session.scalars(select(models.Lease.name)))
        assert names == [f"attempt-{len(attempts)}"]
    finally:
        if restart.is_alive():  # `pg_ctl start` may still be waiting: the teardown must not stop it meanwhile
            restart.join(120)
        engine.dispose()


def test_workers_survive_a_postgresql_restart_mid_run(pg_cluster: PrivateCluster,  # noqa: F811
                                                       tmp_path: Path) -> None:
    url = pg_cluster.create_database("feedrelay")
    with LocalServer() as server:
        farm = Farm(server, origins=30, aggregators=60)
        slow_hook(farm, 0.02)
        server.hold = 0.03  # feeds take a moment to serve, so the restart lands mid-ingest
        config = tmp_path / "config.yaml"
        config.write_text(farm.config(url, workers=4, per_host=16, lease="5s"))
        cluster = Cluster(config, tmp_path)
        engine, sessions = open_database(url)
        feeds = len(farm.feeds)
        seen: dict[str, int] = {}
        log_marks: dict[int, int] = {}

        def restart_mid_ingest() -> None:  # during the first poll of every feed
            wait_for(lambda: polled(sessions) >= 10, 60, "ingest to start", explain=cluster.logs)
            seen["polled at restart"] = polled(sessions)
            pid = pg_cluster.server_pid()
            pg_cluster.restart("fast")
            assert pg_cluster.server_pid() != pid

        def outage_mid_delivery() -> None:
            posts = len(farm.hook_posts)
            wait_for(lambda: len(farm.hook_posts) >= posts + 5, 60, "deliveries to start", explain=cluster.logs)
            engine.dispose()  # the test's own connections go down with the server
            pg_cluster.stop("fast")
            seen["posts at outage"] = len(farm.hook_posts) - posts
            time.sleep(OUTAGE)
            pg_cluster.start()
            log_marks.update({slot: path.stat().st_size for slot, path in cluster.logfiles.items()})

        def cycle(during: Callable[[], None] = lambda: None) -> None:
            run_cycle(farm, cluster, sessions, during=during, timeout=120)

        try:
            farm.advance(new_per_origin=2)
            for slot in range(WORKERS):
                cluster.start(slot)
            cycle(restart_mid_ingest)
            assert 10 <= seen["polled at restart"] < feeds  # the restart came in the middle of ingest
            posts_before = len(farm.hook_posts)
            farm.advance(new_per_origin=2, updates=5)
            cycle(outage_mid_delivery)
            assert len(farm.hook_posts) - posts_before > seen["posts at outage"]  # delivery went on after it
            farm.advance(new_per_origin=1, updates=3)
            cycle()  # a whole cycle after the faults
            assert cluster.alive(), cluster.logs()
        finally:
            codes = cluster.stop()
            engine.dispose()
        assert codes == [0] * WORKERS, cluster.logs()

        logs = {slot: path.read_text(errors="replace") for slot, path in cluster.logfiles.items()}
        retried = sum(text.count("transaction failed") for text in logs.values())
        assert retried > 0  # the faults hit transactions, which were run again
        for slot, text in logs.items():
            assert "Traceback" not in text, text[-4000:]  # no poll, job or thread failed
            assert " new, " in text[log_marks[slot]:], f"worker {slot} did nothing after the outage"
        engine, sessions = open_database(url)
        try:
            items = check_store(farm, sessions)
            repeated = check_deliveries(farm, sessions)
        finally:
            engine.dispose()
        print(f"restart after {seen['polled at restart']}/{feeds} feeds polled, {OUTAGE}s outage after "
              f"{seen['posts at outage']} webhook POSTs; {retried} transactions retried; {items} items, "
              f"{len(farm.hook_applied)} revisions delivered once ({repeated} POSTs repeated a delivery id)")

"""Faults on a cluster of `feedrelay run` workers sharing PostgreSQL: nothing lost, nothing twice.

- kill -9 of a random worker at a random moment of ingest or of delivery, round after round;
  a new worker takes its place and the dead one's leases are taken over when they expire;
- every database connection killed (`pg_terminate_backend`) again and again during a run.

Afterwards every served item is stored once, copies of an article share one story, and the
webhook receiver (idempotent by `X-Feedrelay-Delivery`) has applied every revision exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from store.db import open_database
from tests.support.chaos import check_deliveries, check_store, kill_rounds, run_cycle, slow_hook
from tests.support.cluster import Cluster
from tests.support.farm import Farm
from tests.support.postgres import fresh_database, terminate_backends
from tests.support.server import LocalServer

pytestmark = pytest.mark.slow
ROUNDS = 10
WORKERS = 3


def test_kill_9_of_a_worker_during_ingest_or_delivery_loses_nothing(tmp_path: Path) -> None:
    report = kill_rounds(tmp_path, ROUNDS, workers=WORKERS)
    assert len(report.kills) == ROUNDS
    assert {k.split(":")[0] for k in report.kills} == {"ingest", "delivery"}
    assert report.dead_leases == 0  # every row the dead workers held was taken over
    print(f"{ROUNDS} kills in {report.seconds:.0f}s: {report.kills}; {report.redelivered} webhook POSTs "
          f"repeated a delivery id (applied once by the receiver)")


def test_killed_database_connections_mid_run_are_survived(tmp_path: Path) -> None:
    with fresh_database() as url, LocalServer() as server:
        farm = Farm(server, origins=12, aggregators=24)
        slow_hook(farm, 0.01)
        config = tmp_path / "config.yaml"
        config.write_text(farm.config(url, workers=4, per_host=8, lease="5s"))
        cluster = Cluster(config, tmp_path)
        engine, sessions = open_database(url)
        terminated: list[int] = []

        def terminate_repeatedly() -> None:
            for _ in range(8):
                time.sleep(0.35)
                terminated.append(terminate_backends(url))

        try:
            farm.advance(new_per_origin=3)
            for slot in range(WORKERS):
                cluster.start(slot)
            run_cycle(farm, cluster, sessions, during=terminate_repeatedly)
            farm.advance(new_per_origin=2, updates=4)
            run_cycle(farm, cluster, sessions, during=terminate_repeatedly)
            cluster.wait_ready()
            assert cluster.alive(), cluster.logs()
        finally:
            codes = cluster.stop()
            engine.dispose()
        assert codes == [0] * WORKERS, cluster.logs()
        assert sum(terminated) > 0
        engine, sessions = open_database(url)
        try:
            check_store(farm, sessions)
            check_deliveries(farm, sessions)
        finally:
            engine.dispose()

"""Faults on a cluster of `feedrelay run` workers sharing PostgreSQL: nothing lost, nothing twice.

- kill -9 of a random worker at a random moment of ingest or of delivery, round after round;
  a new worker takes its place and the dead one's leases are taken over when they expire;
- every database connection killed (`pg_terminate_backend`) again and again during a run.

Afterwards every served item is stored once, copies of an article share one story, and the
webhook receiver (idempotent by `X-Feedrelay-Delivery`) has applied every revision exactly once.
"""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import utcnow
from store import models
from store.db import open_database
from tests.support.cluster import Cluster, cycle_done, progress, trigger_cycle, wait_for
from tests.support.farm import Farm
from tests.support.postgres import fresh_database, terminate_backends
from tests.support.server import LocalServer
from tests.test_pg_scale import check_deliveries, check_store

pytestmark = pytest.mark.slow
ROUNDS = 10
WORKERS = 3


def dead_leases(sessions: sessionmaker[Session], pids: list[int]) -> int:
    """Rows still leased to one of the killed workers."""
    owners = [f"{socket.gethostname()}:{pid}" for pid in pids]
    with sessions() as session:
        return sum(session.scalar(select(func.count()).where(model.lease_owner.in_(owners))) or 0
                   for model in (models.Feed, models.Delivery))


def slow_hook(farm: Farm, seconds: float) -> None:
    """Make the webhook receiver take a while per POST, so kills can land mid-delivery."""
    receive = farm._hook

    def hook(request):  # type: ignore[no-untyped-def]
        answer = receive(request)
        time.sleep(seconds)
        return answer

    farm.server.route("/hook", hook)


def run_cycle(farm: Farm, cluster: Cluster, sessions: sessionmaker[Session], *, during=lambda: None,
              timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    start = utcnow()
    trigger_cycle(sessions)
    during()
    wait_for(lambda: cycle_done(sessions, start, len(farm.feeds)), timeout, "the cycle to finish",
             explain=lambda: progress(sessions, start) + cluster.logs())


def test_kill_9_of_a_worker_during_ingest_or_delivery_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(2026)
    with fresh_database() as url, LocalServer() as server:
        farm = Farm(server, origins=12, aggregators=24)
        slow_hook(farm, 0.03)
        config = tmp_path / "config.yaml"
        config.write_text(farm.config(url, workers=4, per_host=8, lease="2s"))
        cluster = Cluster(config, tmp_path)
        engine, sessions = open_database(url)
        kills: list[str] = []
        try:
            farm.advance(new_per_origin=2)
            for slot in range(WORKERS):
                cluster.start(slot)
            run_cycle(farm, cluster, sessions)
            for round_number in range(ROUNDS):
                farm.advance(new_per_origin=2, updates=3)
                phase = "ingest" if round_number % 2 == 0 else "delivery"
                posts_before = len(farm.hook_posts)

                def kill_one(phase: str = phase, posts_before: int = posts_before) -> None:
                    if phase == "ingest":
                        time.sleep(rng.uniform(0.0, 0.6))
                    else:
                        wanted = posts_before + rng.randint(1, 12)
                        wait_for(lambda: len(farm.hook_posts) >= wanted, 60, "deliveries to start",
                                 explain=cluster.logs)
                    slot = rng.randrange(WORKERS)
                    kills.append(f"{phase}: pid {cluster.kill(slot)} ({len(farm.hook_posts) - posts_before} posts in)")
                    cluster.start(slot)

                run_cycle(farm, cluster, sessions, during=kill_one)
            cluster.wait_ready()
            assert cluster.alive(), cluster.logs()
            assert dead_leases(sessions, cluster.killed) == 0
        finally:
            codes = cluster.stop()
            engine.dispose()
        assert codes == [0] * WORKERS, cluster.logs()
        assert len(cluster.killed) == ROUNDS
        engine, sessions = open_database(url)
        try:
            check_store(farm, sessions)
            redelivered = check_deliveries(farm, sessions)
            print(f"{ROUNDS} kills: {kills}; {redelivered} webhook POSTs repeated a delivery id "
                  f"(applied once by the receiver)")
        finally:
            engine.dispose()


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

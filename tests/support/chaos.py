"""Kill -9 rounds on a worker cluster sharing PostgreSQL, and the checks that nothing was lost.

Shared by `tests/test_faults.py` (10 rounds) and `bench/faults.py` (more). Each round: the
farm publishes new articles (and updates), every feed is made due, and one random worker is
SIGKILLed at a random moment of ingest or of delivery and replaced by a new one (a new owner
id: the dead one's leases are recovered only by expiry).
"""

from __future__ import annotations

import random
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import utcnow
from store import models
from store.db import open_database
from tests.support.cluster import Cluster, cycle_done, progress, trigger_cycle, wait_for
from tests.support.farm import Farm
from tests.support.postgres import fresh_database
from tests.support.server import LocalServer, Request, Response


@dataclass
class ChaosReport:
    """What a run of kill rounds did and found."""

    kills: list[str] = field(default_factory=list)
    exit_codes: list[int | None] = field(default_factory=list)
    items: int = 0
    stories: int = 0
    revisions_delivered: int = 0
    redelivered: int = 0
    dead_leases: int = 0
    seconds: float = 0.0


def check_store(farm: Farm, sessions: sessionmaker[Session], *, exact: bool = True) -> int:
    """Each served copy stored once; copies of an article share one story; items stored.

    `exact`: the farm's feeds are the only feeds (no other stories may exist).
    """
    with sessions() as session:
        rows = session.execute(select(models.Feed.name, models.Item.guid, models.Item.story_id)
                               .join(models.Feed, models.Feed.id == models.Item.feed_id)).all()
        stories = session.scalar(select(func.count()).select_from(models.Story))
    stored = Counter((feed, guid) for feed, guid, _ in rows)
    assert max(stored.values()) == 1
    story_of = {(feed, guid): story for feed, guid, story in rows}
    for article, copies in farm.articles.items():
        assert all(copy in story_of for copy in copies), f"{article}: a copy was not stored"
        assert len({story_of[copy] for copy in copies}) == 1, f"{article}: copies in several stories"
    if exact:
        assert len(stored) == sum(len(c) for c in farm.articles.values())
        assert stories == len(farm.articles)
    return len(stored)


def check_deliveries(farm: Farm, sessions: sessionmaker[Session]) -> int:
    """Each story revision reached the webhook and was applied once (by delivery id); the number
    of POSTs that repeated a delivery id (a worker died between POST and commit)."""
    with sessions() as session:
        done = set(session.execute(select(models.Delivery.story_id, models.Delivery.revision).where(
            models.Delivery.target == "hook", models.Delivery.state == "done")).all())
        latest = dict(session.execute(select(models.Story.id, models.Story.revision)).all())
        states = dict(session.execute(select(models.Delivery.state, func.count())
                                      .group_by(models.Delivery.state)).all())
    assert set(states) <= {"done", "superseded"}, states
    assert set(farm.hook_applied) == done
    assert set(farm.hook_applied.values()) == {1}
    assert set(latest.items()) <= done  # every story's newest revision is out
    ids = Counter(d for d, _, _ in farm.hook_posts)
    assert len({(s, r) for _, s, r in farm.hook_posts}) == len(ids)  # one delivery id per revision
    return sum(n - 1 for n in ids.values())


def dead_leases(sessions: sessionmaker[Session], pids: list[int]) -> int:
    """Rows still leased to one of the killed workers."""
    owners = [f"{socket.gethostname()}:{pid}" for pid in pids]
    with sessions() as session:
        return sum(session.scalar(select(func.count()).where(model.lease_owner.in_(owners))) or 0
                   for model in (models.Feed, models.Delivery))


def slow_hook(farm: Farm, seconds: float) -> None:
    """Make the webhook receiver take a while per POST, so kills can land mid-delivery."""
    receive = farm._hook

    def hook(request: Request) -> Response:
        answer = receive(request)
        time.sleep(seconds)
        return answer

    farm.server.route("/hook", hook)


def run_cycle(farm: Farm, cluster: Cluster, sessions: sessionmaker[Session], *,
              during: Callable[[], None] = lambda: None, timeout: float = 180) -> None:
    """Make every feed due, run `during`, wait until the cycle is done."""
    start = utcnow()
    trigger_cycle(sessions)
    during()
    wait_for(lambda: cycle_done(sessions, start, len(farm.feeds)), timeout, "the cycle to finish",
             explain=lambda: progress(sessions, start) + cluster.logs())


def kill_rounds(directory: Path, rounds: int, *, workers: int = 3, seed: int = 2026, origins: int = 12,
                aggregators: int = 24) -> ChaosReport:
    """Run `rounds` kill -9 rounds; check the store and deliveries afterwards (AssertionError)."""
    rng = random.Random(seed)
    report = ChaosReport()
    began = time.monotonic()
    with fresh_database() as url, LocalServer() as server:
        farm = Farm(server, origins=origins, aggregators=aggregators, seed=seed)
        slow_hook(farm, 0.03)
        config = directory / "config.yaml"
        config.write_text(farm.config(url, workers=4, per_host=8, lease="2s"))
        cluster = Cluster(config, directory)
        engine, sessions = open_database(url)
        try:
            farm.advance(new_per_origin=2)
            for slot in range(workers):
                cluster.start(slot)
            run_cycle(farm, cluster, sessions)
            for round_number in range(rounds):
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
                    slot = rng.randrange(workers)
                    pid = cluster.kill(slot)
                    report.kills.append(f"{phase}: pid {pid} ({len(farm.hook_posts) - posts_before} posts in)")
                    cluster.start(slot)

                run_cycle(farm, cluster, sessions, during=kill_one)
            cluster.wait_ready()
            assert cluster.alive(), cluster.logs()
            report.dead_leases = dead_leases(sessions, cluster.killed)
        finally:
            report.exit_codes = cluster.stop()
            engine.dispose()
        assert report.exit_codes == [0] * workers, cluster.logs()
        engine, sessions = open_database(url)
        try:
            report.items = check_store(farm, sessions)
            report.redelivered = check_deliveries(farm, sessions)
            report.stories = len(farm.articles)
            report.revisions_delivered = len(farm.hook_applied)
        finally:
            engine.dispose()
    report.seconds = time.monotonic() - began
    return report

"""Three `feedrelay run` workers, 300 feeds with syndicated copies, one PostgreSQL database.

Every item is stored once, copies of one article make one story, every story revision reaches
the webhook once, no feed is fetched twice in one cycle (the server's request log), and the
per-host cap holds across the workers.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import utcnow
from store import models
from store.db import open_database
from tests.support.cluster import Cluster, cycle_done, progress, trigger_cycle, wait_for
from tests.support.farm import Farm
from tests.support.postgres import fresh_database
from tests.support.server import LocalServer

pytestmark = pytest.mark.slow
PER_HOST = 6


def check_store(farm: Farm, sessions: sessionmaker[Session]) -> None:
    """Each served copy stored once; each article one story; no stray stories."""
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
    assert len(stored) == sum(len(c) for c in farm.articles.values())
    assert stories == len(farm.articles)


def check_deliveries(farm: Farm, sessions: sessionmaker[Session]) -> int:
    """Each story's revisions reached the webhook once each (by delivery id); wire redeliveries."""
    with sessions() as session:
        done = set(session.execute(select(models.Delivery.story_id, models.Delivery.revision).where(
            models.Delivery.target == "hook", models.Delivery.state == "done")).all())
        latest = dict(session.execute(select(models.Story.id, models.Story.revision)).all())
        states = dict(session.execute(select(models.Delivery.state, func.count())
                                      .group_by(models.Delivery.state)).all())
    assert set(states) <= {"done", "superseded"}, states
    assert set(farm.hook_applied) == done
    assert set(farm.hook_applied.values()) == {1}
    assert {(story, revision) for story, revision in latest.items()} <= done  # newest revision is out
    ids = Counter(d for d, _, _ in farm.hook_posts)
    assert len({(s, r) for _, s, r in farm.hook_posts}) == len(ids)  # one delivery id per revision
    return sum(n - 1 for n in ids.values())


def test_three_workers_share_300_feeds_without_doing_anything_twice(tmp_path: Path) -> None:
    with fresh_database() as url, LocalServer() as server:
        farm = Farm(server, origins=100, aggregators=200)
        farm.advance(new_per_origin=2)
        out = tmp_path / "out"
        config = tmp_path / "config.yaml"
        config.write_text(farm.config(url, per_host=PER_HOST, lease="2m", extra_targets=(
            f"  - name: files\n    type: feed\n    dir: {out}\n    formats: [atom]\n    max_items: 500\n")))
        cluster = Cluster(config, tmp_path)
        engine, sessions = open_database(url)
        try:
            start = utcnow()
            for slot in range(3):
                cluster.start(slot)
            wait_for(lambda: cycle_done(sessions, start, 300), 120, "the first cycle",
                     explain=lambda: progress(sessions, start) + cluster.logs())
            first = farm.requests_per_feed()
            assert len(first) == 300 and set(first.values()) == {1}, first.most_common(3)
            mark = len(server.requests)

            farm.advance(new_per_origin=1, updates=15)
            start = utcnow()
            trigger_cycle(sessions)
            wait_for(lambda: cycle_done(sessions, start, 300), 120, "the second cycle",
                     explain=lambda: progress(sessions, start) + cluster.logs())
            second = farm.requests_per_feed(mark)
            assert len(second) == 300 and set(second.values()) == {1}, second.most_common(3)
            assert cluster.alive()
            with sessions() as session:  # all three took part
                owners = session.scalar(select(func.count(func.distinct(models.Delivery.lease_owner))))
            assert owners is not None
        finally:
            codes = cluster.stop()
            engine.dispose()
        assert codes == [0, 0, 0], cluster.logs()
        assert farm.max_active <= PER_HOST
        engine, sessions = open_database(url)
        try:
            check_store(farm, sessions)
            assert check_deliveries(farm, sessions) == 0
            with sessions() as session:
                revised = session.scalar(select(func.count()).where(models.Story.revision > 1))
            assert revised > 0  # updates made new revisions, and they were delivered
            atom = (out / "atom.xml").read_text()
            assert atom.count("<entry>") == len(farm.articles)
        finally:
            engine.dispose()

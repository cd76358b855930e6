"""A hostile feed corpus in one run of two workers on PostgreSQL, beside ordinary feeds.

Each hostile feed ends in a clear error or a correct (partial) result; no worker dies; the
ordinary feeds are stored and published as usual; and the local file the XML entity attacks
point at never leaks into the database, the published files, the webhook or the logs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from feedrelay.items import utcnow
from store import models
from store.db import open_database
from tests.support.chaos import check_store
from tests.support.cluster import Cluster, cycle_done, progress, wait_for
from tests.support.farm import Farm
from tests.support.hostile import SECRET, hostile_feeds, serve
from tests.support.postgres import fresh_database
from tests.support.server import LocalServer

pytestmark = pytest.mark.slow


def database_text(sessions) -> str:  # type: ignore[no-untyped-def]
    """Every row of every feedrelay table, as text."""
    with sessions() as session:
        return "\n".join(
            str(row) for table in models.Base.metadata.sorted_tables
            for row in session.execute(text(f"SELECT t::text FROM {table.name} t")).scalars()
        )


def test_hostile_feeds_fail_alone_and_leak_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    hostile = hostile_feeds(secret)
    out = tmp_path / "out"
    with fresh_database() as url, LocalServer() as server:
        farm = Farm(server, origins=8, aggregators=8)
        farm.advance(new_per_origin=2)
        config = tmp_path / "config.yaml"
        config.write_text(farm.config(url, workers=6, per_host=8, lease="1m", deadline="4s", max_body="4MiB",
                                      extra_feeds=serve(server, hostile), extra_targets=(
            f"  - name: files\n    type: feed\n    dir: {out}\n    formats: [atom, rss, json]\n")))
        cluster = Cluster(config, tmp_path)
        engine, sessions = open_database(url)
        try:
            start = utcnow()
            for slot in range(2):
                cluster.start(slot)
            total = len(farm.feeds) + len(hostile)
            wait_for(lambda: cycle_done(sessions, start, total), 240, "every feed to be polled",
                     explain=lambda: progress(sessions, start) + cluster.logs())
            cluster.wait_ready()
            assert cluster.alive(), cluster.logs()
            with sessions() as session:
                feeds = {row.name: row for row in session.scalars(select(models.Feed))}
                items = dict(session.execute(
                    select(models.Feed.name, func.count(models.Item.id))
                    .join(models.Item, models.Item.feed_id == models.Feed.id, isouter=True)
                    .group_by(models.Feed.name)).all())
            stored_text = database_text(sessions)
            check_store(farm, sessions, exact=False)  # ordinary feeds: every copy, one story each
        finally:
            codes = cluster.stop()
            engine.dispose()
        assert codes == [0, 0], cluster.logs()

    outcomes = {h.name: (feeds[h.name].last_outcome, feeds[h.name].last_error, items[h.name]) for h in hostile}
    for feed in hostile:
        outcome, error, count = outcomes[feed.name]
        if feed.expect == "error":
            assert error and count == 0, (feed.name, outcomes[feed.name])
        elif feed.expect == "items":
            assert error is None and count == feed.count, (feed.name, outcomes[feed.name])
        else:
            assert (error and count == 0) or (error is None and count >= 1), (feed.name, outcomes[feed.name])
    assert "HTML page" in outcomes["html-page"][1]
    assert items["malformed-xml"] == 3  # every complete item before the cut
    for doc in farm.feeds:  # ordinary feeds unaffected
        assert feeds[doc.name].last_error is None and items[doc.name] == len(doc.posts), doc.name
    assert "Новости недели" in stored_text

    published = "\n".join(p.read_text(errors="replace") for p in out.iterdir())
    webhook = "\n".join(r.body.decode("utf-8", "replace") for r in server.requests if r.path == "/hook")
    assert len(farm.hook_applied) >= len(farm.articles)
    for place, content in (("database", stored_text), ("feed files", published), ("webhook", webhook),
                           ("logs", "".join(p.read_text(errors="replace") for p in tmp_path.glob("worker-*.log")))):
        assert SECRET not in content, f"the local file's content leaked into the {place}"
    for place, content in (("feed files", published), ("webhook", webhook)):  # only web links republished
        assert "javascript:" not in content.lower() and "data:text" not in content, place

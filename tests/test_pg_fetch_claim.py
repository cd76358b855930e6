"""`feedrelay fetch` beside live workers on PostgreSQL: it leases the feeds it polls like a worker.

A feed another worker holds a live lease on is skipped (and reported), an expired lease is taken
over, every other feed is polled whether due or not, and the pass's leases are renewed while it
runs, so a long pass never hands a feed still waiting for its turn to another worker.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from feedrelay.cli import main
from feedrelay.config import load_config
from feedrelay.items import utcnow
from feedrelay.pipeline import Relay
from store import models
from store.claim import claim_feeds
from store.db import open_database
from store.retry import run_transaction
from tests.support.postgres import fresh_database
from tests.support.server import LocalServer, Response

FEEDS = [f"feed{i}" for i in range(8)]


def rss(name: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
            f"<link>https://{name}.example/</link><description>d</description>"
            f"<item><title>{name} news</title><link>https://{name}.example/1</link>"
            f"<guid>{name}-1</guid><description>Only {name} tells this story.</description></item>"
            f"</channel></rss>").encode()


def serve_feeds(server: LocalServer) -> None:
    for name in FEEDS:
        server.route(f"/{name}.xml", Response(200, rss(name), {"Content-Type": "application/rss+xml"}))


def write_config(tmp_path: Path, database: str, *, lease: str = "5m", workers: int = 4, port: int) -> Path:
    feeds = "".join(f"  - name: {name}\n    url: http://127.0.0.1:{port}/{name}.xml\n" for name in FEEDS)
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {database}\nhttp:\n  allow_private_networks: true\n  workers: {workers}\n"
                    f"  per_host: 8\nworker:\n  lease: {lease}\nfeeds:\n{feeds}targets:\n"
                    f"  - name: files\n    type: feed\n    dir: {tmp_path / 'out'}\n")
    return path


def lease(url: str, name: str, owner: str, until: timedelta) -> None:
    engine, sessions = open_database(url)
    with sessions.begin() as session:
        session.execute(update(models.Feed).where(models.Feed.name == name)
                        .values(lease_owner=owner, lease_until=utcnow() + until))
    engine.dispose()


def feed_rows(url: str) -> dict[str, tuple[str | None, int]]:
    """Each feed's lease owner and number of stored items."""
    engine, sessions = open_database(url)
    with sessions() as session:
        owners = dict(session.execute(select(models.Feed.name, models.Feed.lease_owner)).all())
        items = {name: len(session.scalars(select(models.Item.id).join(models.Feed).where(
            models.Feed.name == name)).all()) for name in owners}
    engine.dispose()
    return {name: (owners[name], items[name]) for name in owners}


def test_fetch_skips_a_feed_another_worker_is_polling_and_polls_all_others(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fresh_database() as url, LocalServer() as server:
        serve_feeds(server)
        config = write_config(tmp_path, url, port=server.port)
        Relay(load_config(config)).close()  # the feed rows exist, as when workers run
        lease(url, "feed3", "other-host:4242", timedelta(minutes=10))  # being polled right now
        lease(url, "feed5", "dead-host:1", -timedelta(minutes=1))  # its worker died: expired

        assert main(["-c", str(config), "fetch"]) == 0
        out = capsys.readouterr().out
        assert "skipped feed3: being polled by worker other-host:4242" in out
        assert "feeds: 7 ok, 0 failed, 1 skipped (another worker was polling them)" in out
        hits = {name: server.hits(f"/{name}.xml") for name in FEEDS}
        assert hits == {name: 0 if name == "feed3" else 1 for name in FEEDS}
        rows = feed_rows(url)
        assert rows["feed3"] == ("other-host:4242", 0)  # untouched: still the other worker's
        assert {name: row for name, row in rows.items() if name != "feed3"} == {
            name: (None, 1) for name in FEEDS if name != "feed3"}  # polled, stored, released

        report_feeds = []
        with Relay(load_config(config)) as relay:  # the next pass: feed3 is still busy, the rest not
            report = relay.run_once()
            report_feeds = [(o.feed, o.outcome) for o in report.feeds]
        assert report_feeds == [(name, "skipped" if name == "feed3" else "unchanged") for name in FEEDS]
        assert server.hits("/feed3.xml") == 0


def test_a_long_fetch_keeps_its_waiting_feeds_from_other_workers(tmp_path: Path) -> None:
    with fresh_database() as url, LocalServer() as server:
        serve_feeds(server)
        server.hold = 0.3  # one fetch at a time, 8 × 0.3 s: the pass outlasts its 1 s lease
        config = write_config(tmp_path, url, lease="1s", workers=1, port=server.port)
        taken: list[str] = []
        done = threading.Event()
        engine, sessions = open_database(url)

        def other_worker() -> None:  # claims every due feed it can, as a daemon worker would
            while not done.wait(0.1):
                taken.extend(run_transaction(sessions, lambda session: claim_feeds(
                    session, "other-host:1", utcnow(), lease=timedelta(minutes=5), limit=10)))

        relay = Relay(load_config(config))
        thread = threading.Thread(target=other_worker)

        def first_poll_done(outcome: object) -> None:  # the pass has claimed its feeds by now
            if not thread.is_alive():
                thread.start()

        try:
            report = relay.run_once(progress=first_poll_done)
        finally:
            done.set()
            if thread.is_alive():
                thread.join()
            relay.close()
            engine.dispose()
        assert [o.outcome for o in report.feeds] == ["ok"] * len(FEEDS)
        assert taken == []  # never due and unleased while the pass was running
        assert {name: server.hits(f"/{name}.xml") for name in FEEDS} == dict.fromkeys(FEEDS, 1)

"""A real (SQLite) store with an outbox, for end-to-end delivery tests of targets."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from feedrelay.items import Item
from feedrelay.publishing import PublishReport, publish_pending
from publish.base import Target
from store import models
from store.db import open_database
from store.stories import StorePolicy, StoreReport, store_items


class Store:
    """A fresh database (SQLite in `directory`, or `url`); items stored for the named targets."""

    def __init__(self, directory: Path, targets: list[str], url: str | None = None) -> None:
        self.url = url or f"sqlite:///{directory / 'feedrelay.db'}"
        self.engine, self.sessions = open_database(self.url)
        self.policy = StorePolicy(targets={name: (lambda item, feed: True) for name in targets})

    def store(self, items: list[Item], feed_name: str = "source-blog") -> StoreReport:
        """Store one batch of a feed's items (creating the feed row), queueing deliveries."""
        with self.sessions.begin() as session:
            feed = session.scalar(select(models.Feed).where(models.Feed.name == feed_name))
            if feed is None:
                feed = models.Feed(name=feed_name, url="https://source.example/feed/",
                                   config_url="https://source.example/feed/", enabled=True, error_count=0,
                                   last_new_items=0, guid_mode="guid", title="Source Blog",
                                   site_url="https://source.example/")
                session.add(feed)
                session.flush()
            return store_items(session, feed, items, self.policy)

    def publish(self, targets: dict[str, Target], owner: str = "test-worker") -> PublishReport:
        return publish_pending(self.sessions, targets, owner)

    def deliveries(self, target: str) -> list[models.Delivery]:
        with self.sessions() as session:
            return list(session.scalars(select(models.Delivery).where(models.Delivery.target == target)
                                        .order_by(models.Delivery.id)))

    def close(self) -> None:
        self.engine.dispose()


"""Race-free dedup and exactly-once delivery with several workers on one PostgreSQL database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import Entry, Item
from feedrelay.publishing import publish_pending
from store import models
from store.db import open_database
from store.neardup import NearDuplicates
from store.retry import run_transaction
from store.stories import StorePolicy, store_items
from tests.support.counting import CountingTarget, LocalCountingTarget
from tests.support.postgres import fresh_database, terminate_backends
from tests.support.threads import run_threads

STORIES = 40
FEEDS = 3


@pytest.fixture
def pg() -> Iterator[tuple[str, sessionmaker[Session]]]:
    with fresh_database() as url:
        engine, sessions = open_database(url)
        yield url, sessions
        engine.dispose()


def copies(feed: str, feed_index: int) -> list[Item]:
    """Feed `feed`'s copies of the shared stories: the origin (feed 0) or credited reposts."""
    items = []
    for n in range(STORIES):
        origin = f"https://origin.example/2026/story-{n}/"
        text = f"Story {n} tells of the harbour, the ferry timetable and the {n}th storm of winter."
        items.append(Item(
            feed=feed, guid=f"{feed}-{n}", title=f"Story {n}",
            link=origin if feed_index == 0 else f"https://copy{feed_index}.example/?p={n}",
            source_link=None if feed_index == 0 else origin,
            content_html=f"<p>{text}</p>", text=text,
            published=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=n)))
    return items


def store_concurrently(sessions: sessionmaker[Session], targets: list[str]) -> None:
    """FEEDS workers store their feed's copies at the same moment, in small interleaved batches."""
    with sessions.begin() as session:
        for i in range(FEEDS):
            url = f"https://copy{i}.example/feed/"
            session.add(models.Feed(name=f"feed{i}", url=url, config_url=url, enabled=True, error_count=0,
                                    last_new_items=0, guid_mode="guid"))
    policy = StorePolicy(targets={name: (lambda item, feed: True) for name in targets})
    barrier = threading.Barrier(FEEDS)

    def worker(i: int) -> None:
        items = copies(f"feed{i}", i)
        barrier.wait()
        for start in range(0, STORIES, 5):
            def store(session: Session, batch: list[Item] = items[start:start + 5]) -> None:
                feed = session.scalars(select(models.Feed).where(models.Feed.name == f"feed{i}")
                                       .with_for_update()).one()
                store_items(session, feed, batch, policy)
            run_transaction(sessions, store)

    run_threads(FEEDS, worker)


def test_copies_stored_at_the_same_moment_make_one_story_each(pg) -> None:  # type: ignore[no-untyped-def]
    _, sessions = pg
    store_concurrently(sessions, ["counter"])
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Item)) == STORIES * FEEDS
        assert session.scalar(select(func.count()).select_from(models.Story)) == STORIES
        per_story = session.execute(select(models.Item.story_id, func.count()).group_by(models.Item.story_id)).all()
        assert sorted(n for _, n in per_story) == [FEEDS] * STORIES
        assert session.scalar(select(func.count()).select_from(models.Delivery)) == STORIES


@pytest.mark.parametrize("kind", [CountingTarget, LocalCountingTarget], ids=["one-at-a-time", "local-batches"])
def test_workers_publishing_together_deliver_each_revision_once(pg, kind) -> None:  # type: ignore[no-untyped-def]
    _, sessions = pg
    store_concurrently(sessions, ["counter"])
    target = kind(flush_seconds=0.05)
    run_threads(3, lambda i: publish_pending(sessions, {"counter": target}, f"worker-{i}", batch=4))
    assert len(target.delivered) == STORIES and set(target.delivered.values()) == {1}
    assert target.max_concurrent_flushes == 1  # one renderer at a time
    with sessions() as session:
        states = dict(session.execute(select(models.Delivery.state, func.count()).group_by(models.Delivery.state)).all())
    assert states == {"done": STORIES}


def test_a_delivery_outlasting_its_lease_is_not_taken_over(pg) -> None:  # type: ignore[no-untyped-def]
    """The worker renews its lease while a slow remote delivery runs: another worker finds
    nothing to claim, and the story is sent once (it was sent twice: a second WordPress post)."""
    _, sessions = pg
    store_concurrently(sessions, ["slow"])
    with sessions.begin() as session:  # two rows left to send
        keep = sorted(session.scalars(select(models.Delivery.id)))[:2]
        session.execute(update(models.Delivery).where(models.Delivery.id.not_in(keep)).values(state="done"))
    target = CountingTarget("slow")
    target.on_deliver = lambda entry: time.sleep(1.6)
    lease = timedelta(seconds=0.6)
    reports = {}

    def worker(i: int) -> None:
        time.sleep(1.0 * i)  # the second starts when the first's first lease has long run out
        reports[i] = publish_pending(sessions, {"slow": target}, f"worker-{i}", batch=1, lease=lease)

    started = threading.Thread(target=worker, args=(0,))
    started.start()
    worker(1)
    started.join()
    assert reports[0].delivered() == reports[1].delivered() == 1  # the second took the row nobody held
    assert len(target.delivered) == 2 and set(target.delivered.values()) == {1}, target.delivered


def test_publishing_completes_when_database_connections_are_killed(pg) -> None:  # type: ignore[no-untyped-def]
    url, sessions = pg
    store_concurrently(sessions, ["counter"])
    target = CountingTarget()
    kills: list[int] = []

    def kill_every_seventh(entry: Entry) -> None:
        if entry.story_id % 7 == 0:
            kills.append(terminate_backends(url))

    target.on_deliver = kill_every_seventh
    run_threads(2, lambda i: publish_pending(sessions, {"counter": target}, f"worker-{i}", batch=3))
    assert sum(kills) > 0
    assert len(target.delivered) == STORIES and set(target.delivered.values()) == {1}
    with sessions() as session:
        assert session.scalar(select(func.count()).where(models.Delivery.state != "done")) == 0
        assert session.scalar(select(func.count()).select_from(models.Publication)) == STORIES


def near_copies(feed: str, feed_index: int) -> list[Item]:
    """Copies no exact key links: own link, no credited source, a few words of their own."""
    words = ["harbour", "ferry", "timetable", "winter", "storm", "council", "budget", "bridge", "repair", "school", "library", "museum", "river", "market", "bakery", "tram", "station", "stadium", "hospital", "theatre", "park"]
    items = []
    for n in range(STORIES):
        body = " ".join(f"{words[(n * 7 + k * 3) % len(words)]}{(n * 31 + k) % 97}" for k in range(60))
        text = f"{body} reposted by site {feed_index}" if feed_index else body
        items.append(Item(feed=feed, guid=f"{feed}-near-{n}", title=f"Report {n}",
                          link=f"https://site{feed_index}.example/near/{n}/", content_html=f"<p>{text}</p>",
                          text=text, published=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=n)))
    return items


def test_near_copies_stored_at_the_same_moment_make_one_story_each(pg) -> None:  # type: ignore[no-untyped-def]
    _, sessions = pg
    with sessions.begin() as session:
        for i in range(FEEDS):
            session.add(models.Feed(name=f"feed{i}", url=f"https://site{i}.example/feed/",
                                    config_url=f"https://site{i}.example/feed/", enabled=True, error_count=0,
                                    last_new_items=0, guid_mode="guid"))
    policy = StorePolicy(targets={"counter": lambda item, feed: True}, near_duplicate=NearDuplicates())
    barrier = threading.Barrier(FEEDS)

    def worker(i: int) -> None:
        items = near_copies(f"feed{i}", i)
        barrier.wait()
        for item in items:
            def store(session: Session, batch: list[Item] = [item]) -> None:  # noqa: B006
                feed = session.scalars(select(models.Feed).where(models.Feed.name == f"feed{i}")).one()
                store_items(session, feed, batch, policy)
            run_transaction(sessions, store)

    run_threads(FEEDS, worker)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Story)) == STORIES
        assert session.scalar(select(func.count()).select_from(models.Delivery)) == STORIES

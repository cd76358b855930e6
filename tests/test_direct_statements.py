"""Rows written by store.direct's statements are the rows SQLAlchemy would write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import Item
from store import direct, models
from store.db import open_database
from store.direct import Statement
from store.retry import is_retryable, run_transaction
from store.stories import StorePolicy, store_items
from tests.support.postgres import either_database, pg_url, terminate_backends  # noqa: F401

STORIES = models.Story.__table__
STORY_COLUMNS = ("revision", "retracted", "title", "created_at", "updated_at")
WHEN = datetime(2026, 3, 1, 12, 30, 15, 250, tzinfo=timezone(timedelta(hours=3)))  # not UTC on purpose


@pytest.fixture
def sessions(database: str) -> Iterator[sessionmaker[Session]]:
    engine, sessions = open_database(database)
    yield sessions
    engine.dispose()


def test_a_datetime_is_stored_as_sqlalchemy_stores_it(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ids = [session.execute(insert(models.Story.__table__).values(
            revision=1, retracted=False, title="by SQLAlchemy", created_at=WHEN, updated_at=WHEN
        ).returning(models.Story.id)).scalar_one()]
        ids += [row[0] for row in direct.insert(STORIES, STORY_COLUMNS, then="RETURNING id").run(session, (1, False, "direct", WHEN, WHEN))]
        raw = [session.execute(text("SELECT created_at, retracted FROM stories WHERE id = :id"), {"id": i}).one()
               for i in ids]
        stories = [session.get(models.Story, i) for i in ids]
    assert raw[0] == raw[1]  # the same stored value, whatever the backend's type
    assert [(s.created_at, s.updated_at, s.retracted) for s in stories] == [(WHEN, WHEN, False)] * 2


def test_returning_and_executemany(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        returned = direct.insert(STORIES, STORY_COLUMNS, rows=2,
                                 then="RETURNING id, title").run(
            session, (1, False, "one", WHEN, WHEN, 1, True, "two", WHEN, WHEN))
        ids = dict((title, id_) for id_, title in returned)
        rename = Statement("UPDATE stories SET title = ? WHERE id = ?", [STORIES.c.title, STORIES.c.id])
        rename.run_many(session, [("renamed", ids["one"]), ("nobody", max(ids.values()) + 1000)])
        rename.run_many(session, [])
        stories = {s.id: s for s in session.scalars(select(models.Story).where(models.Story.id.in_(ids.values())))}
    assert stories[ids["one"]].title == "renamed" and stories[ids["two"]].title == "two"
    assert stories[ids["two"]].retracted is True and stories[ids["two"]].created_at == WHEN  # second row bound too


def test_database_errors_come_as_sqlalchemys(sessions: sessionmaker[Session]) -> None:
    """So that `run_transaction` retries them and a dropped connection is invalidated."""
    with sessions.begin() as session:
        key = direct.insert(models.StoryKey.__table__, ("key", "story_id"))
        story_id = direct.insert(STORIES, STORY_COLUMNS, then="RETURNING id").run(session, (1, False, "keyed", WHEN, WHEN))[0][0]
        key.run(session, ("u:direct-error", story_id))
        with pytest.raises(IntegrityError):
            key.run(session, ("u:direct-error", story_id))


def test_stored_stories_merges_and_deliveries_keep_their_times(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        feeds = [models.Feed(name=name, url=f"https://{name}.example/feed/", config_url=f"https://{name}.example/feed/",
                             enabled=True, error_count=0, last_new_items=0, guid_mode="guid")
                 for name in ("origin", "copy")]
        session.add_all(feeds)
        session.flush()
        policy = StorePolicy(targets={"out": lambda item, feed: True})
        for feed in feeds:
            copy = feed.name == "copy"
            item = Item(feed=feed.name, guid=f"{feed.name}-1", title="The bridge reopens",
                        link="https://copy.example/?p=1" if copy else "https://origin.example/bridge/",
                        source_link="https://origin.example/bridge/" if copy else None,
                        content_html="<p>The bridge reopens today.</p>", text="The bridge reopens today.")
            store_items(session, feed, [item], policy, now=WHEN)
        story_id = session.scalar(select(models.Item.story_id).where(models.Item.feed_id == feeds[0].id))
    with sessions() as session:
        story = session.get(models.Story, story_id)
        merge = session.scalars(select(models.Merge).where(models.Merge.story_id == story_id)).one()
        delivery = session.scalars(select(models.Delivery).where(models.Delivery.story_id == story_id)).one()
        keys = session.scalars(select(models.StoryKey.key).where(models.StoryKey.story_id == story_id)).all()
        rows = session.scalars(select(models.Item).where(models.Item.story_id == story_id)
                               .order_by(models.Item.id)).all()
    assert [(r.data["link"], r.data["title"], r.status, r.revision, r.first_seen, r.last_seen) for r in rows] == [
        ("https://origin.example/bridge/", "The bridge reopens", "active", 1, WHEN, WHEN),
        ("https://copy.example/?p=1", "The bridge reopens", "active", 1, WHEN, WHEN)]
    assert rows[1].source_hash == rows[0].url_hash  # the copy credits the original
    assert (story.created_at, story.updated_at, story.revision, story.retracted) == (WHEN, WHEN, 1, False)
    assert (merge.story_id, merge.reason, merge.created_at) == (story.id, "source-link", WHEN)
    assert merge.detail == "copy: https://copy.example/?p=1 (source-link)"
    assert (delivery.story_id, delivery.target, delivery.revision, delivery.state, delivery.attempts,
            delivery.next_attempt_at, delivery.created_at) == (story.id, "out", 1, "pending", 0, WHEN, WHEN)
    assert len(keys) == 2  # the two URLs, the copy's claimed in one statement


def test_a_connection_lost_under_a_statement_is_invalidated_and_retried(pg_url: str) -> None:  # noqa: F811
    engine, sessions = open_database(pg_url)
    attempts: list[int] = []

    def work(session: Session) -> int:
        attempts.append(1)
        session.execute(text("SELECT 1"))
        if len(attempts) == 1:  # the server drops this session's connection mid-transaction
            terminate_backends(pg_url)
        return direct.insert(STORIES, STORY_COLUMNS, then="RETURNING id").run(session, (1, False, "after the drop", WHEN, WHEN))[0][0]

    try:
        with sessions() as session:  # what the raw driver error becomes
            session.execute(text("SELECT 1"))
            terminate_backends(pg_url)
            with pytest.raises(DBAPIError) as raised:
                direct.insert(models.StoryKey.__table__, ("key", "story_id")).run(session, ("u:lost", 1))
            assert raised.value.connection_invalidated and is_retryable(raised.value)
        story_id = run_transaction(sessions, work)
        assert len(attempts) == 2
        with sessions() as session:
            assert session.get(models.Story, story_id).title == "after the drop"
    finally:
        engine.dispose()

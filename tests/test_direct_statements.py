"""Rows written by store.direct's statements are the rows SQLAlchemy would write."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select, text

from feedrelay.items import Item
from store import models
from store.db import open_database
from store.direct import Statement
from store.stories import StorePolicy, store_items
from tests.support.postgres import either_database, pg_url  # noqa: F401

WHEN = datetime(2026, 3, 1, 12, 30, 15, 250, tzinfo=timezone(timedelta(hours=3)))  # not UTC on purpose


def test_a_datetime_is_stored_as_sqlalchemy_stores_it(database: str) -> None:
    engine, sessions = open_database(database)
    try:
        with sessions.begin() as session:
            ids = [session.execute(insert(models.Story.__table__).values(
                revision=1, retracted=False, title="by SQLAlchemy", created_at=WHEN, updated_at=WHEN
            ).returning(models.Story.id)).scalar_one()]
            ids += [row[0] for row in Statement(
                "INSERT INTO stories (revision, retracted, title, created_at, updated_at) "
                "VALUES (1, ?, ?, ?, ?) RETURNING id", datetimes=(2, 3)).run(session, (False, "direct", WHEN, WHEN))]
            raw = [session.execute(text("SELECT created_at, retracted FROM stories WHERE id = :id"), {"id": i}).one()
                   for i in ids]
            stories = [session.get(models.Story, i) for i in ids]
        assert raw[0] == raw[1]  # the same stored value, whatever the backend's type
        assert [(s.created_at, s.updated_at, s.retracted) for s in stories] == [(WHEN, WHEN, False)] * 2
    finally:
        engine.dispose()


def test_returning_and_executemany(database: str) -> None:
    engine, sessions = open_database(database)
    try:
        with sessions.begin() as session:
            returned = Statement("INSERT INTO stories (revision, retracted, title, created_at, updated_at) "
                                 "VALUES (1, ?, ?, ?, ?) RETURNING id, title", datetimes=(2, 3)).run(
                session, (False, "one", WHEN, WHEN))
            Statement("UPDATE stories SET title = ? WHERE id = ?").run_many(
                session, [("renamed", returned[0][0]), ("nobody", returned[0][0] + 1000)])
            Statement("UPDATE stories SET title = ? WHERE id = ?").run_many(session, [])
            title = session.scalar(select(models.Story.title).where(models.Story.id == returned[0][0]))
        assert returned[0][1] == "one" and title == "renamed"
    finally:
        engine.dispose()


def test_stored_stories_merges_and_deliveries_keep_their_times(database: str) -> None:
    engine, sessions = open_database(database)
    try:
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
        assert (story.created_at, story.updated_at, story.revision, story.retracted) == (WHEN, WHEN, 1, False)
        assert (merge.story_id, merge.reason, merge.created_at) == (story.id, "source-link", WHEN)
        assert merge.detail == "copy: https://copy.example/?p=1 (source-link)"
        assert (delivery.story_id, delivery.target, delivery.revision, delivery.state, delivery.attempts,
                delivery.next_attempt_at, delivery.created_at) == (story.id, "out", 1, "pending", 0, WHEN, WHEN)
        assert len(keys) == 2  # the two URLs, the copy's claimed in one statement
    finally:
        engine.dispose()

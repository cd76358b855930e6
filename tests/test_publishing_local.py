"""Local targets (feed files, a directory): deliveries prepared and recorded in batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import Entry, Item, utcnow
from feedrelay.publishing import publish_pending
from publish.base import Archive, TargetError
from store import models
from store.db import open_database
from store.outbox import mark_done, mark_done_many
from store.stories import StorePolicy, store_items
from tests.support.counting import CountingTarget, LocalCountingTarget

STORIES = 6


class LocalTarget(CountingTarget):
    """A counting target declared local; `fail` maps a story id to the error its delivery raises."""

    local = True

    def __init__(self) -> None:
        super().__init__("local")
        self.fail: dict[int, Exception] = {}
        self.on_deliver = self._maybe_fail

    def _maybe_fail(self, entry: Entry) -> None:
        if entry.story_id in self.fail:
            raise self.fail[entry.story_id]


class Killed(BaseException):
    """The process dying mid-call (what a signal or `kill -9` would stop): nothing catches it."""


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with sessions.begin() as session:
        feed = models.Feed(name="origin", url="https://origin.example/feed/", config_url="https://origin.example/feed/",
                           enabled=True, error_count=0, last_new_items=0, guid_mode="guid")
        session.add(feed)
        session.flush()
        items = [Item(feed="origin", guid=f"g{n}", title=f"Story {n}", link=f"https://origin.example/{n}/",
                      content_html=f"<p>Story number {n} about the bridge.</p>", text=f"Story number {n} about the bridge.",
                      published=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=n)) for n in range(STORIES)]
        store_items(session, feed, items, StorePolicy(targets={"local": lambda item, feed: True}))
    yield sessions
    engine.dispose()


def states(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return dict(session.execute(select(models.Delivery.state, func.count()).group_by(models.Delivery.state)).all())


def test_a_batch_is_prepared_in_one_transaction_and_recorded_in_one(sessions) -> None:  # type: ignore[no-untyped-def]
    commits: list[int] = []
    event.listen(sessions.kw["bind"], "commit", lambda connection: commits.append(1))
    target = LocalTarget()
    report = publish_pending(sessions, {"local": target}, "worker", batch=100)
    assert report.delivered("local") == STORIES
    assert sorted(target.delivered.values()) == [1] * STORIES
    assert states(sessions) == {"done": STORIES}
    # claim, prepare, record, the empty claim that ends the loop, and the flush's lease/time rows:
    # a constant, where one-at-a-time delivery needs two transactions per row.
    assert len(commits) <= 8 < 2 * STORIES


def test_a_pausing_error_records_it_and_holds_back_the_rest(sessions) -> None:  # type: ignore[no-untyped-def]
    target = LocalTarget()
    with sessions() as session:
        story_ids = sorted(session.scalars(select(models.Story.id)))
    target.fail[story_ids[2]] = TargetError("disk is read-only", pause=True)
    report = publish_pending(sessions, {"local": target}, "worker", batch=100)
    assert report.paused == {"local": "paused"}
    assert report.delivered("local") == 2
    with sessions() as session:
        rows = {row.story_id: row for row in session.scalars(select(models.Delivery))}
    assert [rows[i].state for i in story_ids] == ["done", "done"] + ["pending"] * (STORIES - 2)
    assert rows[story_ids[2]].last_error == "disk is read-only"
    later = utcnow() + timedelta(minutes=45)  # a pause of an hour, with up to 20 % jitter
    for story_id in story_ids[2:]:  # nothing tried again before the pause ends, no lease held
        assert rows[story_id].lease_owner is None
        assert rows[story_id].next_attempt_at.replace(tzinfo=UTC) > later


def test_a_crash_mid_batch_loses_nothing_and_the_next_pass_completes_it(sessions) -> None:  # type: ignore[no-untyped-def]
    target = LocalTarget()
    with sessions() as session:
        story_ids = sorted(session.scalars(select(models.Story.id)))
    target.fail[story_ids[3]] = Killed()
    with pytest.raises(Killed):
        publish_pending(sessions, {"local": target}, "worker-1", batch=100)
    assert states(sessions) == {"pending": STORIES}  # nothing recorded as done that was not
    with sessions.begin() as session:  # the dead worker's leases expire
        for row in session.scalars(select(models.Delivery)):
            row.lease_until = utcnow() - timedelta(seconds=1)
    target.fail.clear()
    report = publish_pending(sessions, {"local": target}, "worker-2", batch=100)
    assert report.delivered("local") == STORIES
    assert states(sessions) == {"done": STORIES}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Publication)) == STORIES


def test_an_older_revision_in_the_same_batch_is_superseded(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:  # story 0 changes at the source: revision 2 queued behind revision 1
        feed = session.scalars(select(models.Feed)).one()
        changed = Item(feed="origin", guid="g0", title="Story 0, updated", link="https://origin.example/0/",
                       content_html="<p>Story number 0 about the bridge, now reopened.</p>",
                       text="Story number 0 about the bridge, now reopened.",
                       published=datetime(2026, 3, 1, tzinfo=UTC))
        store_items(session, feed, [changed], StorePolicy(targets={"local": lambda item, feed: True}))
    target = LocalTarget()
    report = publish_pending(sessions, {"local": target}, "worker", batch=100)
    assert report.counts[("local", "superseded")] == 1
    assert report.delivered("local") == STORIES
    with sessions() as session:
        first = session.scalars(select(models.Story.id).order_by(models.Story.id)).first()
    assert target.delivered[(first, 2)] == 1 and (first, 1) not in target.delivered
    assert states(sessions) == {"done": STORIES, "superseded": 1}


def test_recording_a_batch_skips_rows_finished_elsewhere_and_moves_publications(sessions) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with sessions.begin() as session:
        ids = sorted(session.scalars(select(models.Delivery.id)))
        assert mark_done(session, ids[0], "theirs", now)  # another worker finished this row first
    statements: list[str] = []
    event.listen(sessions.kw["bind"], "before_cursor_execute", lambda *args: statements.append(args[2]))
    with sessions.begin() as session:
        done = mark_done_many(session, [(i, f"ref-{i}") for i in ids], now)
    assert done == set(ids[1:])
    assert len(statements) == 3  # read the pending rows, finish them, upsert publications
    with sessions.begin() as session:  # a later revision of the first story moves its publication
        story = session.get(models.Story, session.get(models.Delivery, ids[1]).story_id)
        story.revision = 2
        session.add(models.Delivery(story_id=story.id, target="local", revision=2, state="pending", attempts=0,
                                    next_attempt_at=now, created_at=now))
        session.flush()
        newest = session.scalar(select(func.max(models.Delivery.id)))
        assert mark_done_many(session, [(newest, "moved")], now) == {newest}
    with sessions() as session:
        refs = {d.id: d.remote_ref for d in session.scalars(select(models.Delivery))}
        published = {p.story_id: (p.remote_ref, p.revision) for p in session.scalars(select(models.Publication))}
        first_story = session.get(models.Delivery, ids[0]).story_id
    assert refs[ids[0]] == "theirs" and published[first_story] == ("theirs", 1)
    assert [refs[i] for i in ids[1:]] == [f"ref-{i}" for i in ids[1:]]
    assert published[story.id] == ("moved", 2)
    assert len(published) == STORIES


class BrokenFlush(CountingTarget):
    """A target whose rendering always fails with an unexpected error."""

    local = True

    def flush(self, archive: Archive) -> None:
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")


def test_an_unexpected_error_fails_that_row_and_the_pass_goes_on(sessions, caplog) -> None:  # type: ignore[no-untyped-def]
    """A bug or bad data in one delivery (not a TargetError) is a retried failure of that row,
    logged with its traceback; a target whose flush raises does not starve the targets after it."""
    first, second = LocalTarget(), LocalCountingTarget("second")
    with sessions.begin() as session:
        story_ids = sorted(session.scalars(select(models.Story.id)))
        session.add_all(models.Delivery(story_id=i, target="second", revision=1, state="pending", attempts=0,
                                        next_attempt_at=utcnow(), created_at=utcnow()) for i in story_ids)
    first.fail[story_ids[1]] = ValueError("All strings must be XML compatible")
    broken = BrokenFlush("broken")
    report = publish_pending(sessions, {"local": first, "broken": broken, "second": second}, "worker", batch=100)
    assert report.delivered("local") == STORIES - 1 and report.delivered("second") == STORIES
    assert report.counts[("local", "retry")] == 1 and report.counts[("broken", "flush-failed")] == 1
    assert second.flushes == 1
    with sessions() as session:
        row = session.scalars(select(models.Delivery).where(models.Delivery.story_id == story_ids[1],
                                                            models.Delivery.target == "local")).one()
    assert row.state == "pending" and row.attempts == 1 and row.lease_owner is None
    assert row.last_error == "internal error: ValueError: All strings must be XML compatible"
    assert "Traceback" in caplog.text and "UnicodeEncodeError" in caplog.text


def test_stories_whose_content_was_pruned_leave_the_archive(sessions) -> None:  # type: ignore[no-untyped-def]
    """Retention empties old items: their stories are no entries (archive pages are not left empty)."""
    from store.queries import TargetArchive
    from store.retention import prune

    publish_pending(sessions, {"local": LocalTarget()}, "worker", batch=100)
    archive = TargetArchive(sessions, "local")
    assert archive.count() == STORIES and len(archive.entries(100)) == STORIES
    with sessions.begin() as session:
        assert prune(session, timedelta(days=1), now=utcnow() + timedelta(days=2)) == STORIES
    assert archive.count() == 0 and archive.entries(100) == [] and archive.versions(100) == []

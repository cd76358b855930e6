"""Read queries that build the values other stages consume (Entry for targets)."""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import Entry, Item
from store import models


def entry_id(story_id: int) -> str:
    """The stable id of a story in everything feedrelay publishes."""
    return f"tag:feedrelay.invalid,2026:story/{story_id}"


def entry_for(session: Session, story_id: int) -> Entry | None:
    """The current revision of a story as a target receives it, or None if it has no item."""
    story = session.get(models.Story, story_id)
    if story is None or story.representative_item_id is None:
        return None
    row = session.get(models.Item, story.representative_item_id)
    if row is None or row.data is None:
        return None
    feed = session.get(models.Feed, row.feed_id)
    copies = session.scalar(select(func.count()).where(models.Item.story_id == story_id)) or 1
    return Entry(
        story_id=story.id,
        revision=story.revision,
        entry_id=entry_id(story.id),
        item=Item.from_json(row.data),
        source_title=(feed.title or feed.name) if feed else "",
        source_url=feed.site_url if feed else None,
        updated=story.updated_at,
        retracted=story.retracted,
        copies=copies,
    )


class TargetArchive:
    """The stories a target holds (delivered at least once, not retracted), newest first."""

    def __init__(self, sessions: sessionmaker[Session], target: str) -> None:
        self.sessions = sessions
        self.target = target

    def _live(self):  # type: ignore[no-untyped-def]
        delivered = exists().where(
            models.Delivery.story_id == models.Story.id,
            models.Delivery.target == self.target,
            models.Delivery.state == "done",
        )
        return select(models.Story.id).where(delivered, models.Story.retracted.is_(False))

    def count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(self._live().subquery())) or 0

    def _newest_first(self, limit: int, offset: int):  # type: ignore[no-untyped-def]
        return self._live().order_by(models.Story.updated_at.desc(), models.Story.id.desc()).limit(limit).offset(offset)

    def entries(self, limit: int, offset: int = 0) -> list[Entry]:
        with self.sessions() as session:
            ids = session.scalars(self._newest_first(limit, offset)).all()
            return [e for e in (entry_for(session, i) for i in ids) if e is not None]

    def versions(self, limit: int, offset: int = 0) -> list[tuple[int, int]]:
        with self.sessions() as session:
            rows = session.execute(self._newest_first(limit, offset).add_columns(models.Story.revision))
            return [(story_id, revision) for story_id, revision in rows]

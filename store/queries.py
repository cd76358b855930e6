"""Read queries that build the values other stages consume (Entry for targets)."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import Entry, Item
from store import models


def entry_id(story_id: int) -> str:
    """The stable id of a story in everything feedrelay publishes."""
    return f"tag:feedrelay.invalid,2026:story/{story_id}"


def _entry_rows():  # type: ignore[no-untyped-def]
    """Story, representative item, source feed and copy count in one query (filter on story id)."""
    copies = (select(func.count()).where(models.Item.story_id == models.Story.id)
              .correlate(models.Story).scalar_subquery())
    return (
        select(models.Story.id, models.Story.revision, models.Story.updated_at, models.Story.retracted,
               models.Item.data, models.Feed.title, models.Feed.name, models.Feed.site_url,
               copies.label("copies"))
        .join(models.Item, models.Item.id == models.Story.representative_item_id)
        .outerjoin(models.Feed, models.Feed.id == models.Item.feed_id)
    )


_ENTRIES = _entry_rows().where(models.Story.id.in_(bindparam("story_ids", expanding=True)))


def _entry(row) -> Entry:  # type: ignore[no-untyped-def]
    return Entry(
        story_id=row.id,
        revision=row.revision,
        entry_id=entry_id(row.id),
        item=Item.from_json(row.data),
        source_title=(row.title or row.name) if row.name is not None else "",
        source_url=row.site_url,
        updated=row.updated_at,
        retracted=row.retracted,
        copies=row.copies or 1,
    )


def entries_for(session: Session, story_ids: list[int]) -> list[Entry]:
    """The current revision of each story as a target receives it (in the order given, skipping
    stories without an item), one query."""
    if not story_ids:
        return []
    rows = {row.id: row for row in session.execute(_ENTRIES, {"story_ids": story_ids}) if row.data is not None}
    return [_entry(rows[i]) for i in story_ids if i in rows]


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
        # Retention pruned a story's content: it is no entry any more (and no empty archive page).
        has_content = exists().where(models.Item.id == models.Story.representative_item_id,
                                     models.Item.data.is_not(None))
        return select(models.Story.id).where(delivered, has_content, models.Story.retracted.is_(False))

    def count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(self._live().subquery())) or 0

    def _newest_first(self, limit: int, offset: int):  # type: ignore[no-untyped-def]
        return self._live().order_by(models.Story.updated_at.desc(), models.Story.id.desc()).limit(limit).offset(offset)

    def entries(self, limit: int, offset: int = 0) -> list[Entry]:
        with self.sessions() as session:
            ids = session.scalars(self._newest_first(limit, offset)).all()
            return entries_for(session, list(ids))

    def versions(self, limit: int, offset: int = 0) -> list[tuple[int, int]]:
        with self.sessions() as session:
            rows = session.execute(self._newest_first(limit, offset).add_columns(models.Story.revision))
            return [(story_id, revision) for story_id, revision in rows]

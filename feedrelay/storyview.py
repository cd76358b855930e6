"""Read-only views of stored stories for people: copies, why they merged, where they went.

`explain` and the dashboard both read stories through these values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from feedrelay.config import Config
from store import models
from store.identity import url_key


@dataclass
class CopyView:
    """One item of a story: which feed carried it and why it joined (None for the story's first)."""

    item_id: int
    feed: str
    title: str
    link: str | None
    status: str
    first_seen: datetime
    representative: bool
    reason: str | None = None
    score: float | None = None
    detail: str | None = None
    litter: list[str] = field(default_factory=list)


@dataclass
class DeliveryView:
    """One story revision's delivery to one target."""

    target: str
    revision: int
    state: str
    attempts: int
    last_error: str | None
    remote_ref: str | None
    done_at: datetime | None


@dataclass
class StoryView:
    """A story with its copies (oldest first) and deliveries (newest revision first)."""

    id: int
    title: str
    revision: int
    retracted: bool
    created_at: datetime
    updated_at: datetime
    copies: list[CopyView]
    deliveries: list[DeliveryView]

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass
class TargetView:
    """A target's delivery state: rows per state, the latest success and the latest error."""

    name: str
    type: str
    enabled: bool
    states: dict[str, int]
    last_done: datetime | None
    last_error: str | None


def story_view(session: Session, story_id: int) -> StoryView | None:
    """The story `story_id` with every copy, merge reason and delivery; None if unknown."""
    story = session.get(models.Story, story_id)
    if story is None:
        return None
    feeds = dict(session.execute(select(models.Feed.id, models.Feed.name)).all())
    merges = {m.item_id: m for m in session.scalars(select(models.Merge).where(models.Merge.story_id == story_id))}
    copies = []
    for item in session.scalars(select(models.Item).where(models.Item.story_id == story_id)
                                .order_by(models.Item.first_seen, models.Item.id)):
        merge = merges.get(item.id)
        copies.append(CopyView(
            item_id=item.id, feed=feeds.get(item.feed_id, "?"), title=item.title, link=item.link,
            status=item.status, first_seen=item.first_seen,
            representative=item.id == story.representative_item_id,
            reason=merge.reason if merge else None, score=merge.score if merge else None,
            detail=merge.detail if merge else None, litter=list((item.data or {}).get("litter") or []),
        ))
    deliveries = [
        DeliveryView(d.target, d.revision, d.state, d.attempts, d.last_error, d.remote_ref, d.done_at)
        for d in session.scalars(select(models.Delivery).where(models.Delivery.story_id == story_id)
                                 .order_by(models.Delivery.revision.desc(), models.Delivery.target))
    ]
    return StoryView(story.id, story.title, story.revision, story.retracted, story.created_at, story.updated_at,
                     copies, deliveries)


def recent_stories(session: Session, limit: int = 30) -> list[StoryView]:
    """The most recently changed stories, newest first."""
    ids = session.scalars(select(models.Story.id).order_by(models.Story.updated_at.desc(), models.Story.id.desc())
                          .limit(limit)).all()
    return [view for view in (story_view(session, i) for i in ids) if view is not None]


def find_items(session: Session, item_or_url: str) -> list[models.Item]:
    """Stored items by id, or by URL (link, canonical link, the original a copy credits, or GUID)."""
    if item_or_url.isdigit():
        item = session.get(models.Item, int(item_or_url))
        return [item] if item else []
    key = url_key(item_or_url)
    conditions = [models.Item.link == item_or_url, models.Item.guid == item_or_url]
    if key:
        conditions += [models.Item.url_hash == key, models.Item.source_hash == key]
    return list(session.scalars(select(models.Item).where(or_(*conditions)).order_by(models.Item.id)))


def target_views(session: Session, config: Config) -> list[TargetView]:
    """Every configured target's delivery state, in config order."""
    counts: dict[str, dict[str, int]] = {}
    for target, state, count in session.execute(
            select(models.Delivery.target, models.Delivery.state, func.count())
            .group_by(models.Delivery.target, models.Delivery.state)):
        counts.setdefault(target, {})[state] = count
    views = []
    for target in config.targets:
        last_done = session.scalar(select(func.max(models.Delivery.done_at))
                                   .where(models.Delivery.target == target.name))
        last_error = session.scalar(
            select(models.Delivery.last_error)
            .where(models.Delivery.target == target.name, models.Delivery.last_error.is_not(None),
                   models.Delivery.state != "done")
            .order_by(models.Delivery.id.desc()).limit(1))
        views.append(TargetView(target.name, target.type, target.enabled, counts.get(target.name, {}),
                                last_done, last_error))
    return views


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value

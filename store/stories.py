"""Storing a fetched batch of items: per-feed identity, stories, revisions, and the outbox.

Everything one batch changes is written in the caller's transaction, outbox rows included, so a
crash loses nothing and a retry duplicates nothing. Races between workers are settled by the
database's unique keys (items per feed, story keys, deliveries per revision).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedrelay.items import Item, utcnow
from store import models
from store.identity import content_hash, exact_keys, per_feed_keys, text_hash, url_key
from store.upsert import insert_ignore

TargetFilter = Callable[[Item, models.Feed], bool]


@dataclass
class StoreReport:
    """What one batch did."""

    new: int = 0
    duplicates: int = 0
    updated: int = 0
    unchanged: int = 0
    filtered: int = 0
    merges: list[tuple[int, int, str, float | None]] = field(default_factory=list)


@dataclass
class StorePolicy:
    """How stories are formed and who receives them."""

    targets: dict[str, TargetFilter] = field(default_factory=dict)
    representative: str = "earliest"
    priorities: dict[int, int] = field(default_factory=dict)
    near_duplicate: Callable[[Session, Item, models.Item], tuple[int, float, str] | None] | None = None


def store_items(session: Session, feed: models.Feed, items: Sequence[Item], policy: StorePolicy,
                filtered: Sequence[str | None] | None = None) -> StoreReport:
    """Store one fetched batch of a feed's items; `filtered[i]` is a filter reason or None."""
    report = StoreReport()
    now = utcnow()
    keys = per_feed_keys(list(items), feed.guid_mode)
    existing = {
        row.key: row
        for row in session.scalars(
            select(models.Item).where(models.Item.feed_id == feed.id, models.Item.key.in_(keys))
        )
    }
    for index, (item, key) in enumerate(zip(items, keys, strict=True)):
        reason = filtered[index] if filtered else None
        row = existing.get(key)
        if row is not None:
            _refresh(session, row, item, feed, policy, report, now)
            continue
        row = _insert_item(session, feed, item, key, now, reason)
        if row is None:  # another worker stored it a moment ago
            report.unchanged += 1
            continue
        if reason:
            report.filtered += 1
            continue
        _assign_story(session, row, item, feed, policy, report, now)
    return report


def _insert_item(session: Session, feed: models.Feed, item: Item, key: str, now: datetime,
                 filter_reason: str | None) -> models.Item | None:
    values = dict(
        feed_id=feed.id, key=key, guid=item.guid, link=item.link, url_hash=url_key(item.link),
        source_hash=url_key(item.source_link), content_hash=content_hash(item),
        text_hash=text_hash(item.text), title=item.title, data=item.to_json(),
        status="filtered" if filter_reason else "active", filter_reason=filter_reason, revision=1,
        published=item.date, first_seen=now, last_seen=now,
    )
    if not insert_ignore(session, models.Item, values, ("feed_id", "key")):
        return None
    return session.scalars(
        select(models.Item).where(models.Item.feed_id == feed.id, models.Item.key == key)
    ).one()


def _refresh(session: Session, row: models.Item, item: Item, feed: models.Feed, policy: StorePolicy,
             report: StoreReport, now: datetime) -> None:
    """A known item: unchanged writes nothing; changed content is a new revision."""
    new_hash = content_hash(item)
    if new_hash == row.content_hash or row.status in ("filtered", "pruned"):
        report.unchanged += 1
        return
    row.content_hash = new_hash
    row.data = item.to_json()
    row.title = item.title
    row.text_hash = text_hash(item.text)
    row.revision += 1
    row.last_seen = now
    report.updated += 1
    if row.story_id is None:
        return
    story = session.get(models.Story, row.story_id, with_for_update=True)
    if story is not None and story.representative_item_id == row.id:
        bump_revision(session, story, feed, item, policy, now, retracted=item.deleted)


def _assign_story(session: Session, row: models.Item, item: Item, feed: models.Feed,
                  policy: StorePolicy, report: StoreReport, now: datetime) -> None:
    keys = exact_keys(item)
    match = _find_by_keys(session, [k for k, _ in keys])
    if match is None and policy.near_duplicate is not None:
        match = policy.near_duplicate(session, item, row)
    if match is not None:
        story_id, score, reason = match
        _join_story(session, row, item, feed, story_id, reason, score, policy, report, now)
        _claim_keys(session, keys, story_id)
        return
    story = models.Story(representative_item_id=row.id, revision=1, title=item.title,
                         created_at=now, updated_at=now)
    session.add(story)
    session.flush()
    winner = _claim_keys(session, keys, story.id)
    if winner is not None and winner != story.id:
        # Another worker created this story concurrently: join theirs instead.
        session.delete(story)
        session.flush()
        _join_story(session, row, item, feed, winner, "race:exact-key", 1.0, policy, report, now)
        _claim_keys(session, keys, winner)
        return
    row.story_id = story.id
    report.new += 1
    enqueue(session, story, item, feed, policy, now)


def _find_by_keys(session: Session, keys: list[str]) -> tuple[int, float, str] | None:
    if not keys:
        return None
    found = dict(session.execute(
        select(models.StoryKey.key, models.StoryKey.story_id).where(models.StoryKey.key.in_(keys))
    ).all())
    for key in keys:  # keys are in order of strength
        if key in found:
            reason = {"u": "url", "t": "text-hash"}[key[0]]
            return found[key], 1.0, reason
    return None


def _claim_keys(session: Session, keys: list[tuple[str, str]], story_id: int) -> int | None:
    """Give the story every key nobody owns; return the owner of the first key."""
    for key, _ in keys:
        insert_ignore(session, models.StoryKey, {"key": key, "story_id": story_id}, ("key",))
    if not keys:
        return None
    return session.scalar(select(models.StoryKey.story_id).where(models.StoryKey.key == keys[0][0]))


def _join_story(session: Session, row: models.Item, item: Item, feed: models.Feed, story_id: int,
                reason: str, score: float | None, policy: StorePolicy, report: StoreReport,
                now: datetime) -> None:
    row.story_id = story_id
    session.add(models.Merge(story_id=story_id, item_id=row.id, reason=reason, score=score,
                             detail=f"{feed.name}: {item.link or item.guid or item.title}", created_at=now))
    report.duplicates += 1
    report.merges.append((row.id, story_id, reason, score))
    if policy.representative != "priority":
        return
    story = session.get(models.Story, story_id, with_for_update=True)
    if story is None or story.representative_item_id is None:
        return
    current = session.get(models.Item, story.representative_item_id)
    if current is not None and policy.priorities.get(feed.id, 0) > policy.priorities.get(current.feed_id, 0):
        story.representative_item_id = row.id
        bump_revision(session, story, feed, item, policy, now)


def bump_revision(session: Session, story: models.Story, feed: models.Feed, item: Item,
                  policy: StorePolicy, now: datetime, *, retracted: bool = False) -> None:
    """Make a new revision of `story` and queue it for every target that has the story."""
    story.revision += 1
    story.updated_at = now
    story.title = item.title
    story.retracted = retracted
    enqueue(session, story, item, feed, policy, now)


def enqueue(session: Session, story: models.Story, item: Item, feed: models.Feed, policy: StorePolicy,
            now: datetime) -> None:
    """Write outbox rows for this story revision, in the same transaction.

    A target takes the revision if its filter accepts the item, or if it already holds an
    earlier revision of the story (an update must reach whoever has the story).
    """
    session.flush()
    holders = set(session.scalars(
        select(models.Delivery.target).where(models.Delivery.story_id == story.id).distinct()
    )) if story.revision > 1 else set()
    for target, accepts in policy.targets.items():
        if target in holders or accepts(item, feed):
            insert_ignore(session, models.Delivery, dict(
                story_id=story.id, target=target, revision=story.revision, state="pending",
                attempts=0, next_attempt_at=now, created_at=now,
            ), ("story_id", "target", "revision"))

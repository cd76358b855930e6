"""Storing a fetched batch of items: per-feed identity, stories, revisions, deletions, the outbox.

Everything one batch changes is written in the caller's transaction, outbox rows included, so a
crash loses nothing and a retry duplicates nothing. Races between workers are settled by the
database's unique keys (items per feed, story keys, deliveries per revision).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from feedrelay.items import Item, utcnow
from ingest.urls import canonical_url
from store import direct, models
from store.direct import Statement
from store.identity import (
    BOILERPLATE_TITLE_OVERLAP,
    content_hash,
    digest,
    exact_keys,
    per_feed_keys,
    plain_title,
    text_hash,
    text_words,
    title_overlap,
    titles_agree,
    titles_conflict,
    url_key,
)

if TYPE_CHECKING:
    from store.neardup import Analysis

TargetFilter = Callable[[Item, models.Feed], bool]
# Row lock for changing a story: FOR NO KEY UPDATE on PostgreSQL, which does not conflict with
# the key-share locks other workers' inserts of items and deliveries take on the story they
# reference (FOR UPDATE does, and deadlocked concurrent batches).
NO_KEY_UPDATE = {"key_share": True}
Match = tuple[int, float, str]
CONTRADICTION_WORDS = 40
CONTRADICTION_CONTAINMENT = 0.2
SHORT_TEXT_WORDS = 5
AGREEMENT_CONTAINMENT = 0.5
KEY_CHUNK = 500  # keys per owner lookup: far below any backend's parameter limit
# Hot statements as Core, built once (the ORM statement cost more to build than to run).
_KEYS = models.StoryKey.__table__
_ITEMS = models.Item.__table__
_STORIES = models.Story.__table__
_KEY_OWNERS = select(_KEYS.c.key, _KEYS.c.story_id).where(_KEYS.c.key.in_(bindparam("keys", expanding=True)))
_KEY_OWNER = select(_KEYS.c.story_id).where(_KEYS.c.key == bindparam("key"))
# The statements run for every new item are driver-level SQL (see store.direct).
_INSERT_STORY = direct.insert(_STORIES, ("representative_item_id", "revision", "retracted", "title", "created_at",
                                         "updated_at"), then="RETURNING id")
_INSERT_MERGE = direct.insert(models.Merge.__table__, ("story_id", "item_id", "reason", "score", "detail",
                                                      "created_at"))
_SET_STORY = Statement("UPDATE items SET story_id = ? WHERE id = ?", [_ITEMS.c.story_id, _ITEMS.c.id])
_ENQUEUE = direct.insert(models.Delivery.__table__, ("story_id", "target", "revision", "state", "attempts",
                                                    "next_attempt_at", "created_at"),
                         then="ON CONFLICT (story_id, target, revision) DO NOTHING")
_ITEM_COLUMNS = ("feed_id", "key", "guid", "link", "url_hash", "source_hash", "content_hash", "raw_hash", "text_hash",
                 "title", "data", "status", "filter_reason", "revision", "published", "first_seen", "last_seen")
_KNOWN = select(_ITEMS.c.key, _ITEMS.c.raw_hash, _ITEMS.c.data).where(
    _ITEMS.c.feed_id == bindparam("feed_id"), _ITEMS.c.key.in_(bindparam("keys", expanding=True)),
    _ITEMS.c.raw_hash.in_(bindparam("hashes", expanding=True)), _ITEMS.c.status.in_(("active", "filtered")))
_DELETE_STORY = delete(_STORIES).where(_STORIES.c.id == bindparam("story_id"))
_EXISTING = select(models.Item).where(models.Item.feed_id == bindparam("feed_id"),
                                      models.Item.key.in_(bindparam("keys", expanding=True)))
_KNOWN_LINKS = select(func.count(func.distinct(_ITEMS.c.url_hash))).where(
    _ITEMS.c.feed_id == bindparam("feed_id"), _ITEMS.c.url_hash.in_(bindparam("links", expanding=True)))
_STORY_TEXTS = (select(_ITEMS.c.feed_id, _ITEMS.c.title, _ITEMS.c.data)
                .where(_ITEMS.c.story_id == bindparam("story_id"), _ITEMS.c.status == "active").limit(8))
_RETRACTED = select(_STORIES.c.retracted).where(_STORIES.c.id == bindparam("story_id"))
# A story's representative and its feed, the story row locked as for a change (see NO_KEY_UPDATE).
_STORY_STATE = (select(_STORIES.c.revision, _STORIES.c.retracted, _STORIES.c.representative_item_id)
                .where(_STORIES.c.id == bindparam("story_id")).with_for_update(of=_STORIES, **NO_KEY_UPDATE))
_ITEM_DATA = select(_ITEMS.c.data).where(_ITEMS.c.id == bindparam("item_id"))
_HOLDERS = select(models.Delivery.target).where(models.Delivery.story_id == bindparam("story_id")).distinct()
_REPRESENTATIVE = (
    select(_STORIES.c.representative_item_id, _STORIES.c.retracted, _ITEMS.c.feed_id)
    .outerjoin(_ITEMS, _ITEMS.c.id == _STORIES.c.representative_item_id)
    .where(_STORIES.c.id == bindparam("story_id"))
    .with_for_update(of=_STORIES, **NO_KEY_UPDATE)
)


class NewRow(NamedTuple):
    """An item row inserted by this batch (its id and feed): all story assignment needs."""

    id: int
    feed_id: int


class StoryRef(NamedTuple):
    """What queueing a revision needs of a story."""

    id: int
    revision: int
    retracted: bool


class KeyOwners:
    """Which story owns each cross-feed key: read in one query for a whole batch, then kept
    current as the batch claims keys (a key another worker claimed meanwhile is asked again)."""

    def __init__(self, session: Session, keys: Sequence[str]) -> None:
        self.session = session
        self.owners: dict[str, int] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), KEY_CHUNK):
            chunk = wanted[start:start + KEY_CHUNK]
            self.owners.update((key, story_id) for key, story_id in session.execute(_KEY_OWNERS, {"keys": chunk}))
        self.known = set(wanted)

    def owner(self, key: str) -> int | None:
        """The story owning `key`, or None."""
        if key not in self.known:
            found = self.session.execute(_KEY_OWNER, {"key": key}).scalar()
            if found is not None:
                self.owners[key] = found
            self.known.add(key)
        return self.owners.get(key)

    def claim(self, keys: Sequence[str], story_id: int) -> None:
        """Give the story every key nobody owns (one statement); a key this claim did not win
        belongs to someone else: its owner is asked again when needed."""
        if not keys:
            return
        claim = direct.insert(_KEYS, ("key", "story_id"), rows=len(keys), then="ON CONFLICT (key) DO NOTHING RETURNING key")
        won = {row[0] for row in claim.run(self.session, [value for key in keys for value in (key, story_id)])}
        for key in keys:
            if key in won:
                self.owners[key] = story_id
                self.known.add(key)
            elif key not in self.owners:
                self.known.discard(key)

    def forget_story(self, story_id: int) -> None:
        """A story this batch created was deleted (its keys with it)."""
        for key in [k for k, owner in self.owners.items() if owner == story_id]:
            del self.owners[key]
            self.known.discard(key)


class NearDuplicateFinder(Protocol):
    """What `StorePolicy.near_duplicate` provides (`store.neardup.NearDuplicates`)."""

    def find(self, session: Session, item: Item, row: models.Item) -> Match | None: ...

    def remember(self, session: Session, row: models.Item, item: Item, *, replace: bool = True) -> None: ...

    def forget(self, session: Session, item_id: int) -> None: ...

    def batch(self, session: Session, texts: Sequence[str],
              analysed: Mapping[str, Analysis] | None = None) -> NearDuplicateFinder: ...

    def flush(self, session: Session) -> None: ...


@dataclass
class StoreReport:
    """What one batch did."""

    new: int = 0
    duplicates: int = 0
    updated: int = 0
    unchanged: int = 0
    filtered: int = 0
    retracted: int = 0
    merges: list[tuple[int, int, str, float | None]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class StorePolicy:
    """How stories are formed and who receives them.

    `complete_feeds` holds the ids of feeds marked `complete: true`: an item that vanishes from
    such a feed is a deletion at the source. A `selective` target that refused a story's first
    copy takes the story when a copy it accepts joins.
    """

    targets: dict[str, TargetFilter] = field(default_factory=dict)
    selective: frozenset[str] = frozenset()  # targets taking stories some copy qualifies for
    vetoes: dict[str, Callable[[Item], bool]] = field(default_factory=dict)  # a target's exclude_keywords
    representative: str = "earliest"
    priorities: dict[int, int] = field(default_factory=dict)
    near_duplicate: NearDuplicateFinder | None = None
    complete_feeds: set[int] = field(default_factory=set)


def store_items(session: Session, feed: models.Feed, items: Sequence[Item], policy: StorePolicy,
                filtered: Sequence[str | None] | None = None, *,
                deleted: Sequence[str] = (), now: datetime | None = None,
                raw_hashes: Sequence[str | None] | None = None, beyond: Sequence[Item] = (),
                analysed: Mapping[str, Analysis] | None = None) -> StoreReport:
    """Store one fetched batch of a feed's items; `filtered[i]` is a filter reason or None.

    `deleted` holds the refs of Atom tombstones (RFC 6721) the document carried; `now` is the
    time recorded (default: the clock); `raw_hashes[i]` is item i's `identity.raw_hash`, kept
    so that the next fetch can skip cleaning it when it comes back unchanged (`known_items`).
    `beyond` are the document's items past the feed's `max_items` (parsed, not stored): for a
    complete feed they are still in it, so not retracted. `analysed` holds texts already
    fingerprinted (`store.neardup.analyse`, done before the transaction).
    """
    report = StoreReport()
    now = now or utcnow()
    items = list(items)
    keys = per_feed_keys(items, feed.guid_mode)
    existing = _existing(session, feed, keys)
    if _check_guid_mode(session, feed, items, bool(existing), report):
        keys = per_feed_keys(items, feed.guid_mode)
        existing = _existing(session, feed, keys)
    shared = _links_shared_in_batch(items)
    reasons = list(filtered) if filtered else [None] * len(items)
    hashes = list(raw_hashes) if raw_hashes else [None] * len(items)
    fresh = [index for index, key in enumerate(keys) if key not in existing]
    inserted = _insert_items(session, feed, [(items[i], keys[i], reasons[i], hashes[i]) for i in fresh], now)
    owners = KeyOwners(session, [key for i in fresh if not reasons[i]
                                 for key, _ in exact_keys(items[i]) if key not in shared])
    if policy.near_duplicate is not None:  # one index read for the batch's new items, one write
        policy = replace(policy, near_duplicate=policy.near_duplicate.batch(
            session, [items[i].text for i in fresh if not reasons[i]], analysed))
    for index, (item, key) in enumerate(zip(items, keys, strict=True)):
        row = existing.get(key)
        if row is not None and _guid_reused(row, item):
            # The stored article keeps its row (and story) under a retired key; this one is new.
            row.key = f"{row.key}~{row.id}"
            session.flush()
            inserted.update(_insert_items(session, feed, [(item, key, reasons[index], hashes[index])], now))
            report.warnings.append(f"GUID {item.guid!r} now names another article ({item.link}): stored as a new one")
            row = None
        if row is not None:
            if hashes[index] is not None and row.raw_hash != hashes[index]:
                row.raw_hash = hashes[index]
            if row.status == "filtered" and not reasons[index] and not item.deleted:
                # A filter no longer holds it back (the source dropped "Sponsored:", a rule went):
                # stored as it comes now, it joins or makes a story like a new item.
                _rewrite(row, item, now)
                row.status, row.filter_reason = "active", None
                _assign_story(session, owners, NewRow(row.id, feed.id), item, feed, policy, report, now, shared)
                continue
            _refresh(session, owners, row, item, feed, policy, report, now, shared)
            continue
        item_id = inserted.pop(key, None)
        if item_id is None:  # another worker stored it a moment ago
            report.unchanged += 1
            continue
        if reasons[index]:
            report.filtered += 1
            continue
        _assign_story(session, owners, NewRow(item_id, feed.id), item, feed, policy, report, now, shared)
    if deleted:
        _apply_tombstones(session, feed, deleted, policy, report, now)
    if feed.id in policy.complete_feeds and items:
        for row in _vanished(session, feed, items, keys, beyond):
            retract(session, row, feed, policy, now)
            report.retracted += 1
    if policy.near_duplicate is not None:
        policy.near_duplicate.flush(session)
    return report


def _guid_reused(row: models.Item, item: Item) -> bool:
    """Whether the stored item's GUID now names another article (a site numbering its GUIDs gave
    a deleted post's number to a new one): a new permalink, a title with no words in common, and
    texts, long enough to tell, that plainly disagree (for an item whose text retention pruned,
    the permalink and title alone). Anything less is a revision."""
    # (checked on every stored item a changed document lists: the plain comparisons come first)
    if not row.key.startswith("g:") or item.link == row.link or url_key(item.link) in (row.url_hash, None):
        return False
    if title_overlap(item.title, row.title or "") >= BOILERPLATE_TITLE_OVERLAP:
        return False
    if not row.data:  # retention pruned its text: the new permalink and title must do
        return row.status == "pruned"
    mine, theirs = _word_set(item.text), _word_set(row.data.get("text") or "")
    shorter = min(len(mine), len(theirs))
    return shorter >= CONTRADICTION_WORDS and len(mine & theirs) / shorter < CONTRADICTION_CONTAINMENT


def _vanished(session: Session, feed: models.Feed, items: list[Item], keys: list[str], beyond: Sequence[Item]
              ) -> list[models.Item]:
    """A complete feed's active items that the document no longer lists."""
    if not beyond:
        return list(session.scalars(select(models.Item).where(
            models.Item.feed_id == feed.id, models.Item.status == "active", models.Item.key.not_in(keys))))
    if feed.guid_mode == "hash":  # keys made from clean text: the uncleaned rest can't be matched
        return []
    present = set(keys) | set(per_feed_keys([*items, *beyond], feed.guid_mode)[len(items):])
    return [row for row in session.scalars(select(models.Item).where(
        models.Item.feed_id == feed.id, models.Item.status == "active")) if row.key not in present]


def known_items(session: Session, feed_id: int, raw: Sequence[Item], raw_hashes: Sequence[str],
                guid_mode: str) -> dict[int, Item]:
    """The clean items already stored for those of `raw` (parsed, not cleaned) that come back
    exactly as they were stored, by position: cleaning them again would give the same values.

    A match needs the item's per-feed key and its `raw_hash` (which names the cleaning rules and
    version); a deleted item coming back, or one whose content was pruned, is cleaned as new.
    """
    if guid_mode == "hash" or not raw:  # hash keys are made from the clean text
        return {}
    keys = per_feed_keys(list(raw), guid_mode)
    stored: dict[str, tuple[str | None, dict | None]] = {}
    for start in range(0, len(keys), KEY_CHUNK):
        rows = session.execute(_KNOWN, {"feed_id": feed_id, "keys": keys[start:start + KEY_CHUNK],
                                        "hashes": list(raw_hashes[start:start + KEY_CHUNK])})
        stored.update((key, (raw_hash, data)) for key, raw_hash, data in rows)
    known = {}
    for index, (key, hashed) in enumerate(zip(keys, raw_hashes, strict=True)):
        raw_hash, data = stored.get(key, (None, None))
        if raw_hash == hashed and data is not None:
            known[index] = Item.from_json(data)
    return known


def _links_shared_in_batch(items: list[Item]) -> set[str]:
    """URL keys that several items of one document carry (comment anchors, a link post pointing
    at the feed itself, one "source" for everything): no article's identity."""
    seen: dict[str, int] = {}
    for item in items:
        for key in {url_key(item.link), url_key(item.source_link)} - {None}:
            seen[key] = seen.get(key, 0) + 1
    return {key for key, count in seen.items() if count > 1}


def _existing(session: Session, feed: models.Feed, keys: list[str]) -> dict[str, models.Item]:
    """The feed's stored rows among `keys`, by key."""
    rows: dict[str, models.Item] = {}
    for start in range(0, len(keys), KEY_CHUNK):
        rows.update((row.key, row) for row in session.scalars(
            _EXISTING, {"feed_id": feed.id, "keys": keys[start:start + KEY_CHUNK]}))
    return rows


def _check_guid_mode(session: Session, feed: models.Feed, items: list[Item], any_known: bool,
                     report: StoreReport) -> bool:
    """Switch a feed to link (or hash) identity when its GUIDs prove unusable; True if it did.

    `any_known`: some item's key under the current mode is stored already.
    """
    if feed.guid_mode != "guid" or len(items) < 2:
        return False
    guids = [item.guid for item in items if item.guid]
    reason = None
    if len(guids) >= 2 and len(set(guids)) <= len(guids) // 2:
        reason = f"{len(guids) - len(set(guids))} of {len(guids)} GUIDs repeated in one document"
    elif len(guids) == len(items) and not any_known:
        links = list({url_key(item.link) for item in items} - {None})
        known = sum(session.scalar(_KNOWN_LINKS, {"feed_id": feed.id, "links": links[start:start + KEY_CHUNK]})
                    for start in range(0, len(links), KEY_CHUNK)) if len(links) == len(items) else 0
        if links and known == len(links):
            reason = "GUIDs change on every fetch (all GUIDs new, all links known)"
    if reason is None:
        return False
    links = [canonical_url(item.link) for item in items]
    mode = "link" if all(links) and len(set(links)) == len(links) else "hash"
    warning = f"identity switched from GUID to {mode}: {reason}"
    feed.guid_mode = mode
    feed.warnings = [*(feed.warnings or []), warning]
    report.warnings.append(warning)
    _rekey(session, feed, items, per_feed_keys(items, mode))
    return True


def _rekey(session: Session, feed: models.Feed, items: list[Item], keys: list[str]) -> None:
    """Move the stored rows of these items (found by link) to their keys under the new mode."""
    taken = set(session.scalars(select(models.Item.key).where(
        models.Item.feed_id == feed.id, models.Item.key.in_(keys))))
    for item, key in zip(items, keys, strict=True):
        link_key = url_key(item.link)
        if key in taken or link_key is None:
            continue
        row = session.scalars(select(models.Item).where(
            models.Item.feed_id == feed.id, models.Item.url_hash == link_key).order_by(models.Item.id).limit(1)
        ).first()
        if row is not None:
            row.key = key
            taken.add(key)
    session.flush()


def _insert_items(session: Session, feed: models.Feed, fresh: list[tuple[Item, str, str | None, str | None]],
                  now: datetime) -> dict[str, int]:
    """Insert the batch's new items in one statement; the id of each row that went in, by key
    (a key missing: another worker stored that item a moment ago)."""
    rows = [dict(
        feed_id=feed.id, key=key, guid=item.guid, link=item.link, url_hash=url_key(item.link),
        source_hash=url_key(item.source_link), content_hash=content_hash(item), raw_hash=raw,
        text_hash=text_hash(item.text), title=item.title, data=item.to_json(),
        status="filtered" if reason else "active", filter_reason=reason, revision=1,
        published=item.date, first_seen=now, last_seen=now,
    ) for item, key, reason, raw in fresh]
    inserted: dict[str, int] = {}
    for start in range(0, len(rows), KEY_CHUNK):
        chunk = rows[start:start + KEY_CHUNK]
        statement = direct.insert(_ITEMS, _ITEM_COLUMNS, rows=len(chunk),
                                  then="ON CONFLICT (feed_id, key) DO NOTHING RETURNING key, id")
        inserted.update(statement.run(session, [row[name] for row in chunk for name in _ITEM_COLUMNS]))
    return inserted


def _rewrite(row: models.Item, item: Item, now: datetime) -> None:
    """Store `item` as the row's value (content, keys, title)."""
    row.content_hash = content_hash(item)
    row.data = item.to_json()
    row.title = item.title
    row.link = item.link
    row.url_hash = url_key(item.link)
    row.source_hash = url_key(item.source_link)
    row.text_hash = text_hash(item.text)
    row.last_seen = now


def _refresh(session: Session, owners: KeyOwners, row: models.Item, item: Item, feed: models.Feed,
             policy: StorePolicy, report: StoreReport, now: datetime, shared: set[str]) -> None:
    """A known item: unchanged writes nothing; changed content or a new permalink (readers must
    not keep a link that now fails) is a new revision; a deleted item that reappears is restored
    (an update of its story, never a new story)."""
    new_hash = content_hash(item)
    moved = url_key(item.link) != row.url_hash  # compared canonical: tracking parameters don't count
    restored = row.status == "deleted" and not item.deleted
    if row.status in ("filtered", "pruned") or (new_hash == row.content_hash and not moved and not restored):
        report.unchanged += 1
        return
    if new_hash != row.content_hash or moved:
        _rewrite(row, item, now)
        row.revision += 1
    row.status = "deleted" if item.deleted else "active"
    row.last_seen = now
    report.updated += 1
    if row.story_id is None:
        return
    owners.claim([k for k, _ in exact_keys(item) if k not in shared], row.story_id)
    if policy.near_duplicate is not None:
        if item.deleted:
            policy.near_duplicate.forget(session, row.id)
        else:
            policy.near_duplicate.remember(session, row, item)
    story = session.get(models.Story, row.story_id, with_for_update=NO_KEY_UPDATE)
    if story is not None and story.representative_item_id == row.id:
        bump_revision(session, story, feed, item, policy, now, retracted=item.deleted)


def retract(session: Session, row: models.Item, feed: models.Feed, policy: StorePolicy, now: datetime) -> None:
    """The source deleted this item: mark it deleted (its identity keys stay). When it is its
    story's representative, another live copy from a feed of at least its priority takes the
    story over (an aggregator rotating a copy out does not take down an article its origin still
    carries); with none, a retracted revision is queued for the targets holding the story."""
    row.status = "deleted"
    row.last_seen = now
    if policy.near_duplicate is not None:
        policy.near_duplicate.forget(session, row.id)
    if row.story_id is None:
        return
    story = session.get(models.Story, row.story_id, with_for_update=NO_KEY_UPDATE)
    if story is None or story.representative_item_id != row.id or story.retracted:
        return
    successor = _successor(session, story.id, row, policy)
    if successor is not None:
        story.representative_item_id = successor.id
        bump_revision(session, story, session.get(models.Feed, successor.feed_id), Item.from_json(successor.data),
                      policy, now)
        return
    item = Item.from_json(row.data) if row.data else Item(feed=feed.name, guid=row.guid, link=row.link,
                                                            title=row.title)
    bump_revision(session, story, feed, item, policy, now, retracted=True)


def _successor(session: Session, story_id: int, leaving: models.Item, policy: StorePolicy) -> models.Item | None:
    """The live copy (with its content) that represents the story when `leaving` goes: from a feed
    of at least `leaving`'s priority, the highest priority first, then the earliest."""
    floor = policy.priorities.get(leaving.feed_id, 0)
    copies = [copy for copy in session.scalars(select(models.Item).where(
        models.Item.story_id == story_id, models.Item.status == "active", models.Item.data.is_not(None),
        models.Item.id != leaving.id).order_by(models.Item.first_seen, models.Item.id))
        if policy.priorities.get(copy.feed_id, 0) >= floor]
    return max(copies, key=lambda copy: policy.priorities.get(copy.feed_id, 0), default=None)


def _apply_tombstones(session: Session, feed: models.Feed, refs: Sequence[str], policy: StorePolicy,
                      report: StoreReport, now: datetime) -> None:
    for ref in refs:
        rows = session.scalars(select(models.Item).where(
            models.Item.feed_id == feed.id, models.Item.status == "active",
            or_(models.Item.key == "g:" + digest(ref), models.Item.guid == ref)))
        for row in rows:
            retract(session, row, feed, policy, now)
            report.retracted += 1


def _assign_story(session: Session, owners: KeyOwners, row: NewRow, item: Item, feed: models.Feed,
                  policy: StorePolicy, report: StoreReport, now: datetime, shared: set[str]) -> None:
    pairs = [(key, reason) for key, reason in exact_keys(item) if key not in shared]
    keys = [key for key, _ in pairs]
    match = _find_by_keys(session, owners, pairs, item, feed.id)
    if match is None and policy.near_duplicate is not None:
        match = policy.near_duplicate.find(session, item, row)
    if match is not None:
        story_id, score, reason = match
        _join_story(session, row, item, feed, story_id, reason, score, policy, report, now)
        owners.claim(keys, story_id)
        _remember(session, row, item, policy)
        return
    unowned = [key for key in keys if owners.owner(key) is None]
    story = _new_story(session, row.id, item.title, now)
    owners.claim(keys, story.id)
    winner = owners.owner(unowned[0]) if unowned else None
    if winner is not None and winner != story.id:
        # Another worker created this story concurrently: join theirs instead.
        session.execute(_DELETE_STORY, {"story_id": story.id})  # its keys go with it (cascade)
        owners.forget_story(story.id)
        _join_story(session, row, item, feed, winner, "race:exact-key", 1.0, policy, report, now)
        owners.claim(keys, winner)
        _remember(session, row, item, policy)
        return
    _set_story(session, row, story.id)
    report.new += 1
    _remember(session, row, item, policy)
    enqueue(session, story, item, feed, policy, now)


def _new_story(session: Session, item_id: int, title: str, now: datetime) -> StoryRef:
    """Insert a story represented by `item_id` (one statement)."""
    return StoryRef(_INSERT_STORY.run(session, (item_id, 1, False, title, now, now))[0][0], 1, False)


def _set_story(session: Session, row: NewRow, story_id: int) -> None:
    """Attach a row inserted in this batch to a story."""
    _SET_STORY.run(session, (story_id, row.id))


@lru_cache(maxsize=512)
def _word_set(text: str) -> frozenset[str]:
    # Copies of one story compare against the same stored texts: tokenise each once.
    return frozenset(text_words(text))


def _remember(session: Session, row: NewRow, item: Item, policy: StorePolicy) -> None:
    """Index a row inserted in this batch (it has no fingerprint to replace)."""
    if policy.near_duplicate is not None:
        policy.near_duplicate.remember(session, row, item, replace=False)


def _find_by_keys(session: Session, owners: KeyOwners, keys: list[tuple[str, str]], item: Item,
                  feed_id: int) -> Match | None:
    """The story owning the strongest of `keys` (key, reason pairs in order of strength). A URL
    match must not be contradicted by the texts (see `_url_match_holds`)."""
    for key, reason in keys:
        story_id = owners.owner(key)
        if story_id is None:
            continue
        if key.startswith("u:") and not _url_match_holds(session, story_id, item, feed_id):
            continue
        if key.startswith("t:") and not _same_text_holds(session, story_id, item):
            continue
        return story_id, 1.0, reason
    return None


def _same_text_holds(session: Session, story_id: int, item: Item) -> bool:
    """Whether the same text really means the same article: boilerplate repeats under other titles
    (a podcast's show notes on every episode, one paywall stub for every article). Some stored
    copy's title must not carry other numbers, and, for a text as short as boilerplate, must share
    some words with this one's (`titles_agree`)."""
    length = len(text_words(item.text))
    return any(titles_agree(item.title, row.title, length=length)
               for row in session.execute(_STORY_TEXTS, {"story_id": story_id}))


def _url_match_holds(session: Session, story_id: int, item: Item, feed_id: int) -> bool:
    """Whether a shared URL really means the same article.

    Within one feed (a re-issue under a new GUID) the texts must agree, since comment feeds and
    link posts give many items one page URL. Across feeds, long texts must not plainly disagree
    (two link blogs commenting on the same page).
    """
    rows = session.execute(_STORY_TEXTS, {"story_id": story_id}).all()
    mine = _word_set(item.text)
    same_feed = [r for r in rows if r.feed_id == feed_id]
    if same_feed:  # a recurring post linking one "today" page carries another number in its title
        return any(not titles_conflict(item.title, r.title) and _texts_agree(mine, item.title, r.title, r.data)
                   for r in same_feed)
    overlaps = []
    for row in rows:
        theirs = _word_set((row.data or {}).get("text") or "")
        if min(len(mine), len(theirs)) < CONTRADICTION_WORDS:
            return True
        overlaps.append(len(mine & theirs) / min(len(mine), len(theirs)))
    return not overlaps or max(overlaps) >= CONTRADICTION_CONTAINMENT


def _texts_agree(mine: frozenset[str], title: str, their_title: str, data: dict | None) -> bool:
    theirs = _word_set((data or {}).get("text") or "")
    if min(len(mine), len(theirs)) < SHORT_TEXT_WORDS:
        return plain_title(title) == plain_title(their_title) and mine == theirs
    return len(mine & theirs) / min(len(mine), len(theirs)) >= AGREEMENT_CONTAINMENT


def _join_story(session: Session, row: NewRow, item: Item, feed: models.Feed, story_id: int,
                reason: str, score: float | None, policy: StorePolicy, report: StoreReport,
                now: datetime) -> None:
    _set_story(session, row, story_id)
    _INSERT_MERGE.run(session, (story_id, row.id, reason[:40], score,
                                f"{feed.name}: {item.link or item.guid or item.title} ({reason})", now))
    report.duplicates += 1
    report.merges.append((row.id, story_id, reason, score))
    if not _take_over(session, row, item, feed, story_id, policy, now):
        _offer(session, story_id, item, feed, policy, now)


def _take_over(session: Session, row: NewRow, item: Item, feed: models.Feed, story_id: int,
               policy: StorePolicy, now: datetime) -> bool:
    """Make the joining copy the story's representative when it should be (a new revision);
    True if it did."""
    if policy.representative != "priority" and not session.scalar(_RETRACTED, {"story_id": story_id}):
        return False  # under `earliest` only a retracted story changes hands: no lock on every live one
    current = session.execute(_REPRESENTATIVE, {"story_id": story_id}).first()
    if current is None or current.representative_item_id is None or current.feed_id is None:
        return False
    mine, theirs = policy.priorities.get(feed.id, 0), policy.priorities.get(current.feed_id, 0)
    # A live copy brings back a story retracted when its copy went, unless that copy's feed
    # ranked higher (the origin took its article down); under `priority` a higher feed takes over.
    if (mine >= theirs) if current.retracted else (policy.representative == "priority" and mine > theirs):
        story = session.get(models.Story, story_id)  # locked by the query above
        if story is not None:
            story.representative_item_id = row.id
            bump_revision(session, story, feed, item, policy, now)
            return True
    return False


def _offer(session: Session, story_id: int, item: Item, feed: models.Feed, policy: StorePolicy,
           now: datetime) -> None:
    """A joining copy brings the story to the selective targets that accept it and don't have it
    yet (one tagged "politics" by its feed, when the first copy's feed was not): they get the
    story's current revision."""
    wanting = {target for target in policy.selective if policy.targets[target](item, feed)}
    if not wanting:
        return
    story = session.execute(_STORY_STATE, {"story_id": story_id}).first()  # locked: no revision slips by
    if story is None or story.retracted:
        return
    wanting -= set(session.scalars(_HOLDERS, {"story_id": story_id}))
    if wanting & policy.vetoes.keys():  # what they would publish is the representative's content
        data = session.scalar(_ITEM_DATA, {"item_id": story.representative_item_id})
        shown = Item.from_json(data) if data else None
        wanting = {target for target in wanting
                   if target not in policy.vetoes or (shown is not None and not policy.vetoes[target](shown))}
    _ENQUEUE.run_many(session, [(story_id, target, story.revision, "pending", 0, now, now)
                                for target in sorted(wanting)])


def bump_revision(session: Session, story: models.Story, feed: models.Feed, item: Item,
                  policy: StorePolicy, now: datetime, *, retracted: bool = False) -> None:
    """Make a new revision of `story` and queue it for every target that has the story."""
    story.revision += 1
    story.updated_at = now
    story.title = item.title
    story.retracted = retracted
    session.flush()
    enqueue(session, StoryRef(story.id, story.revision, story.retracted), item, feed, policy, now)


def enqueue(session: Session, story: StoryRef, item: Item, feed: models.Feed, policy: StorePolicy,
            now: datetime) -> None:
    """Write outbox rows for this story revision, in the same transaction.

    A target takes the revision if its filter accepts the item, or if it already holds an
    earlier revision of the story (an update must reach whoever has the story). A retraction
    goes only to targets holding the story.
    """
    holders = set(session.scalars(_HOLDERS, {"story_id": story.id})) if story.revision > 1 else set()
    _ENQUEUE.run_many(session, [
        (story.id, target, story.revision, "pending", 0, now, now)
        for target, accepts in policy.targets.items()
        if target in holders or (not story.retracted and accepts(item, feed))
    ])

"""Building targets from the config, and each target's story filter."""

from __future__ import annotations

import re
from collections.abc import Callable

from feedrelay.config import (
    Config,
    DirectoryTargetConfig,
    FeedTargetConfig,
    TargetConfig,
    WebhookTargetConfig,
    WordPressTargetConfig,
)
from feedrelay.items import Item
from publish.base import Target
from publish.directory import DirectoryTarget
from publish.feedfiles import FeedFilesTarget
from publish.webhook import WebhookTarget
from publish.wordpress import ImageFetcher, WordPressTarget
from store import models

StoryFilter = Callable[[Item, models.Feed], bool]


def build_target(target: TargetConfig, config: Config, fetcher: ImageFetcher | None) -> Target:
    """One target from its config section (paths resolved against the config's directory)."""
    if isinstance(target, FeedTargetConfig):
        return FeedFilesTarget(target, config.resolve_path(target.dir))
    if isinstance(target, WordPressTargetConfig):
        return WordPressTarget(target, fetcher)
    if isinstance(target, WebhookTargetConfig):
        return WebhookTarget(target)
    if isinstance(target, DirectoryTargetConfig):
        return DirectoryTarget(target, config.resolve_path(target.dir))
    raise TypeError(f"unknown target type {type(target).__name__}")


def build_targets(config: Config, fetcher: ImageFetcher | None) -> dict[str, Target]:
    """Every enabled target by name; `fetcher` downloads images for WordPress."""
    return {t.name: build_target(t, config, fetcher) for t in config.targets if t.enabled}


def _words(keywords: list[str]) -> re.Pattern[str] | None:
    """A case-insensitive pattern matching any keyword as a whole word or phrase."""
    if not keywords:
        return None
    alternatives = "|".join(re.escape(k.strip()) for k in keywords if k.strip())
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if alternatives else None


def target_filter(target: TargetConfig, config: Config) -> StoryFilter:
    """Whether an item (of a feed) goes to `target`.

    Each non-empty filter list must match (one entry of it is enough): `feeds` by name, `tags`
    against the feed's configured tags, `categories` against the item's categories and tags,
    `keywords` in title or text; no `exclude_keywords` may appear there.
    """
    rules = target.filters
    feeds = set(rules.feeds)
    tags = {t.casefold() for t in rules.tags}
    feed_tags = {f.name: {t.casefold() for t in f.tags} for f in config.feeds}
    categories = {c.casefold() for c in rules.categories}
    wanted = _words(rules.keywords)
    vetoed = target_veto(target)

    def accepts(item: Item, feed: models.Feed) -> bool:
        if feeds and feed.name not in feeds:
            return False
        if tags and not tags & feed_tags.get(feed.name, set()):
            return False
        if categories and not categories & {c.casefold() for c in [*item.categories, *item.tags]}:
            return False
        if wanted and not wanted.search(_searched(item)):
            return False
        return not (vetoed and vetoed(item))

    return accepts


def target_veto(target: TargetConfig) -> Callable[[Item], bool] | None:
    """Whether an item's title or text holds one of the target's `exclude_keywords` (None: it
    has none). The content a target publishes is the story's representative's, so a copy
    without the word does not make the story acceptable."""
    unwanted = _words(target.filters.exclude_keywords)
    if unwanted is None:
        return None
    return lambda item: unwanted.search(_searched(item)) is not None


def _searched(item: Item) -> str:
    return f"{item.title}\n{item.text or item.summary}"

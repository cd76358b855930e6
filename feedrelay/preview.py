"""`feedrelay preview URL_OR_FEED_NAME`: the whole pipeline on one feed, storing and publishing nothing.

The feed is fetched (unconditionally), parsed and cleaned with its configured rules, then stored
with the pipeline's own dedup policy inside a database transaction that is rolled back: every
decision is the real one, and nothing remains afterwards. Per item it says what would happen —
new story, duplicate of which story and why, filtered by which rule, update of a stored item —
with the litter rules cleaning applied and the clean result.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedrelay.config import Config, FeedConfig, load_config
from feedrelay.feeds_cli import ProbeError, fetch_feed
from feedrelay.items import Item
from feedrelay.tables import say
from ingest.parse import ParseError, parse_feed
from store import models
from store.identity import per_feed_keys
from store.stories import store_items

PREVIEW_FEED = "preview"


@dataclass
class ItemDecision:
    """What storing one item would do, and what cleaning made of it."""

    title: str
    link: str | None
    decision: str
    story_id: int | None = None
    reason: str | None = None
    score: float | None = None
    story_title: str | None = None
    story_feed: str | None = None
    filter_rule: str | None = None
    targets: list[str] = field(default_factory=list)
    litter: list[str] = field(default_factory=list)
    source_link: str | None = None
    summary: str = ""
    content_html: str = ""

    def describe(self) -> str:
        """One line: `new story`, `duplicate of story 3 (near-duplicate, 0.91)`, `filtered by …`."""
        if self.decision == "duplicate":
            score = f", {self.score:.2f}" if self.score is not None else ""
            return f"duplicate of story {self.story_id} ({self.reason}{score})"
        if self.decision == "filtered":
            return f"filtered by {self.filter_rule}"
        if self.decision == "new":
            return "new story"
        where = f" in story {self.story_id}" if self.story_id is not None else ""
        return f"already stored{where}: " + ("would update" if self.decision == "updated" else "unchanged")


@dataclass
class PreviewReport:
    """A preview of one feed."""

    feed: str
    url: str
    discovered_from: str | None
    title: str | None
    warnings: list[str]
    items: list[ItemDecision]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def resolve_feed(config: Config, url_or_name: str) -> FeedConfig:
    """The configured feed named `url_or_name`, else an ad-hoc feed with the default rules."""
    for feed in config.feeds:
        if feed.name == url_or_name:
            return feed
    return FeedConfig(name=PREVIEW_FEED, url=url_or_name)


def preview(config: Config, url_or_name: str) -> PreviewReport:
    """Run the pipeline on one feed without storing or publishing (see the module docstring)."""
    from feedrelay.pipeline import Relay

    feed = resolve_feed(config, url_or_name)
    with Relay(config) as relay:
        result, discovered_from = fetch_feed(relay.fetcher, config.feed_url(feed))
        try:
            parsed = parse_feed(result.body or b"", feed_name=feed.name, base_url=result.url,
                                content_type=result.content_type)
        except ParseError as exc:
            raise ProbeError(f"{result.url}: {exc}") from exc
        items, reasons = relay.clean_items(feed, parsed.items)
        session = relay.sessions()
        try:
            session.begin()
            decisions = _decide(session, relay, feed, items, reasons)
        finally:
            session.rollback()
            session.close()
    return PreviewReport(feed.name, result.url, discovered_from, parsed.title,
                         list(result.warnings) + list(parsed.warnings), decisions)


def _decide(session: Session, relay: Any, feed: FeedConfig, items: list[Item],
            reasons: list[str | None]) -> list[ItemDecision]:
    """Store `items` in the open transaction and read back what happened to each (caller rolls back)."""
    row = session.scalars(select(models.Feed).where(models.Feed.name == feed.name)).one_or_none()
    if row is None:
        row = models.Feed(name=feed.name, url=feed.url, config_url=feed.url, enabled=True, error_count=0,
                          last_new_items=0, guid_mode="guid")
        session.add(row)
        session.flush()
    keys = per_feed_keys(items, row.guid_mode)
    before = {r.key: r.revision for r in session.scalars(
        select(models.Item).where(models.Item.feed_id == row.id, models.Item.key.in_(keys)))}
    stored = store_items(session, row, items, relay.store_policy(session), reasons)
    merges = {item_id: (story_id, reason, score) for item_id, story_id, reason, score in stored.merges}
    rows = {r.key: r for r in session.scalars(
        select(models.Item).where(models.Item.feed_id == row.id, models.Item.key.in_(keys)))}
    decisions = []
    for item, key in zip(items, keys, strict=True):
        stored_row = rows.get(key)
        decision = ItemDecision(title=item.title, link=item.link, decision="new", litter=list(item.litter),
                                source_link=item.source_link, summary=item.summary,
                                content_html=item.content_html)
        if stored_row is None:
            decision.decision = "unchanged"
        elif key in before:
            decision.decision = "updated" if stored_row.revision > before[key] else "unchanged"
            decision.story_id = stored_row.story_id
        elif stored_row.status == "filtered":
            decision.decision, decision.filter_rule = "filtered", stored_row.filter_reason
        elif stored_row.id in merges:
            decision.decision = "duplicate"
            decision.story_id, decision.reason, decision.score = merges[stored_row.id]
        else:
            decision.story_id = stored_row.story_id
        if decision.story_id is not None:
            _describe_story(session, decision, stored_row)
        decisions.append(decision)
    return decisions


def _describe_story(session: Session, decision: ItemDecision, item: models.Item | None) -> None:
    story = session.get(models.Story, decision.story_id)
    if story is None:
        return
    decision.story_title = story.title
    representative = session.get(models.Item, story.representative_item_id) if story.representative_item_id else None
    if representative is not None:
        feed = session.get(models.Feed, representative.feed_id)
        decision.story_feed = feed.name if feed else None
    decision.targets = sorted(set(session.scalars(
        select(models.Delivery.target).where(models.Delivery.story_id == story.id,
                                             models.Delivery.revision == story.revision,
                                             models.Delivery.state == "pending"))))


def print_preview(report: PreviewReport, *, full: bool = False) -> None:
    """The preview as text: a header, then each item's decision, litter and clean result."""
    say(f"feed {report.feed}: {report.url}" + (f" (advertised by {report.discovered_from})"
                                                  if report.discovered_from else ""))
    say(f"title: {report.title or '(untitled)'}; {len(report.items)} items; nothing was stored or published")
    for warning in report.warnings:
        say(f"warning: {warning}")
    counts: dict[str, int] = {}
    for number, item in enumerate(report.items, 1):
        counts[item.decision] = counts.get(item.decision, 0) + 1
        say(f"\n[{number}] {item.title}")
        if item.link:
            say(f"    link: {item.link}")
        say(f"    → {item.describe()}")
        if item.decision == "duplicate" and item.story_title:
            say(f"      story {item.story_id}: {item.story_title!r}" +
                  (f" from {item.story_feed}" if item.story_feed else ""))
        if item.targets:
            say(f"    would deliver to: {', '.join(item.targets)}")
        if item.source_link:
            say(f"    credits original: {item.source_link}")
        say(f"    litter removed: {len(item.litter) or 'none'}")
        for entry in item.litter:
            say(f"      - {entry}")
        body = item.content_html if full else _excerpt(item.summary or item.content_html)
        say(f"    clean {'content' if full else 'summary'}: {body}")
    say("\n" + ", ".join(f"{n} {d}" for d, n in counts.items()) if counts else "\nno items")


def _excerpt(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cmd_preview(args: argparse.Namespace) -> int:
    """`feedrelay preview`."""
    from feedrelay.cli import config_path

    config = load_config(config_path(args))
    try:
        report = preview(config, args.feed)
    except ProbeError as exc:
        print(f"feedrelay: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print_preview(report, full=args.full)
    return 0


def register_preview(sub: argparse._SubParsersAction) -> None:
    """`feedrelay preview URL_OR_FEED_NAME [--full] [--json]`."""
    parser = sub.add_parser("preview", help="run the pipeline on one feed without storing or publishing")
    parser.add_argument("feed", metavar="URL_OR_FEED_NAME", help="a configured feed's name, or any feed URL")
    parser.add_argument("--full", action="store_true", help="print each item's whole clean HTML")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_preview)

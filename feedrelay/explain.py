"""`feedrelay explain ITEM_ID_OR_URL`: a stored item, its story, why its copies merged, where it went."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy.orm import Session

from feedrelay.config import load_config
from feedrelay.storyview import StoryView, find_items, story_view
from feedrelay.tables import say
from store import models


def explain(session: Session, item_or_url: str) -> list[tuple[dict[str, Any], StoryView | None]]:
    """For each stored item matching `item_or_url`: the item (as a dict) and the view of its story."""
    out = []
    for item in find_items(session, item_or_url):
        feed = session.get(models.Feed, item.feed_id)
        story = story_view(session, item.story_id) if item.story_id else None
        out.append((
            {
                "id": item.id, "feed": feed.name if feed else None, "title": item.title, "link": item.link,
                "guid": item.guid, "status": item.status, "filter_reason": item.filter_reason,
                "revision": item.revision, "published": _iso(item.published), "first_seen": _iso(item.first_seen),
                "last_seen": _iso(item.last_seen), "source_link": (item.data or {}).get("source_link"),
                "litter": list((item.data or {}).get("litter") or []),
            },
            story,
        ))
    return out


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def print_explanation(item: dict[str, Any], story: StoryView | None) -> None:
    """The explanation of one item as text."""
    say(f"item {item['id']} · feed {item['feed']} · {item['status']} · revision {item['revision']}")
    say(f"  title: {item['title']}")
    for key in ("link", "guid", "source_link"):
        if item[key]:
            say(f"  {key.replace('_', ' ')}: {item[key]}")
    say(f"  published {item['published'] or '—'}; first seen {item['first_seen']}; last seen {item['last_seen']}")
    if item["filter_reason"]:
        say(f"  filtered by {item['filter_reason']} (never joined a story, never published)")
    say(f"  litter removed: {len(item['litter']) or 'none'}")
    for litter in item["litter"]:
        say(f"    - {litter}")
    if story is None:
        if not item["filter_reason"]:
            say("  no story")
        return
    state = " · retracted" if story.retracted else ""
    say(f"story {story.id} · revision {story.revision}{state} · {story.title!r}")
    say(f"  copies ({len(story.copies)}):")
    for copy in story.copies:
        marks = ["this item"] if copy.item_id == item["id"] else []
        if copy.representative:
            marks.append("representative")
        why = "first copy (made the story)" if copy.reason is None else \
            f"joined by {copy.reason}" + (f", score {copy.score:.2f}" if copy.score is not None else "")
        say(f"    item {copy.item_id} from {copy.feed}: {why}" + (f"  [{', '.join(marks)}]" if marks else ""))
        if copy.detail:
            say(f"      {copy.detail}")
    if not story.deliveries:
        say("  deliveries: none (no target takes this story)")
        return
    say("  deliveries:")
    for d in story.deliveries:
        line = f"    {d.target} · revision {d.revision} · {d.state} · {d.attempts} attempt(s)"
        if d.remote_ref:
            line += f" · remote {d.remote_ref}"
        if d.done_at:
            line += f" · done {d.done_at.isoformat(timespec='seconds')}"
        say(line)
        if d.last_error:
            say(f"      last error: {d.last_error}")


def cmd_explain(args: argparse.Namespace) -> int:
    """`feedrelay explain`."""
    from feedrelay.cli import config_path
    from store.db import open_existing_database

    config = load_config(config_path(args))
    engine, sessions = open_existing_database(config.database_url)
    try:
        with sessions() as session:
            entries = explain(session, args.item)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({"items": [{"item": item, "story": story.to_json() if story else None}
                                    for item, story in entries]}, indent=2, ensure_ascii=False))
    else:
        for n, (item, story) in enumerate(entries):
            if n:
                print()
            print_explanation(item, story)
    if not entries:
        print(f"feedrelay: no stored item matches {args.item!r}", file=sys.stderr)
        return 1
    return 0


def register_explain(sub: argparse._SubParsersAction) -> None:
    """`feedrelay explain ITEM_ID_OR_URL [--json]`."""
    parser = sub.add_parser("explain", help="why a stored item is (or is not) in a story, and where it went")
    parser.add_argument("item", metavar="ITEM_ID_OR_URL", help="an item id, or a link/GUID an item carries")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_explain)

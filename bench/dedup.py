"""De-duplication quality on the labeled corpus (`bench.gen_corpus`), and on the real corpus.

Plays every fetch of the corpus through cleaning and `store.stories.store_items` (near-duplicate
finder on, origin sites preferred as representatives, retention pruning as it goes) on a fresh
SQLite database, then compares stories with the ground truth:

- precision / recall over pairs of stored items (same story vs same article);
- false merges: hard-negative article pairs (template siblings, same title, shared disclaimer)
  that ended in one story;
- duplicates published: stories beyond the first that reached the target for one article;
- updates delivered as revisions, deletions retracted, merges by reason.

`--real` runs the real feed corpus (../shared/corpus/real) through parse → clean → store and
prints every merge for a human to read (skipped when the corpus is absent).

Usage: python -m bench.dedup [--corpus DIR] [--real] [--no-near] [--similarity 0.9]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.gen_corpus import BASE_TIME, generate
from feedrelay.items import Item
from store import models
from store.db import open_database
from store.neardup import NearDuplicates
from store.retention import prune
from store.stories import StorePolicy, store_items

REAL_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "real"
RETENTION_ROUNDS = 24
PRUNE_EVERY = 10


def cleaner():  # type: ignore[no-untyped-def]
    """`ingest.clean.clean_item` with default rules, or a plain-text fallback while it is absent."""
    try:
        from ingest.clean import CleanRules, clean_item
    except ImportError:
        import lxml.html

        def fallback(item: Item) -> Item:
            if item.content_html.strip():
                item.text = lxml.html.fromstring(item.content_html).text_content()
            return item

        print("note: ingest.clean not available, using a plain-text fallback (no litter removal, "
              "no source links)", file=sys.stderr)
        return fallback
    rules = CleanRules()
    return lambda item: clean_item(item, rules)


def make_feeds(session: Session, feeds: list[dict]) -> dict[str, models.Feed]:
    rows = {}
    for feed in feeds:
        row = models.Feed(name=feed["name"], url=f"https://{feed['name']}.example/feed/",
                          config_url=f"https://{feed['name']}.example/feed/", enabled=True,
                          last_new_items=0, error_count=0, guid_mode="guid")
        session.add(row)
        rows[feed["name"]] = row
    session.flush()
    return rows


def play(corpus: Path, database: str, near: bool = True, similarity: float = 0.9) -> tuple[Session, dict]:
    """Store the whole corpus; returns an open session on the result and timing figures."""
    engine, sessions = open_database(database)
    feeds = json.loads((corpus / "feeds.json").read_text())
    clean = cleaner()
    with sessions.begin() as session:
        rows = make_feeds(session, feeds)
        ids = {name: row.id for name, row in rows.items()}
    policy = StorePolicy(
        targets={"site": lambda item, feed: True}, representative="priority",
        priorities={ids[f["name"]]: f["priority"] for f in feeds},
        near_duplicate=NearDuplicates(similarity) if near else None,
        complete_feeds={ids[f["name"]] for f in feeds if f["complete"]},
    )
    started, stored_items, last_prune = time.perf_counter(), 0, 0
    cleaned: dict[str, Item] = {}  # re-fetched unchanged items are cleaned once

    def clean_once(raw: dict) -> Item:
        key = json.dumps(raw, sort_keys=True)
        if key not in cleaned:
            cleaned[key] = clean(Item.from_json(raw))
        return cleaned[key]

    with (corpus / "fetches.jsonl").open() as handle:
        for line in handle:
            fetch = json.loads(line)
            now = BASE_TIME + timedelta(hours=fetch["round"])
            items = [clean_once(raw) for raw in fetch["items"]]
            with sessions.begin() as session:
                feed = session.get(models.Feed, ids[fetch["feed"]])
                store_items(session, feed, items, policy, deleted=fetch["deleted"], now=now)
                if fetch["round"] - last_prune >= PRUNE_EVERY:
                    prune(session, timedelta(hours=RETENTION_ROUNDS), now=now)
                    last_prune = fetch["round"]
            stored_items += len(items)
    elapsed = time.perf_counter() - started
    return sessions(), {"items_seen": stored_items, "seconds": elapsed}


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def evaluate(session: Session, truth: dict) -> dict:
    """Compare stored stories with the ground truth."""
    rows = session.execute(
        select(models.Item.id, models.Feed.name, models.Item.guid, models.Item.link, models.Item.story_id)
        .join(models.Feed, models.Feed.id == models.Item.feed_id)
    ).all()
    article_of: dict[int, str] = {}
    unknown = 0
    for row in rows:
        article = truth["items"].get(f"{row.name}|{row.guid}|{row.link}")
        if article is None:
            unknown += 1
            continue
        article_of[row.id] = article
    story_of = {row.id: row.story_id for row in rows}
    by_story: dict[int, list[str]] = defaultdict(list)
    by_article: Counter[str] = Counter()
    for item_id, article in article_of.items():
        by_story[story_of[item_id]].append(article)
        by_article[article] += 1
    predicted = sum(pairs(len(members)) for members in by_story.values())
    true_pairs = sum(pairs(n) for n in by_article.values())
    correct = sum(pairs(n) for members in by_story.values() for n in Counter(members).values())
    stories_of_article: dict[str, set[int]] = defaultdict(set)
    for item_id, article in article_of.items():
        stories_of_article[article].add(story_of[item_id])
    articles_of_story = {story: set(members) for story, members in by_story.items()}
    false_merges = Counter()
    examples = []
    for left, right, kind in truth["hard_negatives"]:
        if stories_of_article[left] & stories_of_article[right]:
            false_merges[kind] += 1
            examples.append((left, right, kind))
    delivered = set(session.scalars(select(models.Delivery.story_id).where(models.Delivery.revision == 1)))
    published = {a: len(s & delivered) for a, s in stories_of_article.items()}
    duplicates_published = sum(max(0, n - 1) for n in published.values())
    lost = sorted(a for a, n in published.items() if n == 0 and not truth["articles"].get(a, {}).get("deleted"))
    stories = {s.id: s for s in session.scalars(select(models.Story))}
    updated = [a for a, meta in truth["articles"].items() if meta["updated"] is not None]
    revised = sum(1 for a in updated if any(stories[s].revision > 1 for s in stories_of_article[a] if s))
    deleted = [a for a, meta in truth["articles"].items() if meta["deleted"] is not None]
    retracted = sum(1 for a in deleted if any(
        session.scalar(select(func.count()).select_from(models.Delivery).where(
            models.Delivery.story_id == s, models.Delivery.revision > 1)) for s in stories_of_article[a] if s))
    reasons = Counter(r.split(":")[0] for r in session.scalars(select(models.Merge.reason)))
    return {
        "items_stored": len(rows), "unlabeled": unknown, "articles": len(by_article),
        "stories": len(stories), "precision": correct / predicted if predicted else 1.0,
        "recall": correct / true_pairs if true_pairs else 1.0, "false_merges": dict(false_merges),
        "false_merge_examples": examples[:10], "duplicates_published": duplicates_published,
        "articles_never_published": len(lost), "lost_examples": lost[:10],
        "updated_articles": len(updated), "updates_as_revisions": revised,
        "deleted_articles": len(deleted), "deletions_delivered": retracted,
        "stories_with_two_articles": sum(1 for s in articles_of_story.values() if len(s) > 1),
        "merges_by_reason": dict(reasons),
        "identity_switches": {f.name: f.guid_mode for f in session.scalars(
            select(models.Feed).where(models.Feed.guid_mode != "guid"))},
        "deliveries": session.scalar(select(func.count()).select_from(models.Delivery)),
    }


def synthetic(corpus: Path | None, near: bool, similarity: float = 0.9) -> dict:
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        corpus = corpus or generate(Path(tmp) / "corpus")
        truth = json.loads((corpus / "truth.json").read_text())
        session, timing = play(corpus, f"sqlite:///{tmp}/bench.db", near, similarity)
        with session:
            result = evaluate(session, truth)
        result.update(timing)
        return result


def real_merges(corpus: Path = REAL_CORPUS, near: bool = True) -> tuple[int, int, list[dict]]:
    """Store every real feed of `corpus` (one feed per file) and return (files, items, merges);
    each merge names the merged item and the story's representative (feed, title, text)."""
    from ingest.parse import ParseError, parse_feed

    clean = cleaner()
    with tempfile.TemporaryDirectory(prefix="dedup-real-") as tmp:
        engine, sessions = open_database(f"sqlite:///{tmp}/real.db")
        policy = StorePolicy(targets={"site": lambda item, feed: True},
                             near_duplicate=NearDuplicates() if near else None)
        files = sorted(p for p in corpus.iterdir() if p.suffix in (".xml", ".json"))
        total = 0
        for path in files:
            try:
                parsed = parse_feed(path.read_bytes(), feed_name=path.stem)
            except ParseError:
                continue
            items = [clean(item) for item in parsed.items]
            with sessions.begin() as session:
                (feed,) = make_feeds(session, [{"name": path.stem}]).values()
                store_items(session, feed, items, policy)
            total += len(items)
        merges = []
        with sessions() as session:
            for merge in session.scalars(select(models.Merge).order_by(models.Merge.id)):
                item = session.get(models.Item, merge.item_id)
                story = session.get(models.Story, merge.story_id)
                rep = session.get(models.Item, story.representative_item_id)
                merges.append({
                    "reason": merge.reason, "score": merge.score,
                    "feed": session.get(models.Feed, item.feed_id).name, "title": item.title,
                    "text": (item.data or {}).get("text", ""),
                    "story_feed": session.get(models.Feed, rep.feed_id).name, "story_title": rep.title,
                    "story_text": (rep.data or {}).get("text", ""),
                })
        engine.dispose()
    return len(files), total, merges


def real(near: bool) -> None:
    if not REAL_CORPUS.is_dir():
        print(f"real corpus: skipped ({REAL_CORPUS} is absent)")
        return
    files, total, merges = real_merges(REAL_CORPUS, near)
    print(f"real corpus: {files} files, {total} items, {len(merges)} merges (read them):")
    for m in merges:
        print(f"  [{m['reason']} {m['score']}] {m['feed']}: {m['title'][:60]!r}\n"
              f"      = {m['story_feed']}: {m['story_title'][:60]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a corpus written by bench.gen_corpus (default: fresh)")
    parser.add_argument("--real", action="store_true", help="also run ../shared/corpus/real")
    parser.add_argument("--no-near", action="store_true", help="exact keys only (for comparison)")
    parser.add_argument("--similarity", type=float, default=0.9, help="containment a near-duplicate needs")
    args = parser.parse_args()
    result = synthetic(args.corpus, not args.no_near, args.similarity)
    for key, value in result.items():
        print(f"{key:28} {value:.4f}" if isinstance(value, float) else f"{key:28} {value}")
    ok = (result["precision"] >= 0.995 and result["recall"] >= 0.98 and not result["false_merges"]
          and result["duplicates_published"] == 0)
    print("goal (precision >= 0.995, recall >= 0.98, 0 false merges, 0 duplicates published):",
          "MET" if ok else "NOT MET")
    if args.real:
        real(not args.no_near)


if __name__ == "__main__":
    main()

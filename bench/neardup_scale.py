"""Near-duplicate lookup time per new item as the store grows (SQLite), and bytes per item.

For each size N (default 10k, 100k, 1M) a fresh SQLite database is built with N synthetic
stored items (stories, items with their clean text as `data`, and their real MinHash bands from
`store.neardup.fingerprint`), loaded with bulk inserts. Then `NearDuplicates.find` — band lookup,
candidate load and shingle verification — is timed for new items: half of them edited copies of
stored items (which must be found), half unrelated texts (which must not). Prints median and p95
and mean process CPU time per lookup (the wall time suffers when other work shares the machine),
candidates per lookup, hit rate, and database bytes per stored item (total and the band index
alone).

Usage: python -m bench.neardup_scale [--sizes 10000,100000,1000000] [--queries 400] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from bench.textgen import TextGen
from feedrelay.items import Item
from store import models
from store.db import open_database
from store.neardup import NearDuplicates, fingerprint

CHUNK = 5000
FEEDS = 200
STAMP = "2026-11-27 10:00:00.000000"


def synthetic_text(index: int) -> str:
    gen = TextGen(index, "ru" if index % 4 == 0 else "en", vocabulary=20000)
    return "\n\n".join(gen.paragraphs(2))


def _chunk(start: int) -> list[tuple[int, str, list[tuple[int, int]]]]:
    out = []
    for index in range(start, start + CHUNK):
        text = synthetic_text(index)
        out.append((index, text, fingerprint(text)))
    return out


def build(path: Path, size: int) -> float:
    """Create the database at `path` with `size` stored items; returns seconds taken."""
    started = time.perf_counter()
    engine, _ = open_database(f"sqlite:///{path}")
    raw = engine.raw_connection()
    db = raw.driver_connection
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-4000000")
    db.executemany("INSERT INTO feeds (id, name, url, config_url, enabled, last_new_items, error_count, guid_mode)"
                   " VALUES (?, ?, 'u', 'u', 1, 0, 0, 'guid')", [(f, f"feed{f}") for f in range(1, FEEDS + 1)])
    with multiprocessing.Pool(2) as pool:
        for rows in pool.imap(_chunk, range(1, size + 1, CHUNK)):
            rows = [r for r in rows if r[0] <= size]
            db.executemany(
                "INSERT INTO stories (id, representative_item_id, revision, retracted, title, created_at, updated_at)"
                " VALUES (?, ?, 1, 0, '', ?, ?)", [(i, i, STAMP, STAMP) for i, _, _ in rows])
            db.executemany(
                "INSERT INTO items (id, feed_id, key, content_hash, title, data, story_id, status, revision,"
                " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', 1, ?, ?)",
                [(i, i % FEEDS + 1, f"g:{i:038d}", f"{i:040d}", f"Title {i}",
                  json.dumps({"text": text}, ensure_ascii=False), i, STAMP, STAMP) for i, text, _ in rows])
            db.executemany("INSERT INTO neardup_bands (band, value, item_id) VALUES (?, ?, ?)",
                           [(band, value, i) for i, _, bands in rows for band, value in bands])
            db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    engine.dispose()
    return time.perf_counter() - started


def edited_copy(text: str) -> str:
    """A syndicated copy: litter around the body, whitespace changed."""
    return "Share this: Facebook Twitter\n" + text.replace(". ", ".  ") + "\nPowered by WPeMatico"


def measure(path: Path, size: int, queries: int) -> dict[str, float]:
    engine, sessions = open_database(f"sqlite:///{path}", upgrade=False)
    finder = NearDuplicates()
    times, cpu, candidates, found, false_found = [], [], [], 0, 0
    with sessions() as session:
        feed = models.Feed(id=FEEDS + 1)
        for n in range(queries):
            copy = n % 2 == 0
            source = 1 + (n * 7919) % size
            text = edited_copy(synthetic_text(source)) if copy else synthetic_text(size + 1 + n)
            item = Item(feed="new", guid=f"q{n}", link=None, title=f"Title {source}" if copy else f"New {n}",
                        text=text)
            row = models.Item(id=-1, feed_id=feed.id)
            started, started_cpu = time.perf_counter(), time.process_time()
            match = finder.find(session, item, row)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            candidates.append(len(finder.candidates(session, fingerprint(text))))
            if copy and match and match[0] == source:
                found += 1
            elif not copy and match:
                false_found += 1
    engine.dispose()
    times.sort()
    with open_database(f"sqlite:///{path}", upgrade=False)[0].connect() as connection:
        try:
            band_bytes = connection.exec_driver_sql(
                "SELECT sum(pgsize) FROM dbstat WHERE name IN ('neardup_bands', 'ix_neardup_bands_item_id')"
            ).scalar() or 0
        except Exception:  # dbstat is an optional SQLite module
            band_bytes = 0
    total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return {"size": size, "median_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95)],
            "cpu_ms": statistics.mean(cpu),
            "mean_candidates": statistics.mean(candidates), "copies_found": found / (queries // 2),
            "false_matches": false_found, "bytes_per_item": total / size, "band_bytes_per_item": band_bytes / size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--dir", type=Path, help="where to build the databases (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neardup-scale-", dir=args.dir) as tmp:
        print(f"{'items':>9} {'build s':>8} {'median ms':>10} {'p95 ms':>8} {'cpu ms':>7} {'cands':>6} {'found':>6} "
              f"{'false':>6} {'B/item':>8} {'band B/item':>11}")
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"scale-{size}.db"
            built = build(path, size)
            r = measure(path, size, args.queries)
            print(f"{size:>9} {built:>8.0f} {r['median_ms']:>10.2f} {r['p95_ms']:>8.2f} {r['cpu_ms']:>7.2f} "
                  f"{r['mean_candidates']:>6.2f} "
                  f"{r['copies_found']:>6.1%} {r['false_matches']:>6} {r['bytes_per_item']:>8.0f} "
                  f"{r['band_bytes_per_item']:>11.0f}", flush=True)
            for leftover in Path(tmp).glob(path.name + "*"):
                leftover.unlink()


if __name__ == "__main__":
    main()

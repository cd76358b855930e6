"""Parsing benchmark: CPU µs per item of `ingest.parse`, lxml fast path vs feedparser.

    python -m bench.parse [--repeat 5] [--origins 40] [--aggregators 40] [--per-feed 25]

Two corpora in one run:
  bench   the generated WordPress-style corpus `bench.ingest` serves (`bench.corpus.generate`)
  real    every RSS/Atom/RDF document in ../shared/corpus/real, as the fetcher hands it over
          (after `ingest.encoding`); skipped when ../shared is absent
and three ways to parse each document, interleaved per document, best of `--repeat` rounds,
CPU time of this (single-threaded) process:
  fast path        `parse_feed(body, …)`: `ingest.xmlfeed`, feedparser for what it leaves
  feedparser path  `parse_feed(body, …, fast=False)`: feedparser, sanitizer and resolver off
  bare feedparser  `feedparser.parse(body)` with its defaults (what bench.ingest compares with)
Both `parse_feed` ways give the same ParsedFeed (tests/test_parse_fastpath.py). The goal: the
fast path at least 4× cheaper than the feedparser path on the bench corpus.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser

from bench.corpus import generate
from ingest.encoding import normalize_encoding
from ingest.parse import parse_feed
from ingest.xmlfeed import NotFast, read_feed

REAL = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"
WAYS = ("fast path", "feedparser path", "bare feedparser")


def cpu(function: Callable[[], Any]) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def measure(documents: list[tuple[str, bytes]], repeat: int) -> dict[str, float]:
    """CPU seconds per way, summed over documents (each document's best round)."""
    best: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(lambda: float("inf")))
    for _ in range(repeat):
        for name, body in documents:
            url = f"https://feeds.example/{name}"
            runs = {
                "fast path": lambda body=body, url=url: parse_feed(body, feed_name="bench", base_url=url),
                "feedparser path": lambda body=body, url=url: parse_feed(body, feed_name="bench", base_url=url,
                                                                          fast=False),
                "bare feedparser": lambda body=body: feedparser.parse(body),
            }
            for way, run in runs.items():
                best[name][way] = min(best[name][way], cpu(run))
    return {way: sum(per_document[way] for per_document in best.values()) for way in WAYS}


def report(label: str, documents: list[tuple[str, bytes]], repeat: int) -> None:
    items = {name: len(parse_feed(body, feed_name="bench", fast=False).items) for name, body in documents}
    fast_documents = fast_items = 0
    for name, body in documents:
        try:
            read_feed(body)
        except NotFast:
            continue
        fast_documents += 1
        fast_items += items[name]
    total_items = sum(items.values())
    seconds = measure(documents, repeat)
    print(f"{label}: {len(documents)} documents, {total_items} items; the fast path took {fast_documents} "
          f"documents ({fast_items} items), feedparser the rest")
    print(f"  {'':18s} {'total s':>9s} {'µs/item':>9s} {'vs fast':>8s}")
    for way in WAYS:
        print(f"  {way:18s} {seconds[way]:9.3f} {seconds[way] / total_items * 1e6:9.1f} "
              f"{seconds[way] / seconds['fast path']:7.1f}×")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best per document counts")
    parser.add_argument("--origins", type=int, default=40)
    parser.add_argument("--aggregators", type=int, default=40)
    parser.add_argument("--per-feed", type=int, default=25)
    args = parser.parse_args(argv)
    print(f"$ python -m bench.parse {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"CPU time of this process, best of {args.repeat} rounds per document\n")
    with tempfile.TemporaryDirectory(prefix="feedrelay-parse-") as tmp:
        corpus = generate(Path(tmp), origins=args.origins, aggregators=args.aggregators, per_feed=args.per_feed)
        bench = [(name, (corpus.directory / f"{name}.xml").read_bytes()) for name in corpus.names]
    report("bench corpus", bench, args.repeat)
    if REAL.is_dir():
        real = [(p.name, normalize_encoding(p.read_bytes(), None)[0]) for p in sorted(REAL.glob("*.xml"))]
        report("real corpus", real, args.repeat)
    else:
        print(f"real corpus not found: {REAL}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Ingest benchmark: end-to-end new items/s for one daemon on SQLite vs bare `feedparser.parse()`.

    python -m bench.ingest [--origins 40] [--aggregators 40] [--per-feed 25] [--workers 8] [--processes 1,2]

One run, one generated WordPress-style corpus (origins and WPeMatico-style aggregator copies)
served by a static HTTP server in another process:
  feedrelay   `Relay.run_once` (what `feedrelay fetch` and each daemon cycle run): fetch → parse →
              clean → dedup → store → publish (Atom, RSS and JSON Feed files), SQLite
  feedparser  `feedparser.parse(body)` with its defaults (sanitizer and URI resolver on) over the
              same bytes, one thread, timed before and after feedrelay (the mean is reported)
feedrelay runs once per `--processes` count (`worker.processes`: this process and its children,
started before the clock starts, each on a fresh database), `--workers` fetch threads in all.
Both run with their modules imported (a daemon imports once). Items/s are wall-clock; CPU seconds
are this process's (all threads) and its worker processes'. Per stage (with one process only):
the CPU time of the threads running it (`time.thread_time`), per item. `other` is the rest of the
CPU: feed row transactions, scheduling, thread and HTTP-pool overhead.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser

from bench.corpus import StaticServer, feeds_yaml, generate
from bench.procstat import cpu_seconds, cpu_used
from feedrelay import pipeline
from feedrelay.config import load_config
from feedrelay.pipeline import Relay
from store.neardup import MIN_WORDS, fingerprint


class StageClock:
    """Thread CPU time spent inside wrapped functions, per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.lock = threading.Lock()

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                with self.lock:
                    self.seconds[stage] += time.thread_time() - started
        return timed


def run_feedrelay(directory: Path, server: StaticServer, corpus, workers: int,  # type: ignore[no-untyped-def]
                  processes: int, database: str | None = None) -> dict[str, Any]:
    directory.mkdir()
    config_path = directory / "config.yaml"
    config_path.write_text(f"""\
database: {database or f"sqlite:///{directory / 'bench.db'}"}
http:
  allow_private_networks: true
  workers: {workers}
  per_host: {workers}
worker:
  processes: {processes}
defaults:
  max_items: 500
dedup:
  representative: priority
feeds:
{feeds_yaml(server, corpus)}targets:
  - name: public
    type: feed
    dir: {directory / 'out'}
    formats: [atom, rss, json]
    max_items: 50
""")
    clock = StageClock()
    relay = Relay(load_config(config_path))
    fingerprint(" ".join(f"w{n}" for n in range(MIN_WORDS)))  # numpy's one-time import, as feedparser's are
    relay.fetcher.fetch = clock.wrap("fetch", relay.fetcher.fetch)  # type: ignore[method-assign]
    relay.clean_items = clock.wrap("clean", relay.clean_items)  # type: ignore[method-assign]
    originals = pipeline.parse_feed, pipeline.analyse, pipeline.store_items
    pipeline.parse_feed = clock.wrap("parse", pipeline.parse_feed)
    pipeline.analyse = clock.wrap("fingerprint", pipeline.analyse)
    pipeline.store_items = clock.wrap("dedup+store", pipeline.store_items)
    try:
        relay.polls.start()
        children = [child.pid for child in relay.polls.children if child is not None]
        theirs = cpu_seconds(children)
        wall, cpu = time.perf_counter(), time.process_time()
        outcomes = relay.poll_many(relay.enabled_feeds())
        published_at = time.thread_time()
        report = relay.publish()
        clock.seconds["publish"] += time.thread_time() - published_at
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu + cpu_used(theirs, cpu_seconds(children))
    finally:
        pipeline.parse_feed, pipeline.analyse, pipeline.store_items = originals
        relay.close()
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise SystemExit(f"{len(failed)} feeds failed, e.g. {failed[0].feed}: {failed[0].error}")
    return {"wall": wall, "cpu": cpu, "stages": dict(clock.seconds), "new": sum(o.new for o in outcomes),
            "duplicates": sum(o.duplicates for o in outcomes), "delivered": report.delivered()}


def run_feedparser(directory: Path, names: list[str]) -> dict[str, Any]:
    bodies = [(directory / f"{name}.xml").read_bytes() for name in names]
    wall, cpu = time.perf_counter(), time.process_time()
    entries = sum(len(feedparser.parse(body).entries) for body in bodies)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "entries": entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--origins", type=int, default=40)
    parser.add_argument("--aggregators", type=int, default=40)
    parser.add_argument("--per-feed", type=int, default=25)
    parser.add_argument("--workers", type=int, default=8, help="concurrent fetches (http.workers)")
    parser.add_argument("--processes", default="1,2", help="worker.processes values to run, comma-separated")
    parser.add_argument("--database", help="an empty database URL instead of a new SQLite file "
                                           "(e.g. postgresql+psycopg://postgres@127.0.0.1/bench)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedrelay-bench-") as tmp:
        directory = Path(tmp)
        corpus = generate(directory / "feeds", origins=args.origins, aggregators=args.aggregators,
                          per_feed=args.per_feed)
        size = sum(p.stat().st_size for p in (directory / "feeds").iterdir())
        print(f"corpus: {len(corpus.names)} feeds, {corpus.items} items ({corpus.articles} articles), "
              f"{size / 1e6:.1f} MB")
        before = run_feedparser(directory / "feeds", corpus.names)
        counts = [int(value) for value in args.processes.split(",")]
        with StaticServer(directory / "feeds") as server:
            runs = {count: run_feedrelay(directory / f"run-{count}", server, corpus, args.workers, count, args.database)
                    for count in counts}
        after = run_feedparser(directory / "feeds", corpus.names)
        # Timed before and after feedrelay and averaged: a change of load during the run (this
        # machine is shared) weighs on both sides alike.
        bare = {"entries": before["entries"], "wall": (before["wall"] + after["wall"]) / 2,
                "cpu": (before["cpu"] + after["cpu"]) / 2}
    backend = args.database.split("+")[0].split(":")[0] if args.database else "SQLite"
    print(f"bare feedparser.parse() defaults: {bare['entries']} entries")
    print(f"  {bare['wall']:.2f} s wall, {bare['cpu']:.2f} s CPU → {bare['entries'] / bare['wall']:.0f} items/s wall, "
          f"{bare['entries'] / bare['cpu']:.0f} items/CPU-s")
    for count, relay in runs.items():
        report(relay, bare, backend, args.workers, count)


def report(relay: dict[str, Any], bare: dict[str, Any], backend: str, workers: int, processes: int) -> None:
    items = relay["new"] + relay["duplicates"]
    print(f"\nfeedrelay end to end ({backend}, {workers} fetch threads, {processes} process(es)): {items} items "
          f"stored ({relay['new']} new stories, {relay['duplicates']} copies merged), {relay['delivered']} delivered")
    print(f"  {relay['wall']:.2f} s wall, {relay['cpu']:.2f} s CPU → {items / relay['wall']:.0f} items/s wall, "
          f"{items / relay['cpu']:.0f} items/CPU-s")
    ratio_wall = (items / relay["wall"]) / (bare["entries"] / bare["wall"])
    ratio_cpu = (items / relay["cpu"]) / (bare["entries"] / bare["cpu"])
    print(f"feedrelay / feedparser: {ratio_wall:.2f}x (wall), {ratio_cpu:.2f}x (CPU); goal ≥ 1.5x")
    if processes > 1:  # the stage clocks see this process's threads only
        return
    print("CPU per item by stage (ms):")
    stages = relay["stages"]
    for stage in ("fetch", "parse", "clean", "fingerprint", "dedup+store", "publish"):
        print(f"  {stage:12} {1000 * stages.get(stage, 0) / items:7.2f}")
    other = relay["cpu"] - sum(stages.values())
    print(f"  {'other':12} {1000 * other / items:7.2f}")
    print(f"  {'total':12} {1000 * relay['cpu'] / items:7.2f}   (bare feedparser: "
          f"{1000 * bare['cpu'] / bare['entries']:.2f})")


if __name__ == "__main__":
    main()

"""Scale-out benchmark: ingest items/s and poll rate, 1/2/4 workers on PostgreSQL vs SQLite.

    python -m bench.scale [--origins 60] [--aggregators 60] [--per-feed 20] [--workers 1,2,4]

One run, one generated corpus (origins and WPeMatico-style aggregator copies) served by a static
HTTP server in its own process. For each setup — one `feedrelay run` daemon on SQLite, then
1, 2 and 4 `feedrelay run` worker processes on one fresh PostgreSQL database — the workers are
started with nothing due, then every feed is made due at once:
  ingest  time until every feed is polled and stored and every delivery (feed files) made
  poll    the same again with nothing new (the server answers 304): the pure polling rate
CPU seconds are read from /proc for the worker processes and for all PostgreSQL processes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from bench.corpus import Corpus, StaticServer, feeds_yaml, generate
from bench.procstat import cpu_seconds, cpu_used
from feedrelay.config import load_config
from feedrelay.items import utcnow
from feedrelay.pipeline import Relay
from store import models
from tests.support.cluster import cycle_done, trigger_cycle, wait_for
from tests.support.postgres import fresh_database

ROOT = Path(__file__).resolve().parent.parent
def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclass
class Phase:
    seconds: float
    worker_cpu: float
    postgres_cpu: float


@dataclass
class Result:
    label: str
    ingest: Phase
    poll: Phase


def write_config(directory: Path, database: str, server: StaticServer, corpus: Corpus) -> Path:
    config = directory / "config.yaml"
    config.write_text(f"""\
database: {database}
http:
  allow_private_networks: true
  workers: 8
  per_host: 16
defaults:
  interval: 1h
  min_interval: 1h
  max_items: 500
dedup:
  representative: priority
worker:
  lease: 2m
log:
  level: INFO
feeds:
{feeds_yaml(server, corpus)}targets:
  - name: public
    type: feed
    dir: {directory / 'out'}
    formats: [atom]
    max_items: 50
""")
    return config


@contextmanager
def workers(config: Path, count: int, directory: Path) -> Iterator[list[int]]:
    """`count` `feedrelay run` processes; stopped with SIGTERM on exit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = [directory / f"worker-{i}.log" for i in range(count)]
    processes = [subprocess.Popen([sys.executable, "-m", "feedrelay.cli", "-c", str(config), "run"],
                                  cwd=directory, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
                 for log in logs]
    try:
        wait_for(lambda: all("daemon started" in log.read_text(errors="replace") for log in logs), 120,
                 "workers to start", explain=lambda: "".join(log.read_text()[-2000:] for log in logs))
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def measure(sessions, feeds: int, pids: list[int]) -> Phase:  # type: ignore[no-untyped-def]
    worker_before, pg_before = cpu_seconds(pids), cpu_seconds(postgres_pids())
    start = utcnow()
    began = time.perf_counter()
    trigger_cycle(sessions)
    wait_for(lambda: cycle_done(sessions, start, feeds), 900, "the cycle")
    seconds = time.perf_counter() - began
    return Phase(seconds, cpu_used(worker_before, cpu_seconds(pids)),
                 cpu_used(pg_before, cpu_seconds(postgres_pids())))


def run_setup(label: str, database: str, count: int, server: StaticServer, corpus: Corpus, directory: Path) -> Result:
    directory.mkdir()
    config = write_config(directory, database, server, corpus)
    relay = Relay(load_config(config))  # creates the schema and the feed rows, nothing due yet
    with relay.sessions.begin() as session:
        session.execute(update(models.Feed).values(next_check_at=utcnow() + timedelta(days=1)))
    try:
        with workers(config, count, directory) as pids:
            ingest = measure(relay.sessions, len(corpus.names), pids)
            poll = measure(relay.sessions, len(corpus.names), pids)
    finally:
        relay.close()
    return Result(label, ingest, poll)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--origins", type=int, default=60)
    parser.add_argument("--aggregators", type=int, default=60)
    parser.add_argument("--per-feed", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts on PostgreSQL")
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="feedrelay-scale-") as tmp:
        directory = Path(tmp)
        corpus = generate(directory / "feeds", origins=args.origins, aggregators=args.aggregators,
                          per_feed=args.per_feed)
        print(f"corpus: {len(corpus.names)} feeds, {corpus.items} items ({corpus.articles} articles); "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        with StaticServer(directory / "feeds") as server:
            results.append(run_setup("SQLite, 1 daemon", f"sqlite:///{directory / 'sqlite' / 'feedrelay.db'}",
                                     1, server, corpus, directory / "sqlite"))
            print(f"  done: {results[-1].label}", flush=True)
            for count in (int(n) for n in args.workers.split(",")):
                with fresh_database("feedrelay_bench") as url:
                    results.append(run_setup(f"PostgreSQL, {count} worker{'s' if count > 1 else ''}", url,
                                             count, server, corpus, directory / f"pg{count}"))
                print(f"  done: {results[-1].label}", flush=True)
    items, feeds = corpus.items, len(corpus.names)
    print("\n| setup | ingest items/s | ingest s | worker CPU s | PostgreSQL CPU s | polls/s (304) | poll worker CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.label} | {items / r.ingest.seconds:.0f} | {r.ingest.seconds:.1f} | {r.ingest.worker_cpu:.1f} | "
              f"{r.ingest.postgres_cpu:.1f} | {feeds / r.poll.seconds:.0f} | {r.poll.worker_cpu:.1f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (other processes share the 2 cores)")


if __name__ == "__main__":
    main()

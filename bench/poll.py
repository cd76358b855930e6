"""Polling benchmark: one full poll cycle over N local feeds (90 % answer 304, 10 % changed).

    python -m bench.poll [--feeds 10000] [--workers 16] [--processes 1,2] [--skip-daemon]

Same run, same server, same concurrency, each after a warm-up cycle that stored validators:
  bare      a plain requests conditional-GET loop (shared Session, thread pool, no parsing)
  fetcher   feedrelay's Fetcher alone (SSRF guard, caps, deadline, hashing, encoding check)
  feedrelay the real pipeline (`Relay.run_once`): SQLite state, parse/clean/store of changed feeds,
            once per `--processes` count (`worker.processes`, the same 16 fetch threads in all)
Then a cycle with nothing changed (100 % 304) for bare and feedrelay: the quiet path's cost alone.
Then the daemon (`feedrelay run`) with N feeds configured: time to poll them all and peak RSS.
The server runs in another process; CPU seconds are the measuring process's own and its worker
processes'. Per-host cap = workers, since every feed lives on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from bench.feedserver import start_feed_server
from bench.procstat import cpu_seconds, cpu_used
from ingest.fetch import Fetcher, FetchState, HttpSettings

if TYPE_CHECKING:
    from feedrelay.pipeline import Relay


def measure(run: Callable[[], int], children: list[int] | None = None) -> tuple[int, float, float]:
    """(feeds, wall seconds, CPU seconds of this process and `children`) for one cycle."""
    theirs = cpu_seconds(children or [])
    wall, cpu = time.perf_counter(), time.process_time()
    feeds = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return feeds, wall, cpu + cpu_used(theirs, cpu_seconds(children or []))


def bare_cycle(session: requests.Session, urls: list[str], etags: dict[str, str], workers: int) -> int:
    def get(url: str) -> int:
        headers = {"If-None-Match": etags[url]} if url in etags else {}
        response = session.get(url, headers=headers, timeout=(10, 30))
        _ = response.content
        if response.status_code == 200:
            etags[url] = response.headers.get("ETag", "")
        return response.status_code

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(1 for _ in pool.map(get, urls))


def fetcher_cycle(fetcher: Fetcher, states: dict[str, FetchState], workers: int) -> int:
    def fetch(url: str) -> str:
        state = states[url]
        result = fetcher.fetch(state)
        states[url] = FetchState(result.url, result.etag, result.last_modified, result.body_hash)
        return result.outcome

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(fetch, list(states)))
    assert outcomes.count("error") == 0, f"{outcomes.count('error')} errors"
    return len(outcomes)


def relay_cycle(relay: Relay) -> int:
    report = relay.run_once()
    errors = [f for f in report.feeds if f.error]
    assert not errors, f"{len(errors)} errors, first: {errors[0].error}"
    return len(report.feeds)


def write_config(directory: Path, port: int, feeds: int, workers: int, interval: str = "1h",
                 processes: int = 1) -> Path:
    lines = [f"database: sqlite:///{directory / 'bench.db'}", "http:", "  allow_private_networks: true",
             f"  workers: {workers}", f"  per_host: {workers}", "worker:", f"  processes: {processes}",
             "defaults:", f"  interval: {interval}", "log:", "  level: WARNING", "feeds:"]
    lines += [f"  - name: feed-{n}\n    url: http://127.0.0.1:{port}/f/{n}.xml" for n in range(feeds)]
    path = directory / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def server_requests(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as answer:
        return json.load(answer)["requests"]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def daemon_run(port: int, feeds: int, workers: int, timeout: float) -> tuple[int, float, float, int]:
    """Start `feedrelay run` with `feeds` configured and let it poll (all, or until `timeout`).

    Returns (feeds polled, seconds, peak RSS MB, exit code after SIGTERM).
    """
    with tempfile.TemporaryDirectory(prefix="feedrelay-bench-daemon-") as tmp:
        config = write_config(Path(tmp), port, feeds, workers)
        before = server_requests(port)
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "feedrelay.cli", "-c", str(config), "run"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        polled, peak = 0, 0.0
        while time.perf_counter() - started < timeout and process.poll() is None:
            time.sleep(0.5)
            peak = max(peak, peak_rss_mb(process.pid))
            polled = server_requests(port) - before
            if polled >= feeds:
                break
        elapsed = time.perf_counter() - started
        time.sleep(2)  # let the last stores land
        peak = max(peak, peak_rss_mb(process.pid)) if process.poll() is None else peak
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = -9
        if code != 0:
            print(process.stderr.read().decode()[-2000:], file=sys.stderr)
        return polled, elapsed, peak, code


def poll_cycles(port: int, feeds: int, workers: int, counts: list[int]) -> None:
    """Warm up, then measure and print one cycle each for bare, fetcher and feedrelay (per process count)."""
    from feedrelay.config import load_config
    from feedrelay.pipeline import Relay

    urls = [f"http://127.0.0.1:{port}/f/{n}.xml" for n in range(feeds)]
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=workers))
    fetcher = Fetcher(HttpSettings(allow_private_networks=True, per_host=workers))
    etags: dict[str, str] = {}
    states = {url: FetchState(url) for url in urls}
    results: dict[str, tuple[int, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="feedrelay-bench-") as tmp:
        relays: dict[int, Relay] = {}
        for count in counts:
            directory = Path(tmp) / f"processes-{count}"
            directory.mkdir()
            relays[count] = Relay(load_config(write_config(directory, port, feeds, workers, processes=count)))
            relays[count].polls.start()
        children = {count: [c.pid for c in relay.polls.children if c] for count, relay in relays.items()}
        print(f"{feeds} feeds on 127.0.0.1:{port}, {workers} workers; warm-up cycles…", flush=True)
        cycles: list[tuple[str, Callable[[], int], list[int] | None]] = [
            ("bare", lambda: bare_cycle(session, urls, etags, workers), None),
            ("fetcher", lambda: fetcher_cycle(fetcher, states, workers), None)]
        cycles += [(f"feedrelay ×{count}", lambda relay=relay: relay_cycle(relay), children[count])
                   for count, relay in relays.items()]
        for name, run, _ in cycles:
            count, wall, _ = measure(run)
            print(f"  warm-up {name}: {count / wall:.0f} feeds/s (all 200, {wall:.1f}s)", flush=True)
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/bump", method="POST")).read()
        for name, run, pids in cycles:
            results[name] = measure(run, pids)
        # and once more with nothing changed (100 % 304): the cost of the quiet path alone
        results["bare, all 304"] = measure(lambda: bare_cycle(session, urls, etags, workers))
        for count, relay in relays.items():
            results[f"feedrelay ×{count}, all 304"] = measure(lambda relay=relay: relay_cycle(relay), children[count])
            relay.close()
    print(f"\nOne poll cycle, {feeds} feeds (90 % 304, 10 % changed), {workers} workers, {os.cpu_count()} CPUs "
          "(feedrelay ×N: N processes):")
    print(f"{'':24} {'feeds/s':>9} {'wall s':>8} {'CPU s':>7} {'vs bare':>8}")
    for name, (count, wall, cpu) in results.items():
        base = results["bare, all 304"] if "all 304" in name else results["bare"]
        print(f"{name:24} {count / wall:9.0f} {wall:8.2f} {cpu:7.2f} {count / wall / (base[0] / base[1]):7.2f}x",
              flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--processes", default="1,2", help="worker.processes values to run, comma-separated")
    parser.add_argument("--skip-cycles", action="store_true")
    parser.add_argument("--skip-daemon", action="store_true")
    parser.add_argument("--daemon-seconds", type=float, default=600, help="stop the daemon after this long")
    args = parser.parse_args()
    server, port = start_feed_server(args.feeds)
    if not args.skip_cycles:
        poll_cycles(port, args.feeds, args.workers, [int(value) for value in args.processes.split(",")])
    if not args.skip_daemon:
        polled, elapsed, peak, code = daemon_run(port, args.feeds, args.workers, timeout=args.daemon_seconds)
        print(f"\ndaemon with {args.feeds} feeds configured: polled {polled} in {elapsed:.0f}s "
              f"(from an empty database), peak RSS {peak:.0f} MB, SIGTERM exit code {code}")
    server.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

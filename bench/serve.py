"""Feed server benchmark: `feedrelay serve` against nginx serving the same 100-item Atom file.

    python -m bench.serve [--duration 5] [--rounds 3] [--connections 32] [--items 100]

Renders a 100-item Atom feed with the feed target, then in the same run measures requests/s
with `wrk` (Debian package `wrk`, one thread) for three request kinds on loopback:
  304        revalidation (If-None-Match with the server's own ETag)
  200        the full file, no compression
  200 gzip   the full file, Accept-Encoding: gzip (nginx compresses on the fly, level 6;
             feedrelay serves a gzip copy it made once per file version)
against `feedrelay serve` with each engine (granian, the default, and waitress; own process,
default `serve` settings) and nginx (`nginx-light`, own temp config, `worker_processes auto`).
Servers take turns for `--rounds` rounds and the best round counts, so a burst of load from
other processes on the machine does not decide the ratio. Besides requests/s it reports requests
per CPU-second the server's processes used (from /proc), which load from other processes
disturbs far less. Prints both tables with each feedrelay engine's ratio to nginx.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedrelay.config import parse_config
from feedrelay.items import Enclosure, Entry, Item
from publish.feedfiles import FeedFilesTarget

PARAGRAPH = ("Local officials presented the new plan on Tuesday, describing the changes residents "
             "can expect over the coming months and answering questions from the audience. ")


class Archive:
    """The Archive interface over a fixed list of entries."""

    def __init__(self, entries: list[Entry]) -> None:
        self.items = entries

    def count(self) -> int:
        return len(self.items)

    def entries(self, limit: int, offset: int = 0) -> list[Entry]:
        return self.items[offset:offset + limit]

    def versions(self, limit: int, offset: int = 0) -> list[tuple[int, int]]:
        return [(e.story_id, e.revision) for e in self.entries(limit, offset)]


def render_feed(directory: Path, items: int) -> Path:
    """Write `atom.xml` with `items` realistic entries (about 1.5 KB of HTML each)."""
    config = parse_config(f"targets: [{{name: bench, type: feed, dir: {directory}, max_items: {items}}}]",
                          directory / "config.yaml")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [
        Entry(story_id=n, revision=1, entry_id=f"tag:feedrelay.invalid,2026:story/{n}",
              item=Item(feed="bench", guid=f"https://news.example/?p={n}", link=f"https://news.example/{n}/",
                        title=f"Story number {n} about the town council", content_html=f"<p>{PARAGRAPH * 8}</p>",
                        summary=PARAGRAPH, authors=["A. Reporter"], published=start + timedelta(hours=n),
                        categories=["Local"], tags=["council", "town"],
                        enclosures=[Enclosure(f"https://news.example/{n}.jpg", "image/jpeg", 12345)]),
              source_title="News Example", source_url="https://news.example/",
              updated=start + timedelta(hours=n))
        for n in range(items, 0, -1)
    ]
    FeedFilesTarget(config.targets[0], directory).flush(Archive(entries))  # type: ignore[arg-type]
    return directory / "atom.xml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, path: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if head(port, path)[0] == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no server on port {port}")


def head(port: int, path: str, **headers: str) -> tuple[int, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}


# As many server processes as nginx's `worker_processes auto` starts (waitress ignores it).
SERVE_WORKERS = os.cpu_count() or 1


def start_feedrelay(directory: Path, port: int, engine: str) -> subprocess.Popen[bytes]:
    config = directory / f"serve-{engine}.yaml"
    config.write_text(f"targets: [{{name: bench, type: feed, dir: {directory}}}]\n"
                      f"serve: {{host: 127.0.0.1, port: {port}, engine: {engine}, workers: {SERVE_WORKERS}}}\n")
    return subprocess.Popen([sys.executable, "-m", "feedrelay.cli", "-c", str(config), "--log-level", "WARNING",
                             "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_nginx(directory: Path, port: int) -> subprocess.Popen[bytes]:
    conf = directory / "nginx.conf"
    conf.write_text(textwrap.dedent(f"""
        worker_processes auto;
        pid {directory}/nginx.pid;
        error_log {directory}/nginx-error.log crit;
        daemon off;
        events {{ worker_connections 1024; }}
        http {{
            access_log off;
            sendfile on;
            tcp_nopush on;
            keepalive_requests 1000000;
            types {{ application/atom+xml xml; }}
            gzip on;
            gzip_types application/atom+xml;
            gzip_comp_level 6;
            gzip_vary on;
            client_body_temp_path {directory}/nginx-body;
            proxy_temp_path {directory}/nginx-proxy;
            fastcgi_temp_path {directory}/nginx-fastcgi;
            uwsgi_temp_path {directory}/nginx-uwsgi;
            scgi_temp_path {directory}/nginx-scgi;
            server {{
                listen 127.0.0.1:{port};
                root {directory};
            }}
        }}
    """))
    return subprocess.Popen(["nginx", "-c", str(conf), "-p", str(directory)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@dataclass
class Rate:
    """One measurement: requests/s, and requests per CPU-second the server's processes spent."""

    per_second: float
    per_cpu_second: float


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of `pid` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        times[child] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(p, 0.0) for p in tree)


def wrk(url: str, duration: int, connections: int, headers: dict[str, str], server_pid: int) -> Rate:
    """wrk's requests/s (one thread: leaves the other core to the server) and the server's CPU cost."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", url]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    cpu_before = process_tree_cpu(server_pid)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = process_tree_cpu(server_pid) - cpu_before
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if not match or not total:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    if non_2xx:
        raise RuntimeError(f"{non_2xx[1]} error responses from {url}")
    return Rate(float(match[1]), int(total[1]) / max(cpu, 0.01))


def measure(port: int, duration: int, connections: int, pid: int) -> dict[str, Rate]:
    url = f"http://127.0.0.1:{port}/atom.xml"
    etag = head(port, "/atom.xml")[1]["etag"]
    status, gz_headers = head(port, "/atom.xml", **{"Accept-Encoding": "gzip"})
    assert status == 200 and gz_headers.get("content-encoding") == "gzip", gz_headers
    assert head(port, "/atom.xml", **{"If-None-Match": etag})[0] == 304
    wrk(url, 1, connections, {}, pid)  # warm-up
    return {
        "304": wrk(url, duration, connections, {"If-None-Match": etag}, pid),
        "200": wrk(url, duration, connections, {}, pid),
        "200 gzip": wrk(url, duration, connections, {"Accept-Encoding": "gzip"}, pid),
    }


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM if process.args[0] != "nginx" else signal.SIGQUIT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


SERVERS: dict[str, Callable[[Path, int], subprocess.Popen[bytes]]] = {
    "feedrelay (granian)": lambda directory, port: start_feedrelay(directory, port, "granian"),
    "feedrelay (waitress)": lambda directory, port: start_feedrelay(directory, port, "waitress"),
    "nginx": start_nginx,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="turns per server; the best counts")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args()
    missing = [tool for tool in ("wrk", "nginx") if not shutil.which(tool)]
    if missing:
        print(f"bench/serve.py needs {' and '.join(missing)} (apt-get install wrk nginx-light)", file=sys.stderr)
        return 2
    best: dict[str, dict[str, float]] = {name: {} for name in SERVERS}
    cost: dict[str, dict[str, float]] = {name: {} for name in SERVERS}
    with tempfile.TemporaryDirectory(prefix="feedrelay-bench-serve-") as temp:
        directory = Path(temp)
        directory.chmod(0o755)  # nginx workers run as an unprivileged user
        feed = render_feed(directory, args.items)
        print(f"atom.xml: {args.items} entries, {feed.stat().st_size / 1024:.1f} KiB; wrk -t1 "
              f"-c{args.connections} -d{args.duration}s; {args.rounds} rounds; {os.cpu_count()} cores")
        for _ in range(args.rounds):
            for name, start in SERVERS.items():
                port = free_port()
                process = start(directory, port)
                try:
                    wait_for(port, "/atom.xml")
                    for kind, rate in measure(port, args.duration, args.connections, process.pid).items():
                        best[name][kind] = max(best[name].get(kind, 0.0), rate.per_second)
                        cost[name][kind] = max(cost[name].get(kind, 0.0), rate.per_cpu_second)
                finally:
                    stop(process)
    print_table("requests/s (best round)", best)
    print_table("requests per CPU-second of the server's processes (best round)", cost)
    return 0


def print_table(title: str, results: dict[str, dict[str, float]]) -> None:
    """One row per request kind, one column per server, with each feedrelay engine's ratio to nginx."""
    limit = results["nginx"]
    print(f"\n{title}")
    print(f"{'request':<10} " + " ".join(f"{name:>21}" for name in results))
    for kind in limit:
        cells = []
        for name in results:
            ratio = "" if name == "nginx" else f" {results[name][kind] / limit[kind]:.2f}x"
            cells.append(f"{results[name][kind]:>13,.0f}{ratio:>8}")
        print(f"{kind:<10} " + " ".join(f"{c:>21}" for c in cells))


if __name__ == "__main__":
    sys.exit(main())

"""`worker.processes`: feeds polled in child processes of one daemon, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from feedrelay.config import load_config
from feedrelay.metrics import build_registry
from feedrelay.pipeline import Relay
from feedrelay.processes import host_processes, per_process_cap
from store import models
from tests.support.postgres import fresh_database
from tests.support.server import LocalServer, Request, Response

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
pytestmark = pytest.mark.slow


def feed_xml(n: int) -> bytes:
    """Feed `n`: an article of its own and a copy of story `n % 5`, syndicated by every fifth feed."""
    own = (f"<item><title>Own report {n}</title><link>https://site{n}.example/own</link>"
           f"<description>Report number {n} from site {n}, written only here.</description></item>")
    copy = (f"<item><title>Shared story {n % 5}</title><link>https://origin.example/story-{n % 5}</link>"
            f"<description>The shared story {n % 5}, syndicated on several sites word for word.</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {n}</title>'
            f"<link>https://site{n}.example/</link>{own}{copy}</channel></rss>").encode()


def write_config(directory: Path, database: str, server: LocalServer, feeds: int, *, processes: int,
                 per_host: int = 8, workers: int = 8, hosts: tuple[str, ...] = ("127.0.0.1",)) -> Path:
    lines = [f"database: {database}", "http:", "  allow_private_networks: true", f"  workers: {workers}",
             f"  per_host: {per_host}", "worker:", f"  processes: {processes}", "feeds:"]
    for n, host in zip(range(feeds), itertools.cycle(hosts), strict=False):
        lines.append(f"  - name: feed-{n}\n    url: http://{host}:{server.port}/f/{n}.xml")
    path = directory / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        for n in range(60):
            srv.route(f"/f/{n}.xml", Response(200, feed_xml(n), RSS))
        yield srv


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relay.db'}"
    else:
        with fresh_database() as url:
            yield url


def counts(database: str) -> tuple[int, int, int]:
    """(items, stories, feeds still leased)."""
    engine = create_engine(database)
    with engine.connect() as connection:
        items = connection.scalar(select(func.count()).select_from(models.Item))
        stories = connection.scalar(select(func.count()).select_from(models.Story))
        leased = connection.scalar(select(func.count()).select_from(models.Feed)
                                   .where(models.Feed.lease_owner.is_not(None)))
    engine.dispose()
    return items, stories, leased


def test_host_processes_never_exceed_the_per_host_cap_together() -> None:
    for processes, per_host in itertools.product(range(1, 9), range(1, 17)):
        for host in ("a.example", "b.example", "127.0.0.1", ""):
            slots = host_processes(host, processes, per_host)
            assert slots and len(set(slots)) == len(slots) and all(0 <= s < processes for s in slots)
            assert len(slots) * per_process_cap(processes, per_host) <= per_host
            assert per_process_cap(processes, per_host) >= 1


def test_a_pass_over_two_processes_polls_each_feed_once_and_stores_each_item_once(
        tmp_path: Path, server: LocalServer, database: str) -> None:
    relay = Relay(load_config(write_config(tmp_path, database, server, 60, processes=2,
                                           hosts=("127.0.0.1", "localhost"))))
    registry = build_registry(lambda: relay.sessions)
    fetched_before = registry.get_sample_value("feedrelay_fetches_total", {"result": "ok"}) or 0.0
    try:
        report = relay.run_once()
        by_process = dict(relay.polls.polled_by)
        fetched = registry.get_sample_value("feedrelay_fetches_total", {"result": "ok"}) - fetched_before
    finally:
        relay.close()
    assert fetched == 60  # the children's polls count in this process's metrics
    assert [f.feed for f in report.failed] == []
    assert Counter(r.path for r in server.requests) == {f"/f/{n}.xml": 1 for n in range(60)}
    assert len(by_process) == 2 and os.getpid() in by_process and all(by_process.values())
    assert sum(f.new for f in report.feeds) == 65 and sum(f.duplicates for f in report.feeds) == 55
    assert counts(database) == (120, 65, 0)


def test_the_per_host_cap_holds_across_processes(tmp_path: Path, server: LocalServer) -> None:
    server.hold = 0.15
    for per_host in (1, 2, 4):
        relay = Relay(load_config(write_config(tmp_path, f"sqlite:///{tmp_path / f'cap{per_host}.db'}", server, 24,
                                               processes=2, per_host=per_host, workers=8)))
        server.max_concurrent = 0
        try:
            assert not relay.run_once().failed
            used = len(relay.polls.polled_by)
        finally:
            relay.close()
        assert server.max_concurrent == per_host, per_host
        assert used == min(2, per_host)  # one host: with a cap of 1, only one process may poll it


def test_a_killed_worker_process_fails_only_its_polls_and_is_replaced(tmp_path: Path, server: LocalServer) -> None:
    database = f"sqlite:///{tmp_path / 'relay.db'}"
    first_wave = threading.Event()

    def slow(request: Request) -> Response:
        first_wave.set()
        time.sleep(1.0)
        return Response(200, feed_xml(int(request.path[3:-4])), RSS)

    for n in range(20):
        server.route(f"/f/{n}.xml", slow)
    relay = Relay(load_config(write_config(tmp_path, database, server, 20, processes=2, workers=4)))
    try:
        relay.polls.start()
        victim = relay.polls.children[1]
        assert victim is not None
        killer = threading.Timer(0.5, lambda: first_wave.wait(10) and os.kill(victim.pid, signal.SIGKILL))
        killer.start()
        report = relay.run_once()
        killer.join()
        died = [f for f in report.failed if "exited" in (f.error or "")]
        assert died and len(report.failed) == len(died), [f.error for f in report.failed]
        assert {f.feed for f in report.feeds if f.ok} | {f.feed for f in died} == {f"feed-{n}" for n in range(20)}
        assert counts(database)[2] == 0  # the dead process's leases were given back
        engine = create_engine(database)
        with engine.connect() as connection:
            rows = connection.execute(select(models.Feed.name, models.Feed.error_count, models.Feed.last_error,
                                             models.Feed.next_check_at)).all()
        engine.dispose()
        failed = {row.name: row for row in rows if row.error_count}
        assert set(failed) == {f.feed for f in died}  # each counts as an error of its feed,
        now = datetime.now(UTC)
        assert all("exited" in row.last_error for row in failed.values())
        assert all(row.next_check_at > now + timedelta(minutes=10) for row in failed.values())  # backed off

        for n in range(20):
            server.route(f"/f/{n}.xml", Response(200, feed_xml(n), RSS))
        again = relay.run_once()  # the child is started again and every feed is polled
        assert not again.failed
        replacement = relay.polls.children[1]
        assert replacement is not None and replacement.pid != victim.pid
    finally:
        relay.close()
    assert counts(database)[:2] == (40, 25)

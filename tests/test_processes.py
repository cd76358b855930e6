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

import feedrelay.processes as pool_module
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


def test_the_processes_of_a_host_hold_exactly_the_per_host_cap_together() -> None:
    for processes, per_host in itertools.product(range(1, 9), range(1, 17)):
        for host in ("a.example", "b.example", "127.0.0.1", ""):
            slots = host_processes(host, processes, per_host)
            assert slots and len(set(slots)) == len(slots) and all(0 <= s < processes for s in slots)
            assert len(slots) * per_process_cap(processes, per_host) == per_host
    assert len(host_processes("a.example", 2, 3)) == 1  # 3 connections in one process, not 1 + 1
    assert len(host_processes("a.example", 4, 6)) == 3


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
    for per_host in (1, 2, 3, 4):
        relay = Relay(load_config(write_config(tmp_path, f"sqlite:///{tmp_path / f'cap{per_host}.db'}", server, 24,
                                               processes=2, per_host=per_host, workers=8)))
        server.max_concurrent = 0
        try:
            assert not relay.run_once().failed
            used = len(relay.polls.polled_by)
        finally:
            relay.close()
        assert server.max_concurrent == per_host, per_host
        # one host: with a cap of 1 or 3, one process polls it (3 cannot be shared evenly by 2)
        assert used == (1 if per_host % 2 else 2)


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


def test_a_worker_process_that_keeps_dying_is_restarted_after_a_delay(tmp_path: Path, server: LocalServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "SHORT_LIFE", 6.0)
    relay = Relay(load_config(write_config(tmp_path, f"sqlite:///{tmp_path / 'relay.db'}", server, 12,
                                           processes=2, per_host=2, workers=4)))

    def kill_child() -> int:
        child = relay.polls.children[1]
        assert child is not None and child.alive
        os.kill(child.pid, signal.SIGKILL)
        child.reader.join(10)
        assert not child.alive
        time.sleep(pool_module.SHORT_LIFE + 0.5)  # its death is judged by when it died, not when noticed
        return child.pid

    try:
        relay.polls.start()
        first = kill_child()
        assert not relay.run_once().failed  # died soon after its start, once: started again at once
        second = relay.polls.children[1]
        assert second is not None and second.pid != first and second.alive
        assert relay.polls.polled_by[second.pid] > 0
        kill_child()
        before = Counter(relay.polls.polled_by)
        assert not relay.run_once().failed  # twice in a row: its polls run here while it waits
        assert relay.polls.children[1] is second and not second.alive
        assert relay.polls.polled_by - before == Counter({os.getpid(): 12})
    finally:
        relay.close()


def test_the_daemon_routes_a_moved_feed_by_the_host_it_moved_to(tmp_path: Path, server: LocalServer) -> None:
    from feedrelay.daemon import Daemon

    assert host_processes("localhost", 2, 1) == [1] and host_processes("127.0.0.1", 2, 1) == [0]
    server.route("/old.xml", Response(301, headers={"Location": f"http://127.0.0.1:{server.port}/f/0.xml"}))
    database = f"sqlite:///{tmp_path / 'relay.db'}"
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {database}\nhttp:\n  allow_private_networks: true\n  per_host: 1\n"
                      f"worker:\n  processes: 2\nfeeds:\n  - name: moved\n"
                      f"    url: http://localhost:{server.port}/old.xml\n")
    daemon = Daemon(config, load_config(config))
    polls = daemon.relay.polls
    try:
        daemon.dispatch()
        wait = time.monotonic() + 30
        while (daemon.in_flight or not polls.polled_by) and time.monotonic() < wait:
            time.sleep(0.05)
        child = polls.children[1]
        assert child is not None and dict(polls.polled_by) == {child.pid: 1}  # configured on localhost
        engine = create_engine(database)
        with engine.begin() as connection:
            assert connection.scalar(select(models.Feed.url)) == f"http://127.0.0.1:{server.port}/f/0.xml"
            connection.execute(models.Feed.__table__.update().values(next_check_at=datetime.now(UTC)))
        engine.dispose()
        daemon.dispatch()
        while (daemon.in_flight or polls.polled_by.total() < 2) and time.monotonic() < wait:
            time.sleep(0.05)
        assert dict(polls.polled_by) == {child.pid: 1, os.getpid(): 1}  # now by the host it moved to
    finally:
        daemon.relay.close()

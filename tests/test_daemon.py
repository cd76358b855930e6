"""`feedrelay run` as a real subprocess: hot reload, broken config, SIGHUP, SIGTERM, one daemon per SQLite DB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.server import LocalServer, Request, Response

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def feed_xml(name: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{name}</title>'
            f"<item><title>{name} news</title><link>https://{name}.example/1</link>"
            f"<guid>https://{name}.example/1</guid><description>Today in {name}.</description></item>"
            f"</channel></rss>").encode()


class DaemonRun:
    """A `feedrelay run` subprocess with its config file and log."""

    def __init__(self, tmp_path: Path, server: LocalServer, feeds: list[str]) -> None:
        self.tmp_path, self.server = tmp_path, server
        self.config = tmp_path / "config.yaml"
        self.log = tmp_path / f"daemon-{len(list(tmp_path.glob('daemon-*.log')))}.log"
        self.write(feeds)
        self.process: subprocess.Popen[bytes] | None = None

    def write(self, feeds: list[str], extra: str = "") -> None:
        lines = [f"database: sqlite:///{self.tmp_path / 'relay.db'}", "http:", "  allow_private_networks: true",
                 "defaults:", "  interval: 1h", "feeds:"]
        lines += [f"  - name: {name}\n    url: {self.server.url(f'/{name}.xml')}" for name in feeds]
        self.config.write_text("\n".join(lines) + "\n" + extra)

    def start(self, *, own_group: bool = False) -> DaemonRun:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "feedrelay.cli", "-c", str(self.config), "run"],
                                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp_path,
                                            start_new_session=own_group)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 40) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        for name in ("alpha", "beta", "gamma"):
            srv.route(f"/{name}.xml", Response(200, feed_xml(name), RSS))
        yield srv


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[DaemonRun]]:
    started: list[DaemonRun] = []
    yield started
    for run in started:
        if run.process and run.process.poll() is None:
            run.process.kill()


def test_hot_reload_adds_feeds_and_survives_a_broken_config(tmp_path, server, daemons):
    run = DaemonRun(tmp_path, server, ["alpha"]).start()
    daemons.append(run)
    wait_for(lambda: server.hits("/alpha.xml") >= 1, "the first feed to be polled")

    run.write(["alpha", "beta"])
    wait_for(lambda: server.hits("/beta.xml") >= 1, "the added feed to be polled without a restart")

    run.config.write_text("feeds:\n  - name: [unclosed\n")
    wait_for(lambda: "config reload rejected" in run.output(), "the broken config to be reported")
    assert run.process.poll() is None

    run.write(["alpha", "beta", "gamma"])
    wait_for(lambda: server.hits("/gamma.xml") >= 1, "polling after the config was fixed")
    assert server.hits("/alpha.xml") == 1  # interval 1h: reloads don't trigger refetches
    assert run.stop() == 0


def test_sighup_reloads(tmp_path, server, daemons):
    run = DaemonRun(tmp_path, server, ["alpha"]).start()
    daemons.append(run)
    wait_for(lambda: server.hits("/alpha.xml") >= 1, "the first feed to be polled")
    stat = run.config.stat()
    run.write(["alpha", "beta"])
    os.utime(run.config, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the file watcher sees no change
    time.sleep(3)
    assert server.hits("/beta.xml") == 0
    run.process.send_signal(signal.SIGHUP)
    wait_for(lambda: server.hits("/beta.xml") >= 1, "the feed added before SIGHUP to be polled")
    assert run.stop() == 0


def test_sigterm_finishes_the_running_poll_and_exits_0(tmp_path, server, daemons):
    arrived = threading.Event()

    def slow(request: Request) -> Response:
        arrived.set()
        time.sleep(2)
        return Response(200, feed_xml("alpha"), RSS)

    server.route("/alpha.xml", slow)
    run = DaemonRun(tmp_path, server, ["alpha"]).start()
    daemons.append(run)
    wait_for(arrived.is_set, "the poll to reach the server")
    started = time.monotonic()
    assert run.stop() == 0
    assert time.monotonic() - started < 30
    engine = create_engine(f"sqlite:///{tmp_path / 'relay.db'}")
    with engine.connect() as connection:
        outcome = connection.execute(text("SELECT last_outcome FROM feeds WHERE name = 'alpha'")).scalar()
        items = connection.execute(text("SELECT count(*) FROM items")).scalar()
    engine.dispose()
    assert outcome == "ok" and items == 1


def test_second_daemon_on_the_same_sqlite_database_refuses(tmp_path, server, daemons):
    first = DaemonRun(tmp_path, server, ["alpha"]).start()
    daemons.append(first)
    wait_for(lambda: "daemon started" in first.output(), "the first daemon to start")
    second = DaemonRun(tmp_path, server, ["alpha"]).start()
    daemons.append(second)
    assert second.process.wait(timeout=30) == 1
    assert "already running" in second.output() and "one daemon per database" in second.output()
    assert first.process.poll() is None
    assert first.stop() == 0


@pytest.mark.parametrize("spelling", ["sqlite+pysqlite:///{db}", "sqlite:///{db}?timeout=30", "sqlite:///{link}",
                                      "sqlite:///{dotted}"])
def test_every_spelling_of_the_sqlite_url_finds_the_same_lock(tmp_path: Path, spelling: str) -> None:
    from feedrelay.config import load_config
    from feedrelay.daemon import AlreadyRunning, lock_database

    db = tmp_path / "data" / "relay.db"
    db.parent.mkdir()
    (tmp_path / "link").symlink_to(db.parent)

    def config(url: str):  # type: ignore[no-untyped-def]
        path = tmp_path / "config.yaml"
        path.write_text(f'database: "{url}"\nfeeds: []\n')
        return load_config(path)

    held = lock_database(config(f"sqlite:///{db}"))
    try:
        other = spelling.format(db=db, link=tmp_path / "link" / "relay.db", dotted=db.parent / ".." / "data" / "relay.db")
        with pytest.raises(AlreadyRunning, match="already running"):
            lock_database(config(other))
    finally:
        assert held is not None
        held.close()


def test_a_reload_during_a_publish_pass_closes_the_old_relay_only_when_the_pass_ends(tmp_path: Path) -> None:
    from feedrelay.config import load_config
    from feedrelay.daemon import Daemon
    from feedrelay.publishing import PublishReport

    config = tmp_path / "config.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'relay.db'}\nfeeds: []\n")
    daemon = Daemon(config, load_config(config))
    old = daemon.relay
    publishing, finish = threading.Event(), threading.Event()
    closed: list[bool] = []

    def slow_publish() -> PublishReport:
        publishing.set()
        finish.wait(10)
        return PublishReport()

    close = old.close
    old.publish = slow_publish  # type: ignore[method-assign]
    old.close = lambda: (closed.append(True), close())[1]  # type: ignore[method-assign]
    thread = threading.Thread(target=daemon.publish, kwargs={"force": True})
    thread.start()
    assert publishing.wait(10)
    config.write_text(f"database: sqlite:///{tmp_path / 'relay.db'}\nfeeds: []\nlog:\n  level: DEBUG\n")
    daemon.reload()
    assert daemon.relay is not old and closed == []  # the pass still uses it
    finish.set()
    thread.join(10)
    wait_for(lambda: closed == [True], "the old relay to be closed")
    daemon.relay.close()


@pytest.mark.parametrize("processes", [1, 2])
def test_a_reload_during_polls_closes_the_old_relay_once_they_end(tmp_path: Path, server: LocalServer,
                                                                 processes: int) -> None:
    from feedrelay.config import load_config
    from feedrelay.daemon import Daemon

    def slow(request: Request) -> Response:
        time.sleep(1)
        return Response(200, feed_xml(request.path[1:-4]), RSS)

    for name in ("alpha", "beta", "gamma"):
        server.route(f"/{name}.xml", slow)
    run = DaemonRun(tmp_path, server, ["alpha", "beta", "gamma"])
    run.write(["alpha", "beta", "gamma"], f"worker:\n  processes: {processes}\n")
    daemon = Daemon(run.config, load_config(run.config))
    old = daemon.relay
    closing: list[str] = []
    close = old.close

    def recorded_close() -> None:
        try:
            close()
            closing.append("closed")
        except BaseException as exc:
            closing.append(repr(exc))
            raise

    old.close = recorded_close  # type: ignore[method-assign]
    daemon.dispatch()
    wait_for(lambda: server.hits("/gamma.xml") == 1, "the polls to reach the server")
    run.write(["alpha", "beta"], f"worker:\n  processes: {processes}\n")
    daemon.reload()
    assert closing == []  # its polls are still running
    wait_for(lambda: not daemon.in_flight and closing, "the polls to end and the old relay to close")
    assert closing == ["closed"]
    daemon.relay.close()


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_worker_processes_poll_and_stop_with_the_daemon(tmp_path, server, daemons):
    run = DaemonRun(tmp_path, server, ["alpha", "beta", "gamma"])
    run.write(["alpha", "beta", "gamma"], "worker:\n  processes: 3\n")
    run.start()
    daemons.append(run)
    wait_for(lambda: all(server.hits(f"/{n}.xml") == 1 for n in ("alpha", "beta", "gamma")), "every feed polled")
    children = children_of(run.process.pid)
    assert len(children) >= 2, run.output()  # two worker processes (and multiprocessing's resource tracker)
    assert run.stop() == 0
    # the worker processes were joined; multiprocessing's resource tracker exits on its own
    wait_for(lambda: not any(alive(pid) for pid in children), "the worker processes to be gone", timeout=10)
    assert "Traceback" not in run.output()


def test_worker_processes_exit_when_the_daemon_is_killed(tmp_path, server, daemons):
    run = DaemonRun(tmp_path, server, ["alpha"])
    run.write(["alpha"], "worker:\n  processes: 2\n")
    run.start()
    daemons.append(run)
    wait_for(lambda: server.hits("/alpha.xml") == 1, "the feed polled")
    children = children_of(run.process.pid)
    assert children
    run.process.kill()
    run.process.wait()
    wait_for(lambda: not any(alive(pid) for pid in children), "the worker processes to exit", timeout=10)


def test_sigterm_to_the_whole_group_lets_worker_processes_finish_their_polls(tmp_path, server, daemons):
    arrived = threading.Semaphore(0)

    def slow(request: Request) -> Response:
        arrived.release()
        time.sleep(2)
        return Response(200, feed_xml(request.path[1:-4]), RSS)

    names = ["alpha", "beta", "gamma", "delta"]
    for name in names:
        server.route(f"/{name}.xml", slow)
    run = DaemonRun(tmp_path, server, names)
    run.write(names, "worker:\n  processes: 2\n")
    run.start(own_group=True)
    daemons.append(run)
    for _ in names:
        assert arrived.acquire(timeout=20)  # every poll is running, in both processes
    os.killpg(run.process.pid, signal.SIGTERM)
    assert run.process.wait(timeout=40) == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'relay.db'}")
    with engine.connect() as connection:
        outcomes = dict(connection.execute(text("SELECT name, last_outcome FROM feeds")).all())
        items = connection.execute(text("SELECT count(*) FROM items")).scalar()
    engine.dispose()
    assert outcomes == {name: "ok" for name in names} and items == 4, run.output()

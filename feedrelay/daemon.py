"""`feedrelay run`: the scheduling daemon.

APScheduler drives small jobs: dispatch due feeds to the worker pool, publish after new items
(and retry due deliveries), watch the config file for changes (SIGHUP reloads too), and
housekeeping. A new config is validated before it replaces the running one; an invalid one is
logged and the last good config stays. SIGTERM/SIGINT stop taking work, let in-flight fetches
finish within a grace period, and exit 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import make_url

from feedrelay.config import Config, ConfigError, load_config
from feedrelay.logs import register_config_secrets
from feedrelay.metrics import start_metrics_server
from feedrelay.pipeline import FeedOutcome, Relay

log = logging.getLogger("feedrelay.daemon")
GRACE_SECONDS = 30.0
M_ARENA_MAX = -8  # glibc mallopt parameter


class AlreadyRunning(RuntimeError):
    """Another daemon holds this SQLite database."""


def lock_database(config: Config) -> IO[str] | None:
    """With SQLite, hold an exclusive lock file beside the database; None for other databases.

    The lock is named after the database file's real path, so every spelling of its URL (a
    driver name, query options, a relative path, a symlink) finds the same lock."""
    url = make_url(config.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(f"{Path(url.database).resolve()}.lock")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyRunning(
            f"another feedrelay daemon ({owner}) is already running on {path.with_suffix('')}; "
            "SQLite supports one daemon per database (`worker.processes` lets it use more cores; PostgreSQL, "
            "several machines)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


class Daemon:
    """The running daemon: one Relay, a worker pool and the scheduler's jobs."""

    def __init__(self, config_path: Path, config: Config) -> None:
        self.config_path = config_path
        self.config_mtime = _mtime(config_path)
        self.relay = Relay(config)
        self.in_flight: dict[str, tuple[Future[FeedOutcome], Relay]] = {}
        self.retired: list[Relay] = []
        self.in_use: Counter[int] = Counter()  # relays (by id) a claim, publish or housekeeping pass holds
        self.lock = threading.Lock()
        self.dispatching = threading.Lock()
        self.dispatch_wanted = threading.Event()
        self.publish_wanted = threading.Event()
        self.stopping = threading.Event()
        self.reload_wanted = threading.Event()
        self.scheduler = BackgroundScheduler(timezone="UTC")

    # -- jobs ----------------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Claim as many due feeds as the pool has free slots (a lease each) and submit them.

        Runs on the scheduler's tick and in a fetch thread as soon as it finishes a feed; one
        caller claims at a time, and it claims again if slots were freed while it was busy.
        """
        self.dispatch_wanted.set()
        while self.dispatch_wanted.is_set() and self.dispatching.acquire(blocking=False):
            try:
                self.dispatch_wanted.clear()
                self._claim_and_submit()
            finally:
                self.dispatching.release()

    def _claim_and_submit(self) -> None:
        if self.stopping.is_set():
            return
        with self._relay_in_use() as relay:
            with self.lock:
                free = relay.polls.capacity - len(self.in_flight)
            for name, stored in relay.claim_due(free).items():
                with self.lock:
                    if name in self.in_flight:
                        continue
                    future = relay.polls.submit(name, stored)
                    self.in_flight[name] = (future, relay)
                future.add_done_callback(lambda f, n=name: self._done(n, f))

    @contextlib.contextmanager
    def _relay_in_use(self) -> Iterator[Relay]:
        """The current relay, kept open for the block even if a config reload retires it meanwhile."""
        with self.lock:
            relay = self.relay
            self.in_use[id(relay)] += 1
        try:
            yield relay
        finally:
            with self.lock:
                self.in_use[id(relay)] -= 1
                if not self.in_use[id(relay)]:
                    del self.in_use[id(relay)]
            self._close_retired()

    def _done(self, name: str, future: Future[FeedOutcome]) -> None:
        with self.lock:
            self.in_flight.pop(name, None)
        self._close_retired()
        outcome = future.result()
        if outcome.error:
            log.warning("feed %s: %s", name, outcome.error)
        else:
            log.info("feed %s: %s, %d new, %d duplicates, %d updated", name, outcome.outcome, outcome.new,
                     outcome.duplicates, outcome.updated)
        if outcome.new or outcome.updated:
            self.publish_wanted.set()
        if not self.stopping.is_set():  # a slot is free: claim more work now, not at the next tick
            try:
                self.dispatch()
            except Exception:  # the database is down: the scheduler's tick tries again
                log.exception("dispatch after feed %s failed", name)

    def publish(self, force: bool = False) -> None:
        """Deliver pending revisions after new items, or whenever some are waiting (another worker
        stored them, or a dead worker's lease expired), and periodically for retries."""
        with self._relay_in_use() as relay:
            if not force and not self.publish_wanted.is_set() and not relay.deliveries_waiting():
                return
            self.publish_wanted.clear()
            report = relay.publish()
        if report.counts:
            log.info("published: %s", dict(report.counts))

    def housekeeping(self) -> None:
        """Retention: prune old item content (identity keys stay)."""
        with self._relay_in_use() as relay:
            pruned = relay.housekeeping()
        if pruned:
            log.info("housekeeping: pruned %d items older than the retention period", pruned)

    def check_config(self) -> None:
        """Reload when the config file changed on disk or SIGHUP asked for it."""
        mtime = _mtime(self.config_path)
        if mtime != self.config_mtime or self.reload_wanted.is_set():
            self.reload_wanted.clear()
            self.config_mtime = mtime
            self.reload()

    def reload(self) -> None:
        """Validate the config file and switch to it; keep the last good config if invalid.

        Polls already running finish on the old config, whose relay is closed once they are done.
        """
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("config reload rejected, keeping the running config:\n%s", exc)
            return
        old = self.relay
        if config.database_url != old.config.database_url:
            log.error("config reload rejected, keeping the running config: the database cannot change "
                      "while the daemon runs (restart it)")
            return
        relay = None
        try:
            relay = Relay(config, owner=old.owner)
            relay.polls.start()
        except Exception:
            log.exception("config reload failed, keeping the running config")
            if relay is not None:
                relay.close()
            return
        register_config_secrets(config)
        with self.lock:
            self.relay = relay
            self.retired.append(old)
        self._close_retired()
        log.info("config reloaded: %d feeds, %d targets", len(config.feeds), len(config.targets))
        self.publish_wanted.set()

    def _close_retired(self, *, wait: bool = False) -> None:
        """Close relays of earlier configs that no running poll uses any more: in a thread of its
        own (the caller may be one of the threads or readers closing waits for), or now with `wait`."""
        with self.lock:
            busy = {id(relay) for _, relay in self.in_flight.values()} | set(self.in_use)
            idle = [relay for relay in self.retired if id(relay) not in busy]
            self.retired = [relay for relay in self.retired if id(relay) in busy]
        for relay in idle:
            if wait:
                relay.close()
            else:
                threading.Thread(target=relay.close, name="close-retired", daemon=True).start()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self.relay.config.worker.id:  # a restart under a fixed id takes back its dead run's work
            log.info("released %d leases of an earlier run", self.relay.release_leases())
        self.relay.polls.start()
        self.scheduler.add_job(self.dispatch, "interval", seconds=1, id="dispatch", max_instances=1,
                               coalesce=True)
        self.scheduler.add_job(self.publish, "interval", seconds=2, id="publish", max_instances=1,
                               coalesce=True)
        self.scheduler.add_job(self.publish, "interval", seconds=60, id="retry", max_instances=1,
                               coalesce=True, kwargs={"force": True})
        self.scheduler.add_job(self.housekeeping, "interval", hours=1, id="housekeeping", max_instances=1,
                               coalesce=True, next_run_time=datetime.now(UTC) + timedelta(minutes=1))
        self.scheduler.add_job(self.check_config, "interval", seconds=2, id="config", max_instances=1,
                               coalesce=True)
        self.scheduler.start()
        self.publish(force=True)

    def stop(self, grace: float = GRACE_SECONDS) -> int:
        """Stop taking work, wait for in-flight polls (grace period), publish what they brought.

        Returns how many polls were still running when the grace period ended (their leases
        expire by themselves; their transactions never committed).
        """
        self.stopping.set()
        self.scheduler.shutdown(wait=True)
        deadline = time.monotonic() + grace
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.1)
        abandoned = len(self.in_flight)
        if abandoned:
            log.warning("grace period over: abandoning %d running polls", abandoned)
        self.relay.polls.shutdown()
        try:
            self.relay.release_leases()
        except Exception:  # the database is down: the leases expire by themselves
            log.exception("could not release this worker's leases")
        self.relay.quiet.flush()
        if self.publish_wanted.is_set():
            self.publish(force=True)
        if not abandoned:
            self.relay.close()
            self._close_retired(wait=True)
        return abandoned


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas: by default each fetch thread may get its own, and the memory
    fragmented across them keeps the daemon's RSS high. No effect on other C libraries."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)


def run_daemon(config_path: Path, config: Config) -> int:
    """Run `config`, read from `config_path` (watched for changes), until SIGTERM/SIGINT; returns the
    process exit code."""
    limit_malloc_arenas()
    try:
        lock = lock_database(config)
    except AlreadyRunning as exc:
        log.error("%s", exc)
        print(f"feedrelay: {exc}", file=sys.stderr)
        return 1
    daemon = Daemon(config_path, config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: daemon.reload_wanted.set())
    daemon.start()
    if config.metrics_port is not None:
        server, _ = start_metrics_server(config.serve.host, config.metrics_port, lambda: daemon.relay.sessions)
        log.info("metrics on http://%s:%d/metrics", config.serve.host, server.server_port)
    log.info("feedrelay daemon started: %d feeds, %d targets, database %s", len(config.feeds),
             len(config.targets), config.database_url.split("@")[-1])
    stop.wait()
    log.info("stopping: finishing in-flight work")
    abandoned = daemon.stop()
    if lock is not None:
        lock.close()
    log.info("stopped")
    if abandoned:  # don't wait for worker threads still inside a fetch: exit now
        logging.shutdown()
        os._exit(0)
    return 0


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None

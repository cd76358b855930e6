"""Retention: old items lose their content but keep their identity keys (tombstones).

A pruned item keeps its row (per-feed key, URL and text hashes) and its story keeps its
`story_keys`, so when the article shows up again — in the same feed or copied elsewhere — it is
recognised and not republished. What goes: the stored item value (`data`) and the near-duplicate
fingerprint (which needs the text to be verified anyway).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, null, or_, select, union, update
from sqlalchemy.orm import Session

from feedrelay.items import utcnow
from store import models

BATCH = 500


def prune(session: Session, retention: timedelta, *, now: datetime | None = None) -> int:
    """Turn items first seen before `now - retention` into tombstones; return how many.

    Items of a story updated within the retention window, or with a delivery still pending (a
    target paused or backing off for longer than the window), keep their content: a target may
    still need it. Runs in batches inside the caller's transaction.
    """
    cutoff = (now or utcnow()) - retention
    recent_stories = union(
        select(models.Story.id).where(models.Story.updated_at >= cutoff),
        select(models.Delivery.story_id).where(models.Delivery.state == "pending"),
    )
    pruned = 0
    while True:
        ids = list(session.scalars(
            select(models.Item.id).where(
                models.Item.first_seen < cutoff,
                models.Item.status != "pruned",
                or_(models.Item.story_id.is_(None), models.Item.story_id.not_in(recent_stories)),
            ).limit(BATCH)
        ))
        if not ids:
            return pruned
        session.execute(delete(models.NearDupBand).where(models.NearDupBand.item_id.in_(ids)))
        session.execute(update(models.Item).where(models.Item.id.in_(ids)).values(status="pruned", data=null()))
        pruned += len(ids)

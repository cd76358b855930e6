"""Feed health for `feedrelay status` (table or JSON) and the dashboard."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedrelay.config import Config
from store import models


@dataclass
class FeedStatus:
    """One feed's state as an operator reads it."""

    name: str
    url: str
    enabled: bool
    health: str
    last_fetch: datetime | None
    last_result: str | None
    http_status: int | None
    next_check: datetime | None
    error_count: int
    last_error: str | None
    moved_from: str | None
    items: int
    stories: int
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_fetch", "next_check"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def health(row: models.Feed | None, configured_enabled: bool) -> str:
    """ok / new / error / backoff / gone / disabled — one word for the table."""
    if not configured_enabled:
        return "disabled"
    if row is None or row.last_checked_at is None:
        return "new"
    if not row.enabled:
        return row.disabled_reason or "disabled"
    if row.error_count >= 3:
        return "backoff"
    if row.error_count:
        return "error"
    return "ok"


def feed_statuses(session: Session, config: Config) -> list[FeedStatus]:
    """Every configured feed's state, in config order."""
    rows = {r.name: r for r in session.scalars(select(models.Feed))}
    items = dict(session.execute(
        select(models.Item.feed_id, func.count()).group_by(models.Item.feed_id)).all())
    stories = dict(session.execute(
        select(models.Item.feed_id, func.count(func.distinct(models.Item.story_id)))
        .where(models.Item.story_id.is_not(None)).group_by(models.Item.feed_id)).all())
    out = []
    for feed in config.feeds:
        row = rows.get(feed.name)
        out.append(FeedStatus(
            name=feed.name,
            url=row.url if row else config.feed_url(feed),
            enabled=feed.enabled and (row.enabled if row else True),
            health=health(row, feed.enabled),
            last_fetch=row.last_checked_at if row else None,
            last_result=row.last_outcome if row else None,
            http_status=row.last_http_status if row else None,
            next_check=row.next_check_at if row else None,
            error_count=row.error_count if row else 0,
            last_error=row.last_error if row else None,
            moved_from=row.moved_from if row else None,
            items=items.get(row.id, 0) if row else 0,
            stories=stories.get(row.id, 0) if row else 0,
            warnings=(row.warnings or []) if row else [],
        ))
    return out

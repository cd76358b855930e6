"""Feed health for `feedrelay status` (table or JSON) and the dashboard."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedrelay.config import Config
from feedrelay.tables import print_table
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


HEALTH_STYLES = {"ok": "green", "new": "cyan", "error": "yellow", "backoff": "red", "gone": "bold red",
                 "disabled": "dim"}


def relative(when: datetime | None, now: datetime) -> str:
    """`5m ago`, `in 1h 4m`, or `—` — how far `when` is from `now`, to the minute."""
    if when is None:
        return "—"
    seconds = int((when - now).total_seconds())
    minutes = abs(seconds) // 60
    if minutes == 0:
        return "now"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    text = " ".join(part for part in (f"{days}d" if days else "", f"{hours}h" if hours else "",
                                      f"{mins}m" if mins and not days else "") if part)
    return f"in {text}" if seconds > 0 else f"{text} ago"


def print_statuses(statuses: list[FeedStatus], now: datetime, out: TextIO | None = None) -> None:
    """The `feedrelay status` table: colours in a terminal, plain columns when piped."""
    columns = ["feed", "health", "last fetch", "result", "next check", "errors", "last error", "items", "stories"]
    rows, styles = [], []
    for s in statuses:
        result = (s.last_result or "—") + (f" (moved from {s.moved_from})" if s.moved_from else "")
        if s.http_status and s.last_result not in (None, "ok"):
            result += f" [{s.http_status}]"
        rows.append([s.name, s.health, relative(s.last_fetch, now), result,
                     relative(s.next_check, now) if s.enabled else "—", str(s.error_count),
                     (s.last_error or "")[:120], str(s.items), str(s.stories)])
        styles.append({1: HEALTH_STYLES.get(s.health, ""), 5: "red" if s.error_count else "",
                       6: "yellow" if s.last_error else ""})
    print_table("feeds", columns, rows, styles, out=out)

"""When to check a feed next: pure functions over the last fetch result and what the feed told us.

Normal interval: the configured interval, replaced by one derived from the observed posting rate
when known, never shorter than what the publisher asks for (RSS `<ttl>`, `sy:updatePeriod` /
`sy:updateFrequency`, Cache-Control max-age / Expires), always within [min_interval,
max_interval], then spread by jitter. Errors back off exponentially (with jitter, capped at
`max_backoff`) and never stop a feed; `Retry-After` is honoured without counting as an error.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingest.fetch import FetchResult

SY_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}
POLLS_PER_POST = 4  # check about four times per typical gap between posts
RECENT_POSTS = 20
RETRY_AFTER_LIMIT = timedelta(days=30)  # a longer Retry-After is a broken server, not a request


@dataclass(frozen=True, slots=True)
class Policy:
    """Per-feed schedule settings, in seconds."""

    interval: float
    min_interval: float
    max_interval: float
    max_backoff: float = 86400
    jitter: float = 0.1

    def clamp(self, seconds: float) -> float:
        return min(max(seconds, self.min_interval), self.max_interval)

    @classmethod
    def widened(cls, interval: timedelta, min_interval: timedelta, max_interval: timedelta,
                max_backoff: timedelta) -> Policy:
        """A policy whose bounds always include the configured `interval` itself."""
        seconds = interval.total_seconds()
        return cls(seconds, min(min_interval.total_seconds(), seconds), max(max_interval.total_seconds(), seconds),
                   max_backoff.total_seconds())


@dataclass(frozen=True, slots=True)
class FeedHints:
    """What a feed document says about its own update rhythm."""

    ttl: float | None = None  # seconds (RSS <ttl> is in minutes; `from_values` converts)
    update_period: float | None = None  # seconds per sy:updateFrequency updates
    posting_interval: float | None = None  # typical seconds between posts

    @classmethod
    def from_values(cls, ttl_minutes: float | None, update_period: str | None, update_frequency: float | None,
                    dates: Iterable[datetime | None] = ()) -> FeedHints:
        """Hints from RSS `<ttl>` (minutes), `sy:updatePeriod`/`sy:updateFrequency` and item dates."""
        ttl = _number(ttl_minutes)
        period = SY_PERIODS.get(str(update_period or "").strip().lower())
        frequency = _number(update_frequency) or 1
        return cls(
            ttl=ttl * 60 if ttl else None,
            update_period=period / frequency if period else None,
            posting_interval=posting_interval(dates),
        )


def _number(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def posting_interval(dates: Iterable[datetime | None]) -> float | None:
    """Median seconds between the most recent posts; None with fewer than three dated posts."""
    recent = sorted({d for d in dates if d is not None}, reverse=True)[:RECENT_POSTS]
    if len(recent) < 3:
        return None
    gaps = [(a - b).total_seconds() for a, b in zip(recent, recent[1:], strict=False)]
    return statistics.median(gaps)


def normal_interval(policy: Policy, hints: FeedHints, max_age: float | None) -> float:
    """The interval before jitter: posting-rate adapted, publisher floors applied, clamped."""
    interval = policy.interval
    if hints.posting_interval:
        interval = hints.posting_interval / POLLS_PER_POST
    floors = [hint for hint in (hints.ttl, hints.update_period, max_age) if hint]
    if floors:
        interval = max(interval, *floors)
    return policy.clamp(interval)


def backoff_delay(policy: Policy, error_count: int, rng: random.Random) -> float:
    """Exponential backoff for the `error_count`-th consecutive error, jittered into [½d, d]."""
    base = policy.clamp(policy.interval)
    doublings = min(max(error_count - 1, 0), 64)  # 2**1024 would overflow a float long after the cap
    delay = min(policy.max_backoff, base * 2 ** doublings)
    return delay * rng.uniform(0.5, 1.0)


def _jittered(policy: Policy, seconds: float, rng: random.Random) -> float:
    return policy.clamp(seconds * rng.uniform(1 - policy.jitter, 1 + policy.jitter))


def next_check(now: datetime, policy: Policy, result: FetchResult, *, error_count: int = 0,
               hints: FeedHints | None = None, interval: float | None = None,
               rng: random.Random | None = None) -> datetime:
    """When to fetch the feed again after `result`.

    The normal interval comes from `hints` or, when the document was not parsed this time (304,
    unchanged), from `interval` as remembered from the last parse; the response's max-age is a
    floor either way. `error_count` counts consecutive errors including this result (ignored
    unless it is an error). A Retry-After is honoured as asked, up to `RETRY_AFTER_LIMIT` (a
    server asking for more is broken, and a feed must never stop silently), plus a little jitter
    so feeds sharing a host don't return at once.
    """
    rng = rng or random.Random()
    if result.outcome == "error":
        return now + timedelta(seconds=backoff_delay(policy, max(error_count, 1), rng))
    if result.outcome == "gone":
        return now + timedelta(seconds=policy.max_backoff)
    if interval is None or hints is not None:
        normal = normal_interval(policy, hints or FeedHints(), result.max_age)
    else:
        normal = policy.clamp(max(interval, result.max_age or 0))
    if result.outcome == "retry_later":
        cap = now + RETRY_AFTER_LIMIT
        earliest = min(result.retry_after, cap) if result.retry_after else now + timedelta(seconds=normal)
        spread = rng.uniform(0, policy.jitter * policy.min_interval)
        return max(earliest, now) + timedelta(seconds=spread)
    return now + timedelta(seconds=_jittered(policy, normal, rng))

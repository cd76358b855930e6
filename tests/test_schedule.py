"""Schedule math: adapted intervals, jitter, backoff, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from feedrelay.schedule import (
    FeedHints,
    Policy,
    backoff_delay,
    next_check,
    normal_interval,
    posting_interval,
)
from ingest.fetch import FetchResult

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = Policy(interval=1800, min_interval=300, max_interval=6 * 3600, jitter=0.1)
HOUR = 3600


def result(outcome: str = "not_modified", **kwargs) -> FetchResult:
    return FetchResult(outcome=outcome, url="https://example.com/feed", **kwargs)


def delays(outcome: str = "not_modified", n: int = 200, **kwargs) -> list[float]:
    rng = random.Random(7)
    options = {k: kwargs.pop(k) for k in ("error_count", "hints") if k in kwargs}
    return [(next_check(NOW, POLICY, result(outcome, **kwargs), rng=rng, **options) - NOW).total_seconds()
            for _ in range(n)]


def test_configured_interval_with_jitter():
    seen = delays()
    assert all(1620 <= d <= 1980 for d in seen)
    assert max(seen) - min(seen) > 200  # feeds are spread out, not synchronised


def test_publisher_hints_lengthen_but_stay_within_bounds():
    assert normal_interval(POLICY, FeedHints(ttl=2 * HOUR), None) == 2 * HOUR
    assert normal_interval(POLICY, FeedHints(update_period=HOUR), None) == HOUR
    assert normal_interval(POLICY, FeedHints(), max_age=900) == 1800  # shorter than configured: no effect
    assert normal_interval(POLICY, FeedHints(), max_age=3 * HOUR) == 3 * HOUR
    assert normal_interval(POLICY, FeedHints(ttl=7 * 86400), None) == POLICY.max_interval
    assert normal_interval(POLICY, FeedHints(), max_age=0) == 1800


def test_hints_from_feed_values():
    hints = FeedHints.from_values("60", "daily", "4")
    assert hints.ttl == HOUR and hints.update_period == 6 * HOUR and hints.posting_interval is None
    assert FeedHints.from_values("soon", "sometimes", None) == FeedHints()


def test_posting_rate_adapts_both_ways():
    busy = [NOW - timedelta(minutes=10 * i) for i in range(10)]
    quiet = [NOW - timedelta(days=2 * i) for i in range(10)]
    assert posting_interval(busy) == 600 and posting_interval(busy[:2]) is None
    assert normal_interval(POLICY, FeedHints(posting_interval=posting_interval(busy)), None) == 300
    assert normal_interval(POLICY, FeedHints(posting_interval=posting_interval(quiet)), None) == 6 * HOUR
    daily = FeedHints(posting_interval=4 * HOUR, ttl=2 * HOUR)
    assert normal_interval(POLICY, daily, None) == 2 * HOUR


def test_errors_back_off_exponentially_with_jitter_and_cap():
    rng = random.Random(3)
    for count in range(1, 5):
        delay = backoff_delay(POLICY, count, rng)
        assert 1800 * 2 ** (count - 1) / 2 <= delay <= 1800 * 2 ** (count - 1)
    assert all(43200 <= backoff_delay(POLICY, 30, rng) <= 86400 for _ in range(50))
    seen = delays("error", error_count=3)
    assert all(3600 <= d <= 7200 for d in seen) and len(set(seen)) > 100


def test_backoff_stays_capped_after_any_number_of_errors():
    rng = random.Random(5)
    policy = Policy(interval=1800.0, min_interval=300.0, max_interval=6 * 3600.0, jitter=0.1)  # as configs give
    for count in (64, 65, 1025, 10**6):
        assert 43200 <= backoff_delay(policy, count, rng) <= 86400


def test_recovery_returns_to_the_normal_interval():
    assert all(1620 <= d <= 1980 for d in delays("ok", error_count=0))


def test_retry_after_is_honoured_and_not_an_error():
    later = NOW + timedelta(hours=3)
    seen = delays("retry_later", retry_after=later)
    assert all(3 * HOUR <= d <= 3 * HOUR + 30 for d in seen)
    assert all(1620 <= d <= 1980 for d in delays("retry_later"))  # 429 without Retry-After
    two_days = delays("retry_later", retry_after=NOW + timedelta(days=2))  # longer than max_backoff
    assert all(2 * 86400 <= d <= 2 * 86400 + 30 for d in two_days)
    assert max(delays("retry_later", retry_after=NOW + timedelta(days=365))) <= 30 * 86400 + 30  # a broken server
    assert all(0 <= d <= 30 for d in delays("retry_later", retry_after=NOW - timedelta(hours=1)))


def test_an_absurd_retry_after_does_not_overflow():
    from ingest.fetch import parse_retry_after

    far = parse_retry_after("99999999999999999999", NOW)
    assert far is not None and NOW + timedelta(days=3600) < far < NOW + timedelta(days=3700)
    assert parse_retry_after("120", NOW) == NOW + timedelta(seconds=120)

"""Prometheus metrics: what this process did (counters) and what the database holds (gauges).

Counters are process-wide and filled by the pipeline and the publishing loop; `build_registry`
adds gauges read from the database at scrape time (delivery queue, due feeds, feed errors), so
`feedrelay serve`, which fetches nothing itself, still shows the state of the whole relay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from store import models

if TYPE_CHECKING:
    from feedrelay.pipeline import FeedOutcome
    from feedrelay.publishing import PublishReport

log = logging.getLogger("feedrelay.metrics")
FETCHES = Counter("feedrelay_fetches", "Feed fetches by result (ok, not_modified, unchanged, error, gone, "
                  "retry_later)", ["result"], registry=None)
FETCH_SECONDS = Histogram("feedrelay_fetch_duration_seconds", "Time to fetch one feed",
                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=None)
ITEMS = Counter("feedrelay_items", "Fetched items by what became of them (new, duplicate, updated, filtered)",
                ["result"], registry=None)
DELIVERIES = Counter("feedrelay_deliveries", "Delivery attempts by target and result", ["target", "result"],
                     registry=None)
FEED_ERRORS = Counter("feedrelay_feed_errors", "Failed polls by feed", ["feed"], registry=None)
PROCESS_METRICS = (FETCHES, FETCH_SECONDS, ITEMS, DELIVERIES, FEED_ERRORS)

SessionSource = Callable[[], sessionmaker[Session]]


def record_poll(outcome: FeedOutcome) -> None:
    """Count one feed poll: its fetch result and latency, and what became of its items."""
    FETCHES.labels(outcome.outcome).inc()
    FETCH_SECONDS.observe(outcome.seconds)
    if outcome.error and outcome.outcome != "retry_later":
        FEED_ERRORS.labels(outcome.feed).inc()
    for label, count in (("new", outcome.new), ("duplicate", outcome.duplicates), ("updated", outcome.updated),
                         ("filtered", outcome.filtered)):
        if count:
            ITEMS.labels(label).inc(count)


def record_publish(report: PublishReport) -> None:
    """Count a publishing pass's delivery attempts by target and result (done, retry, failed, …)."""
    for (target, result), count in report.counts.items():
        DELIVERIES.labels(target, result).inc(count)


class StoreCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, sessions: SessionSource) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        queue = GaugeMetricFamily("feedrelay_delivery_queue", "Deliveries waiting per target and state "
                                  "(pending, failed)", labels=["target", "state"])
        due = GaugeMetricFamily("feedrelay_feeds_due", "Configured, enabled feeds whose next check is due")
        feeds = GaugeMetricFamily("feedrelay_feeds", "Feeds known to the database by state",
                                  labels=["state"])
        errors = GaugeMetricFamily("feedrelay_feed_consecutive_errors", "Consecutive failed polls per feed",
                                   labels=["feed"])
        stories = GaugeMetricFamily("feedrelay_stories", "Stories stored")
        now = datetime.now(UTC)
        try:
            with self.sessions()() as session:
                for target, state, count in session.execute(
                        select(models.Delivery.target, models.Delivery.state, func.count())
                        .where(models.Delivery.state.in_(("pending", "failed")))
                        .group_by(models.Delivery.target, models.Delivery.state)):
                    queue.add_metric([target, state], count)
                rows = list(session.execute(select(models.Feed.name, models.Feed.enabled, models.Feed.error_count,
                                                   models.Feed.next_check_at, models.Feed.configured)))
                stories.add_metric([], session.scalar(select(func.count()).select_from(models.Story)) or 0)
        except DBAPIError as exc:  # not migrated yet, or down: the process counters still answer
            log.warning("metrics: database unavailable: %s", exc)
            return
        # Only feeds the config has and enables are ever claimed: a removed feed's row is not due.
        due.add_metric([], sum(1 for _, enabled, _, at, configured in rows
                               if enabled and configured and (at is None or at <= now)))
        states = {"enabled": 0, "disabled": 0, "failing": 0}
        for name, enabled, error_count, _, _ in rows:
            states["failing" if enabled and error_count else "enabled" if enabled else "disabled"] += 1
            errors.add_metric([name], error_count or 0)
        for state, count in states.items():
            feeds.add_metric([state], count)
        yield from (queue, due, feeds, errors, stories)


def build_registry(sessions: SessionSource) -> CollectorRegistry:
    """A registry with this process's counters and the database gauges."""
    registry = CollectorRegistry()
    for metric in PROCESS_METRICS:
        registry.register(metric)
    registry.register(StoreCollector(sessions))
    return registry


def metrics_wsgi_app(sessions: SessionSource):  # type: ignore[no-untyped-def]
    """A WSGI app answering the Prometheus text format (for `serve`'s `/metrics`)."""
    return make_wsgi_app(build_registry(sessions))


def start_metrics_server(host: str, port: int, sessions: SessionSource) -> tuple[WSGIServer, threading.Thread]:
    """Serve `/metrics` on `host:port` in a daemon thread (the daemon's `metrics_port`)."""
    return start_http_server(port, addr=host, registry=build_registry(sessions))

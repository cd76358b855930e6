"""Prometheus metrics count what a relay run did, and `/metrics` (serve and daemon port) shows it."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedrelay.config import load_config
from feedrelay.metrics import build_registry, start_metrics_server
from feedrelay.pipeline import Relay
from feedrelay.serve import make_app
from tests.support.wsgi import serving

ROOT = Path(__file__).resolve().parent.parent
COUNTERS = [
    ("feedrelay_fetches_total", {"result": "ok"}),
    ("feedrelay_fetches_total", {"result": "error"}),
    ("feedrelay_fetches_total", {"result": "unchanged"}),
    ("feedrelay_fetch_duration_seconds_count", {}),
    ("feedrelay_items_total", {"result": "new"}),
    ("feedrelay_items_total", {"result": "duplicate"}),
    ("feedrelay_feed_errors_total", {"feed": "broken"}),
    ("feedrelay_deliveries_total", {"target": "public", "result": "done"}),
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    origin = (ROOT / "samples" / "minsk-chronicle.xml").read_text(encoding="utf-8")
    (tmp_path / "samples" / "copycat.xml").write_text(origin.replace("minsk-chronicle.example", "copycat.example"),
                                                      encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text("""database: sqlite:///relay.db
feeds:
  - name: minsk-chronicle
    url: samples/minsk-chronicle.xml
  - name: copycat
    url: samples/copycat.xml
  - name: field-notes
    url: samples/field-notes-atom.xml
  - name: broken
    url: samples/missing.xml
targets:
  - name: public
    type: feed
    dir: out
""")
    return path


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_counters_and_gauges_match_a_relay_run(config: Path) -> None:
    relay = Relay(load_config(config))
    registry = build_registry(lambda: relay.sessions)

    def value(name: str, labels: dict[str, str] | None = None) -> float:
        return registry.get_sample_value(name, labels or {}) or 0.0

    before = {key(n, labels): value(n, labels) for n, labels in COUNTERS}

    def delta(name: str, labels: dict[str, str] | None = None) -> float:
        return value(name, labels) - before[key(name, labels or {})]

    try:
        outcomes = relay.poll_many(relay.enabled_feeds())
        assert sorted((o.feed, o.outcome) for o in outcomes) == [
            ("broken", "error"), ("copycat", "ok"), ("field-notes", "ok"), ("minsk-chronicle", "ok")]
        assert delta("feedrelay_fetches_total", {"result": "ok"}) == 3
        assert delta("feedrelay_fetches_total", {"result": "error"}) == 1
        assert delta("feedrelay_fetch_duration_seconds_count") == 4
        assert delta("feedrelay_items_total", {"result": "new"}) == sum(o.new for o in outcomes) == 4
        assert delta("feedrelay_items_total", {"result": "duplicate"}) == sum(o.duplicates for o in outcomes) == 2
        assert delta("feedrelay_feed_errors_total", {"feed": "broken"}) == 1
        assert value("feedrelay_delivery_queue", {"target": "public", "state": "pending"}) == 4
        assert value("feedrelay_stories") == 4
        assert value("feedrelay_feeds_due") == 0
        assert value("feedrelay_feed_consecutive_errors", {"feed": "broken"}) == 1
        assert value("feedrelay_feeds", {"state": "failing"}) == 1
        assert value("feedrelay_feeds", {"state": "enabled"}) == 3

        report = relay.publish()
        assert report.delivered("public") == 4
        assert delta("feedrelay_deliveries_total", {"target": "public", "result": "done"}) == 4
        assert registry.get_sample_value("feedrelay_delivery_queue", {"target": "public", "state": "pending"}) is None

        relay.poll_many(relay.enabled_feeds())  # the files did not change
        assert delta("feedrelay_fetches_total", {"result": "unchanged"}) == 3
        assert delta("feedrelay_feed_errors_total", {"feed": "broken"}) == 2
        assert value("feedrelay_feed_consecutive_errors", {"feed": "broken"}) == 2
    finally:
        relay.close()


def test_serve_and_daemon_port_expose_the_same_values(config: Path) -> None:
    loaded = load_config(config)
    with Relay(loaded) as relay:
        relay.run_once()
        expected = build_registry(lambda: relay.sessions)
        done = expected.get_sample_value("feedrelay_deliveries_total", {"target": "public", "result": "done"})
        assert done is not None and done >= 4

        daemon_server, _ = start_metrics_server("127.0.0.1", 0, lambda: relay.sessions)
        try:
            with serving(make_app(loaded)) as port:
                for url in (f"http://127.0.0.1:{port}/metrics", f"http://127.0.0.1:{daemon_server.server_port}/metrics"):
                    samples = scrape(url)
                    assert samples[key("feedrelay_deliveries_total", {"target": "public", "result": "done"})] == done
                    assert samples[key("feedrelay_stories", {})] == 4
                    assert samples[key("feedrelay_feed_consecutive_errors", {"feed": "broken"})] == 1
                    assert key("feedrelay_fetch_duration_seconds_bucket", {"le": "+Inf"}) in samples
        finally:
            daemon_server.shutdown()
            daemon_server.server_close()


def test_the_daemon_serves_metrics_on_metrics_port(config: Path) -> None:
    config.write_text(config.read_text() + "metrics_port: 0\nlog:\n  level: INFO\n")
    daemon = subprocess.Popen([sys.executable, "-m", "feedrelay.cli", "-c", str(config), "run"],
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = daemon.stderr.readline()
            found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
            port = int(found.group(1)) if found else None
        assert port, "the daemon did not log its metrics address"
        while time.monotonic() < deadline:
            samples = scrape(f"http://127.0.0.1:{port}/metrics")
            if samples.get(key("feedrelay_deliveries_total", {"target": "public", "result": "done"})) == 4:
                break
            time.sleep(0.2)
        assert samples[key("feedrelay_fetches_total", {"result": "ok"})] == 3
        assert samples[key("feedrelay_fetches_total", {"result": "error"})] == 1
        assert samples[key("feedrelay_items_total", {"result": "new"})] == 4
        assert samples[key("feedrelay_items_total", {"result": "duplicate"})] == 2
        assert samples[key("feedrelay_deliveries_total", {"target": "public", "result": "done"})] == 4
        assert samples[key("feedrelay_stories", {})] == 4
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
        daemon.stderr.close()


def test_due_gauge_counts_only_feeds_the_config_has_and_enables(config: Path) -> None:
    Relay(load_config(config)).close()  # four feed rows, none checked yet: all due
    text = config.read_text()
    config.write_text(text.replace("  - name: copycat\n    url: samples/copycat.xml\n", "")  # removed
                      .replace("url: samples/missing.xml\n", "url: samples/missing.xml\n    enabled: false\n"))
    with Relay(load_config(config)) as relay:
        registry = build_registry(lambda: relay.sessions)
        assert registry.get_sample_value("feedrelay_feeds_due") == 2  # minsk-chronicle, field-notes

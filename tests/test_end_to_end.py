"""End to end: config → fetch over real HTTP (loopback) → clean → dedup → store → feed files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import feedparser

from tests.support.server import LocalServer, Response

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
RSS = "application/rss+xml; charset=UTF-8"


def feedrelay(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedrelay.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def write_config(tmp_path: Path, server: LocalServer) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"""\
http:
  allow_private_networks: true   # the test server is on loopback
dedup:
  representative: priority
feeds:
  - name: minsk-chronicle
    url: {server.url('/chronicle/feed/')}
    priority: 10
  - name: belnews-digest
    url: {server.url('/digest/feed/')}
  - name: field-notes
    url: {server.url('/notes/atom/')}
  - name: broken
    url: {server.url('/missing/feed/')}
targets:
  - name: public
    type: feed
    dir: out
    title: E2E relay
    attribution: '{{content}}<p class="source">Source: <a href="{{link}}">{{source_title}}</a></p>'
""")
    return config


def serve_samples(server: LocalServer) -> None:
    for path, name in (("/chronicle/feed/", "minsk-chronicle.xml"), ("/digest/feed/", "belnews-aggregator.xml"),
                       ("/notes/atom/", "field-notes-atom.xml")):
        server.route(path, Response(200, (SAMPLES / name).read_bytes(), {"Content-Type": RSS}))


def test_fetch_over_http_publishes_each_story_once_and_clean(tmp_path: Path) -> None:
    with LocalServer() as server:
        serve_samples(server)
        config = write_config(tmp_path, server)
        first = feedrelay("-c", str(config), "fetch", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "feeds: 3 ok, 1 failed" in first.stdout
        assert "broken: HTTP 404" in first.stdout
        assert "5 new, 1 duplicates skipped" in first.stdout

        atom = feedparser.parse((tmp_path / "out" / "atom.xml").read_bytes())
        rss = feedparser.parse((tmp_path / "out" / "rss.xml").read_bytes())
        document = json.loads((tmp_path / "out" / "feed.json").read_text())
        assert not atom.bozo and not rss.bozo
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        assert document["title"] == "E2E relay"
        assert len(atom.entries) == len(rss.entries) == len(document["items"]) == 5

        lavrov = [e for e in document["items"] if "Лавров" in e["title"]]
        assert len(lavrov) == 1, "the syndicated copy must not be published a second time"
        story = lavrov[0]
        assert story["url"] == "https://minsk-chronicle.example/2026/11/26/lukashenko-lavrov-talks/"
        html = story["content_html"]
        assert "Встреча прошла во Дворце Независимости" in html
        assert "Отдельно обсуждались вопросы транзита" in html
        assert "WPeMatico" not in html and "Лукашенко и Лавров.jpg" not in html
        assert "appeared first on" not in html
        assert 'Source: <a href="https://minsk-chronicle.example/2026/11/26/lukashenko-lavrov-talks/"' in html

        for entry in document["items"]:
            body = entry["content_html"].lower()
            assert "<script" not in body and "onclick" not in body and "evil.example" not in body
            assert "utm_source" not in body

        status = feedrelay("-c", str(config), "status", "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        feeds = {f["name"]: f for f in json.loads(status.stdout)["feeds"]}
        assert feeds["minsk-chronicle"]["last_result"] == "ok"
        assert feeds["minsk-chronicle"]["items"] == 2
        assert feeds["broken"]["health"] == "error"
        assert "404" in feeds["broken"]["last_error"]

        again = feedrelay("-c", str(config), "fetch", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "0 new, 0 duplicates skipped" in again.stdout
        assert len(json.loads((tmp_path / "out" / "feed.json").read_text())["items"]) == 5


def test_bundled_config_runs_offline_and_twice_adds_nothing(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(SAMPLES, tmp_path / "samples")
    first = feedrelay("fetch", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "feeds: 3 ok, 0 failed" in first.stdout
    for name in ("atom.xml", "rss.xml", "feed.json"):
        assert (tmp_path / "output" / name).stat().st_size > 500
    second = feedrelay("fetch", cwd=tmp_path)
    assert "items: 0 new" in second.stdout

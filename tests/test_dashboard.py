"""The dashboard rendered by headless Chromium from a real relay run, and its token."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest

from feedrelay.cli import main
from feedrelay.config import load_config
from feedrelay.pipeline import Relay
from feedrelay.serve import make_app
from tests.support.wsgi import serving

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Loopback only: Chromium looks up its update, account and safe-browsing hosts even headless; the
# resolver rule answers every name but 127.0.0.1 with "not found" and the proxy rule sends any
# other connection to a closed local port, so nothing leaves this machine.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--no-pings",
                  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                  "--proxy-server=http://127.0.0.1:9",
                  "--window-size=1280,1500"]


def need_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required under CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    return CHROMIUM


def relay_run(tmp_path: Path, extra: str = "") -> Path:
    """Two passes over the samples: the origin first, then a word-for-word copy and a broken feed."""
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    origin = (ROOT / "samples" / "minsk-chronicle.xml").read_text(encoding="utf-8")
    (tmp_path / "samples" / "copycat.xml").write_text(
        origin.replace("minsk-chronicle.example", "copycat.example").replace("Minsk Chronicle", "Copycat"),
        encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(f"""database: sqlite:///relay.db
feeds:
  - name: minsk-chronicle
    url: samples/minsk-chronicle.xml
    priority: 10
  - name: copycat
    url: samples/copycat.xml
    enabled: false
  - name: field-notes
    url: samples/field-notes-atom.xml
  - name: broken
    url: samples/missing.xml
targets:
  - name: public
    type: feed
    dir: out
{extra}""")
    with Relay(load_config(config)) as relay:
        relay.run_once()
    assert main(["-c", str(config), "feeds", "enable", "copycat"]) == 0
    with Relay(load_config(config)) as relay:
        relay.run_once()
    return config


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    config = relay_run(tmp_path)
    yield from serve(config)


def serve(config: Path) -> Iterator[str]:
    with serving(make_app(load_config(config))) as port:
        yield f"http://127.0.0.1:{port}"


def chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_dashboard_in_headless_chromium(served: str, tmp_path: Path) -> None:
    browser = need_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    chromium(browser, tmp_path, f"--screenshot={screenshot}", served + "/")
    assert screenshot.stat().st_size > 10_000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    dom = lxml.html.fromstring(chromium(browser, tmp_path, "--dump-dom", served + "/").stdout)
    rows = {row.get("data-feed"): row for row in by_class(dom, "feed", "tr")}
    assert list(rows) == ["minsk-chronicle", "copycat", "field-notes", "broken"]
    assert "health-ok" in rows["minsk-chronicle"].get("class")
    assert "health-error" in rows["broken"].get("class")
    assert "cannot read" in by_class(rows["broken"], "error", "td")[0].text_content()
    assert by_class(rows["field-notes"], "num", "td")[-2].text_content().strip() == "2"  # items

    merged = [s for s in by_class(dom, "story", "article") if s.get("data-copies") == "2"]
    assert len(merged) == 2  # both origin articles were copied word for word
    story = merged[0]
    copies = by_class(story, "copy", "li")
    assert [(c.get("data-feed"), c.get("data-reason")) for c in copies] == [
        ("minsk-chronicle", "first"), ("copycat", "text-hash")]
    assert "published copy" in copies[0].text_content()
    assert "text-hash 1.00" in by_class(copies[1], "reason")[0].text_content()
    assert [b.text_content() for b in by_class(by_class(story, "deliveries")[0], "badge")] == ["public r1: done"]
    target = by_class(dom, "target", "tr")[0]
    assert target.get("data-target") == "public"
    assert [td.text_content().strip() for td in by_class(target, "num", "td")] == ["0", "4", "0", "0"]
    assert "4 stories" in dom.get_element_by_id("summary").text_content()


def by_class(node: lxml.html.HtmlElement, name: str, tag: str = "*") -> list[lxml.html.HtmlElement]:
    """Descendants of `node` with class `name` (CSS `tag.name`)."""
    return node.xpath(f".//{tag}[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]")


def fetch(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_token_guards_dashboard_and_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = relay_run(tmp_path, "serve:\n  token_env: FEEDRELAY_TEST_DASHBOARD_TOKEN\n")
    monkeypatch.delenv("FEEDRELAY_TEST_DASHBOARD_TOKEN", raising=False)
    for base in serve(config):
        assert fetch(base + "/")[0] == 403  # a token is configured but not set: nobody gets in
        monkeypatch.setenv("FEEDRELAY_TEST_DASHBOARD_TOKEN", "s3cret-token")
        assert fetch(base + "/")[0] == 401
        assert fetch(base + "/", "wrong")[0] == 401
        status, body = fetch(base + "/", "s3cret-token")
        assert status == 200 and 'data-feed="minsk-chronicle"' in body
        assert fetch(base + "/?token=s3cret-token")[0] == 200
        assert fetch(base + "/metrics")[0] == 401
        assert fetch(base + "/metrics", "s3cret-token")[0] == 200
        assert fetch(base + "/healthz")[0] == 200  # feeds and health stay public


def test_dashboard_escapes_feed_content(tmp_path: Path) -> None:
    config = relay_run(tmp_path)
    text = config.read_text().replace("url: samples/missing.xml", "url: samples/<script>alert(1)</script>.xml")
    config.write_text(text)
    with Relay(load_config(config)) as relay:
        relay.run_once()
    for base in serve(config):
        status, body = fetch(base + "/")
        assert status == 200
        assert "<script>" not in body and "&lt;script&gt;" in body


def test_before_the_daemon_ever_ran_the_page_says_so(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database: sqlite:///never-migrated.db\nfeeds: []\ntargets: []\n")
    for base in serve(config):
        status, body = fetch(base + "/")
        assert status == 503 and "has `feedrelay run` started once?" in body
        status, body = fetch(base + "/metrics")
        assert status == 200 and "feedrelay_fetch_duration_seconds_count" in body and "feedrelay_stories" not in body


def call(app, path: str, *, remote: str = "127.0.0.1", method: str = "GET", authorization: str | None = None,
         query: str = "") -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    """One request to a WSGI app, in process (`remote`: the client address it sees)."""
    from wsgiref.util import setup_testing_defaults

    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": method, "REMOTE_ADDR": remote, "QUERY_STRING": query}
    if authorization:
        environ["HTTP_AUTHORIZATION"] = authorization
    setup_testing_defaults(environ)
    answer: list[str] = []
    body = b"".join(app(environ, lambda status, headers, *rest: answer.append(status)))
    return answer[0], body


def test_without_a_token_only_this_machine_sees_the_dashboard_and_metrics(tmp_path: Path) -> None:
    """Listening on a public address serves the feed files to everyone, not the operator's view."""
    app = make_app(load_config(relay_run(tmp_path)))
    for remote in ("127.0.0.1", "::1"):
        assert call(app, "/", remote=remote)[0] == "200 OK"
    for remote in ("203.0.113.9", "10.1.2.3", ""):
        assert call(app, "/", remote=remote)[0].startswith("403")
        assert call(app, "/metrics", remote=remote)[0].startswith("403")
    assert call(app, "/atom.xml", remote="203.0.113.9")[0] == "200 OK"
    status, body = call(app, "/metrics", method="HEAD")
    assert status == "200 OK" and body == b""  # prometheus_client's own app refuses HEAD


def test_token_schemes_and_a_proxys_own_authorization(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDRELAY_TEST_DASHBOARD_TOKEN", "s3cret-token")
    app = make_app(load_config(relay_run(tmp_path, "serve:\n  token_env: FEEDRELAY_TEST_DASHBOARD_TOKEN\n")))
    remote = "203.0.113.9"
    assert call(app, "/", remote=remote, authorization="bearer s3cret-token")[0] == "200 OK"
    assert call(app, "/", remote=remote, authorization="Basic cHJveHk6cHc=", query="token=s3cret-token")[0] == "200 OK"
    assert call(app, "/", remote=remote, authorization="Basic cHJveHk6cHc=")[0].startswith("401")


def test_feed_urls_are_shown_without_credentials_or_query_values() -> None:
    from ingest.urls import display_url

    assert display_url("https://alice:hunter2@members.example/feed.xml?api_key=SECRET&x=1") == (
        "https://…@members.example/feed.xml?api_key=…&x=…")
    assert display_url("https://site.example/feed/") == "https://site.example/feed/"
    assert display_url("samples/local.xml") == "samples/local.xml"

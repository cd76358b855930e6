"""`feedrelay serve` over a real waitress server: validators, 304s, gzip, content types."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from feedrelay.config import FeedTargetConfig, parse_config
from feedrelay.serve import make_app
from publish.feedfiles import FeedFilesTarget
from tests.support.entries import ListArchive, make_entry
from tests.support.wsgi import serving

CONFIG = """
targets:
  - {{name: main, type: feed, dir: out}}
  - {{name: second, type: feed, dir: out2, formats: [atom]}}
  - {{name: новости, type: feed, dir: out}}
serve: {{host: 127.0.0.1, port: {port}, engine: {engine}, threads: 2}}
"""
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def render(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    config = FeedTargetConfig(name="main", type="feed", dir=out)
    FeedFilesTarget(config, out).flush(ListArchive([make_entry(i) for i in range(1, 6)]))
    return out


@pytest.fixture(scope="module", params=["granian", "waitress"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """`feedrelay serve` as its own process, with each engine."""
    tmp_path = tmp_path_factory.mktemp(f"serve-{request.param}")
    out = render(tmp_path)
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(port=port, engine=request.param))
    process = subprocess.Popen([sys.executable, "-m", "feedrelay.cli", "-c", str(config), "serve"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(port, process)
        yield port, out
    finally:
        process.terminate()
        process.wait(10)


def wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            pytest.fail(f"feedrelay serve exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            get(port, "/healthz")
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("feedrelay serve did not start")


def get(port: int, path: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


@pytest.mark.parametrize(("path", "content_type"), [
    ("/atom.xml", "application/atom+xml; charset=utf-8"),
    ("/rss.xml", "application/rss+xml; charset=utf-8"),
    ("/feed.json", "application/feed+json; charset=utf-8"),
    ("/main/atom.xml", "application/atom+xml; charset=utf-8"),
])
def test_files_are_served_with_type_and_validators(site: tuple[int, Path], path: str,
                                                     content_type: str) -> None:
    port, out = site
    status, headers, body = get(port, path)
    assert status == 200
    assert headers["content-type"] == content_type
    assert body == (out / path.rsplit("/", 1)[1]).read_bytes()
    assert headers["etag"].startswith('"') and not headers["etag"].startswith("W/")
    assert headers["last-modified"].endswith("GMT")
    assert headers["vary"] == "Accept-Encoding"


def test_revalidation_answers_304_until_the_file_changes(site: tuple[int, Path]) -> None:
    port, out = site
    _, headers, _ = get(port, "/atom.xml")
    status, again, body = get(port, "/atom.xml", **{"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"") and again["etag"] == headers["etag"]
    assert get(port, "/atom.xml", **{"If-Modified-Since": headers["last-modified"]})[0] == 304
    assert get(port, "/atom.xml", **{"If-None-Match": '"other"', "If-Modified-Since": headers["last-modified"]})[0] == 200
    assert get(port, "/atom.xml", **{"If-Modified-Since": formatdate(0, usegmt=True)})[0] == 200

    time.sleep(0.01)
    (out / "atom.xml").write_bytes((out / "atom.xml").read_bytes().replace(b"Story 5", b"Story five"))
    status, changed, body = get(port, "/atom.xml", **{"If-None-Match": headers["etag"]})
    assert status == 200 and b"Story five" in body and changed["etag"] != headers["etag"]


def test_gzip_when_accepted(site: tuple[int, Path]) -> None:
    port, out = site
    status, headers, body = get(port, "/feed.json", **{"Accept-Encoding": "br;q=0.5, gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (out / "feed.json").read_bytes()
    assert int(headers["content-length"]) == len(body) < (out / "feed.json").stat().st_size
    plain_etag = get(port, "/feed.json")[1]["etag"]
    assert headers["etag"] != plain_etag  # each representation has its own strong ETag
    assert get(port, "/feed.json", **{"Accept-Encoding": "gzip", "If-None-Match": headers["etag"]})[0] == 304
    assert "content-encoding" not in get(port, "/feed.json", **{"Accept-Encoding": "gzip;q=0"})[1]
    assert "content-encoding" not in get(port, "/feed.json", **{"Accept-Encoding": "gzip;q=bogus"})[1]
    assert get(port, "/feed.json", **{"Accept-Encoding": "*"})[1]["content-encoding"] == "gzip"


@pytest.mark.parametrize(("accept", "gzipped"), [
    ("gzip;Q=0", False), ("*, gzip;q=0", False), ("br, *;q=0.5, gzip;q=0", False), ("*;q=0, gzip", True),
    ("gzip;q=1;level=1", True), ("x-gzip", True), ("identity", False), ("GZIP; q=0.001", True),
])
def test_gzip_negotiation_follows_rfc_9110(site: tuple[int, Path], accept: str, gzipped: bool) -> None:
    """An explicit gzip q wins over `*`, q is case-insensitive, other parameters are ignored."""
    port, _ = site
    headers = get(port, "/feed.json", **{"Accept-Encoding": accept})[1]
    assert (headers.get("content-encoding") == "gzip") is gzipped


def test_head_healthz_and_errors(site: tuple[int, Path]) -> None:
    port, _ = site
    status, headers, body = get(port, "/atom.xml", "HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    status, headers, body = get(port, "/healthz")
    assert status == 200 and json.loads(body) == {
        "status": "ok", "feeds": {"main": True, "second": False, "новости": True, "/": True}}
    assert get(port, "/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/atom.xml")[0] == 200  # a UTF-8 target name
    assert get(port, "/%FF/atom.xml")[0] == 404  # not UTF-8
    assert get(port, "/healthz", "POST")[0] == 405
    assert get(port, "/nothing.xml")[0] == 404
    assert get(port, "/second/atom.xml")[0] == 404  # configured but not rendered yet
    assert get(port, "/../config.yaml")[0] == 404
    assert get(port, "/main/../../config.yaml")[0] == 404
    assert get(port, "/atom.xml", "POST")[0] == 405


def test_extra_routes_can_be_added(tmp_path: Path) -> None:
    render(tmp_path)
    config = parse_config(CONFIG.format(port=0, engine="waitress"), tmp_path / "config.yaml")
    app = make_app(config)

    def hello(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    app.add_route("/extra", hello)
    with serving(app) as port:
        assert get(port, "/extra")[2] == b"hello"
        assert get(port, "/main/atom.xml")[0] == 200

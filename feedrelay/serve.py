"""`feedrelay serve`: the read-only HTTP server for the feed targets' files (WSGI).

Each `feed` target's files are served under `/<target name>/` (`atom.xml`, `rss.xml`,
`feed.json`, archive pages); the first feed target's also at `/`. Responses carry a strong ETag
(a hash of the bytes) and Last-Modified, answer conditional requests with 304, and are gzipped
when the client accepts it. Files are re-read only when their stat changes. `/healthz` reports
liveness. Other routes (dashboard, metrics) are added with `FeedServer.add_route` in `make_app`.

The app runs under granian (a Rust HTTP server with a WSGI interface; `serve.workers`
processes, `serve.threads` threads each; default) or waitress (pure Python, `serve.engine:
waitress`). Granian workers build the app themselves from the config file named in
`FEEDRELAY_SERVE_CONFIG`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

from feedrelay.config import Config, FeedTargetConfig, load_config

log = logging.getLogger("feedrelay.serve")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
FEED_FILE = re.compile(r"^(?:(atom|rss)(?:-archive-\d+)?\.xml|feed(?:-archive-\d+)?\.json)$")
CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
CACHE_CONTROL = "public, max-age=60"
GZIP_MIN_BYTES = 512
CONFIG_ENV = "FEEDRELAY_SERVE_CONFIG"


@dataclass(frozen=True)
class CachedFile:
    """One file's bytes, gzipped bytes and validators, for the stat it was read at."""

    stat_key: tuple[int, int, int]
    body: bytes
    gzipped: bytes | None
    etag: str
    gzip_etag: str
    last_modified: str
    mtime: int
    content_type: str


def _content_type(name: str) -> str:
    return CONTENT_TYPES["json" if name.endswith(".json") else name.split("-")[0].split(".")[0]]


def _load(path: Path, stat: os.stat_result) -> CachedFile:
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:32]
    gzipped = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
    return CachedFile(
        stat_key=(stat.st_mtime_ns, stat.st_size, stat.st_ino), body=body, gzipped=gzipped,
        etag=f'"{digest}"', gzip_etag=f'"{digest}-gz"', last_modified=formatdate(stat.st_mtime, usegmt=True),
        mtime=int(stat.st_mtime), content_type=_content_type(path.name),
    )


def _accepts_gzip(header: str) -> bool:
    """Whether Accept-Encoding allows gzip (RFC 9110 §12.5.3): its own q if named, else `*`'s."""
    qualities: dict[str, float] = {}
    for part in header.split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        coding = coding.lower()
        if coding:
            qualities["gzip" if coding == "x-gzip" else coding] = quality
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


def _not_modified(environ: dict[str, Any], cached: CachedFile) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return bool(tags & {cached.etag, cached.gzip_etag})
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        try:
            return cached.mtime <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


class FeedServer:
    """The WSGI application: feed files, `/healthz`, and any routes added by other features."""

    def __init__(self, directories: dict[str, Path]) -> None:
        """`directories` maps a URL prefix ("" for the root) to a feed target's directory."""
        self.directories = directories
        self.routes: dict[str, WSGIApp] = {"/healthz": self.healthz}
        self._cache: dict[Path, CachedFile] = {}
        self._lock = threading.Lock()

    def add_route(self, path: str, app: WSGIApp) -> None:
        """Serve `path` (exact match) with another WSGI application."""
        self.routes[path] = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:  # WSGI hands the path over as Latin-1 characters; the URL's bytes are UTF-8
            path = (environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8")
        except UnicodeError:
            return _plain(start_response, "404 Not Found", b"not found\n")
        route = self.routes.get(path)
        if route is not None:
            return route(environ, start_response)
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", b"read-only\n", [("Allow", "GET, HEAD")])
        cached = self._file(path)
        if cached is None:
            return _plain(start_response, "404 Not Found", b"not found\n")
        return self._respond(environ, start_response, cached, method == "HEAD")

    def _file(self, url_path: str) -> CachedFile | None:
        prefix, _, name = url_path.lstrip("/").rpartition("/")
        directory = self.directories.get(prefix)
        if directory is None or not FEED_FILE.match(name):
            return None
        path = directory / name
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._cache.get(path)
        if cached is None or cached.stat_key != key:
            try:
                cached = _load(path, stat)
            except OSError:
                return None
            with self._lock:
                self._cache[path] = cached
        return cached

    def _respond(self, environ: dict[str, Any], start_response: Callable[..., Any], cached: CachedFile,
                 head: bool) -> Iterable[bytes]:
        use_gzip = cached.gzipped is not None and _accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
        etag = cached.gzip_etag if use_gzip else cached.etag
        headers = [("ETag", etag), ("Last-Modified", cached.last_modified), ("Cache-Control", CACHE_CONTROL),
                   ("Vary", "Accept-Encoding")]
        if _not_modified(environ, cached):
            start_response("304 Not Modified", headers)
            return [b""]
        body = cached.gzipped if use_gzip and cached.gzipped is not None else cached.body
        headers += [("Content-Type", cached.content_type), ("Content-Length", str(len(body)))]
        if use_gzip:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [b"" if head else body]

    def healthz(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """200 with the feed directories' state; the server is up."""
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", b"read-only\n", [("Allow", "GET, HEAD")])
        state = {prefix or "/": (path / "atom.xml").exists() or (path / "feed.json").exists()
                 or (path / "rss.xml").exists() for prefix, path in self.directories.items()}
        body = json.dumps({"status": "ok", "feeds": state}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [body]


def _plain(start_response: Callable[..., Any], status: str, body: bytes,
           extra: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            *(extra or [])])
    return [body]


def make_app(config: Config) -> FeedServer:
    """The WSGI app for `config`: every enabled feed target under `/<name>/`, the first also at `/`."""
    from feedrelay.dashboard import add_operator_routes  # jinja2: loaded by `serve` only

    feeds = [t for t in config.targets if isinstance(t, FeedTargetConfig) and t.enabled]
    directories = {t.name: config.resolve_path(t.dir) for t in feeds}
    if feeds:
        directories[""] = config.resolve_path(feeds[0].dir)
    return add_operator_routes(FeedServer(directories), config)


def app_from_environment() -> FeedServer:
    """The app for the config file in `$FEEDRELAY_SERVE_CONFIG` (granian's factory, per worker)."""
    return make_app(load_config(os.environ[CONFIG_ENV]))


def serve(config: Config) -> None:
    """Run the server in the foreground until interrupted."""
    settings = config.serve
    log.info("serving feeds on http://%s:%s/ (%s)", settings.host, settings.port, settings.engine)
    if settings.engine == "waitress":
        import waitress

        waitress.serve(make_app(config), host=settings.host, port=settings.port, threads=settings.threads,
                       ident="feedrelay", clear_untrusted_proxy_headers=True)
        return
    if config.path is None:
        raise ValueError("granian needs the config file's path (its workers load it)")
    os.environ[CONFIG_ENV] = str(config.path)
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    Granian(f"{__name__}:app_from_environment", factory=True, interface=Interfaces.WSGI, address=settings.host,
            port=settings.port, workers=settings.workers, blocking_threads=settings.threads,
            log_enabled=True, log_level=LogLevels.warning).serve()


def cmd_serve(args: argparse.Namespace) -> int:
    """`feedrelay serve`: serve the feed files until interrupted."""
    from feedrelay.cli import load

    config = load(args)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        config = config.model_copy(update={"serve": config.serve.model_copy(update=overrides)})
    serve(config)
    return 0


def register_serve(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` command to the CLI."""
    parser = sub.add_parser("serve", help="serve the output feeds over HTTP (read-only)")
    parser.add_argument("--host", help="address to bind (default: serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: serve.port, 8080)")
    parser.set_defaults(func=cmd_serve)

"""The read-only dashboard (`/`) and `/metrics` of `feedrelay serve`.

One page a person reads at a glance: feed health, target delivery state, and recent stories
with their copies and why each copy joined. Without `serve.token_env` both routes answer only
clients on this machine (loopback), whatever address `serve` listens on: the feed files are
public, the operator's view is not. With it, requests must carry the variable's value as
`Authorization: Bearer …` or `?token=…`; if the variable is unset the routes refuse everyone.
Feed URLs are shown without credentials or query values.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.config import Config
from feedrelay.items import utcnow
from feedrelay.metrics import metrics_wsgi_app
from feedrelay.status import feed_statuses, relative
from feedrelay.storyview import recent_stories, target_views
from ingest.urls import display_url
from store import models

log = logging.getLogger("feedrelay.dashboard")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TEMPLATES = Path(__file__).parent / "templates"
_environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                           trim_blocks=True, lstrip_blocks=True)


def render_dashboard(session: Session, config: Config, *, stories: int = 30) -> str:
    """The dashboard page as HTML."""
    now = utcnow()
    feeds = feed_statuses(session, config)
    pending = session.scalar(select(func.count()).select_from(models.Delivery)
                             .where(models.Delivery.state == "pending")) or 0
    health_counts: dict[str, int] = {}
    for feed in feeds:
        health_counts[feed.health] = health_counts.get(feed.health, 0) + 1
    return _environment.get_template("dashboard.html").render(
        now=now, feeds=feeds, health_counts=health_counts, targets=target_views(session, config),
        stories=recent_stories(session, stories), pending=pending,
        story_count=session.scalar(select(func.count()).select_from(models.Story)) or 0,
        relative=lambda when: relative(when, now), display_url=display_url,
    )


class TokenGuard:
    """Wraps a WSGI app: pass only requests carrying the configured token (if one is configured)."""

    def __init__(self, app: WSGIApp, token_env: str | None) -> None:
        self.app = app
        self.token_env = token_env

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.token_env is None:
            if _from_this_machine(environ):
                return self.app(environ, start_response)
            return _answer(start_response, "403 Forbidden", "without serve.token_env the dashboard and metrics "
                           "answer only this machine (the feed files are public)\n")
        expected = os.environ.get(self.token_env)
        if not expected:
            return _answer(start_response, "403 Forbidden",
                           f"the dashboard needs a token: set the environment variable {self.token_env}\n")
        scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else ""
        if not given:  # no bearer token (a proxy's own Authorization may be there): the query's
            given = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [""])[0]
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _answer(start_response, "401 Unauthorized", "token required\n",
                           [("WWW-Authenticate", 'Bearer realm="feedrelay"')])
        return self.app(environ, start_response)


def _from_this_machine(environ: dict[str, Any]) -> bool:
    try:
        return ipaddress.ip_address(environ.get("REMOTE_ADDR", "").split("%")[0]).is_loopback
    except ValueError:
        return False


def dashboard_app(config: Config, sessions: sessionmaker[Session]) -> WSGIApp:
    """The WSGI app of the dashboard page (GET/HEAD only)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", "read-only\n", [("Allow", "GET, HEAD")])
        try:
            with sessions() as session:
                body = render_dashboard(session, config).encode("utf-8")
        except DBAPIError as exc:
            log.warning("dashboard: database unavailable: %s", exc)
            return _answer(start_response, "503 Service Unavailable",
                           "the database is not ready (has `feedrelay run` started once?)\n")
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                                  ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")])
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]

    return app


def add_operator_routes(server: Any, config: Config) -> Any:
    """Add `/` (dashboard) and `/metrics` to a `feedrelay.serve.FeedServer`; returns it."""
    from store.db import open_database

    _, sessions = open_database(config.database_url, upgrade=False)  # the daemon migrates; serve only reads
    token_env = config.serve.token_env
    server.add_route("/", TokenGuard(dashboard_app(config, sessions), token_env))
    server.add_route("/metrics", TokenGuard(_head_as_get(metrics_wsgi_app(lambda: sessions)), token_env))
    return server


def _head_as_get(app: WSGIApp) -> WSGIApp:
    """`app` answering HEAD like GET without the body (prometheus_client's app refuses HEAD)."""
    def head_too(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "HEAD":
            return app(environ, start_response)
        body = app({**environ, "REQUEST_METHOD": "GET"}, start_response)
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return [b""]
    return head_too


def _answer(start_response: Callable[..., Any], status: str, text: str,
            extra: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    body = text.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            *(extra or [])])
    return [body]

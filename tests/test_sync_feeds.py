"""`Relay.sync_feeds` brings the feed rows in line with the config (SQLite and PostgreSQL): rows for
new feeds, a changed configured URL replaces the remembered one and its state, the `configured`
marker follows the config, and everything else a poll learnt about a feed is kept."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select, update

from feedrelay.config import load_config
from feedrelay.pipeline import Relay
from store import models
from store.db import open_database
from tests.support.postgres import either_database, pg_url  # noqa: F401

STATE = {"etag": '"v1"', "last_modified": "Mon, 01 Jan 2024 00:00:00 GMT", "body_hash": "ab" * 32,
         "title": "Remembered title", "error_count": 3}


def write_config(tmp_path: Path, database: str, feeds: dict[str, str], disabled: frozenset[str] = frozenset()) -> Path:
    lines = [f"database: {database}", "feeds:"]
    lines += [f"  - name: {name}\n    url: {url}" + ("\n    enabled: false" if name in disabled else "")
              for name, url in feeds.items()]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def sync(path: Path) -> dict[str, models.Feed]:
    """Start a Relay on the config (it syncs), then read every feed row."""
    with Relay(load_config(path)) as relay, relay.sessions() as session:
        return {row.name: row for row in session.scalars(select(models.Feed))}


def test_sync_creates_marks_and_replaces_changed_urls(tmp_path: Path, database: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    urls = {name: f"http://feeds.example/{name}.xml" for name in ("a", "b", "c", "d")}
    path = write_config(tmp_path, database, urls, disabled=frozenset({"d"}))
    rows = sync(path)
    assert {name: (r.url, r.config_url, r.enabled, r.configured, r.error_count, r.last_new_items, r.guid_mode)
            for name, r in rows.items()} == {
        name: (url, url, True, name != "d", 0, 0, "guid") for name, url in urls.items()}

    engine, sessions = open_database(database)
    with sessions.begin() as session:  # what polls learnt: b moved (301), every feed has validators
        session.execute(update(models.Feed).values(**STATE))
        session.execute(update(models.Feed).where(models.Feed.name == "b").values(
            url="http://feeds.example/b-moved.xml", moved_from=urls["b"]))
        session.execute(update(models.Feed).where(models.Feed.name == "c").values(
            enabled=False, disabled_reason="gone"))
    engine.dispose()

    changed = {**urls, "c": "http://feeds.example/c-new.xml"}
    del changed["a"]  # removed from the config
    path = write_config(tmp_path, database, {**changed, "e": "http://feeds.example/e.xml"})
    with caplog.at_level(logging.WARNING, logger="feedrelay.pipeline"):
        rows = sync(path)
    # Said aloud: with several workers, another's config may still list it (the marker is shared).
    assert [r.getMessage() for r in caplog.records] == ["1 feed(s) not in this config are no longer polled by any worker: a"]
    assert set(rows) == {"a", "b", "c", "d", "e"}
    assert rows["a"].configured is False and rows["a"].etag == STATE["etag"]  # row and state kept
    b = rows["b"]  # same configured URL: the remembered move stays
    assert (b.url, b.config_url, b.moved_from, b.configured) == (
        "http://feeds.example/b-moved.xml", urls["b"], urls["b"], True)
    assert (b.etag, b.last_modified, b.body_hash, b.title, b.error_count) == tuple(STATE.values())
    c = rows["c"]  # a new URL: a fresh start for fetching, the operator's intent re-enables it
    assert (c.url, c.config_url, c.moved_from, c.etag, c.last_modified, c.body_hash) == (
        changed["c"], changed["c"], None, None, None, None)
    assert (c.enabled, c.disabled_reason, c.configured) == (True, None, True)
    assert (c.title, c.error_count) == (STATE["title"], STATE["error_count"])
    assert rows["d"].configured is True and rows["d"].etag == STATE["etag"]  # enabled in the config again
    assert (rows["e"].url, rows["e"].configured, rows["e"].etag) == ("http://feeds.example/e.xml", True, None)

    rows = sync(write_config(tmp_path, database, {"a": urls["a"]}, disabled=frozenset({"a"})))
    assert {name: r.configured for name, r in rows.items()} == dict.fromkeys("abcde", False)

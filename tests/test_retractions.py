"""Source deletions through the whole pipeline: complete feeds and Atom tombstones (RFC 6721)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from feedrelay.config import load_config
from feedrelay.pipeline import Relay
from store import models
from tests.support.server import LocalServer, Response

ARTICLE = (
    "<p>{topic} was discussed at length by the council on Tuesday evening, with members from every "
    "district taking part in a debate that lasted well past midnight and ended in a narrow vote.</p>"
    "<p>Residents who attended said the {topic} proposal would change how the city works for years.</p>"
)


def atom(entries: list[tuple[str, str]], tombstones: list[str] = ()) -> bytes:
    body = "".join(
        f"<entry><id>urn:post:{key}</id><title>{topic} decided</title>"
        f"<link href='https://city.example/{key}/'/><updated>2026-11-2{i}T10:00:00Z</updated>"
        f"<content type='html'><![CDATA[{ARTICLE.format(topic=topic)}]]></content></entry>"
        for i, (key, topic) in enumerate(entries)
    )
    gone = "".join(f"<at:deleted-entry ref='urn:post:{ref}' when='2026-11-27T10:00:00Z'/>" for ref in tombstones)
    return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom' "
            f"xmlns:at='http://purl.org/atompub/tombstones/1.0'><title>City</title><id>urn:city</id>"
            f"<updated>2026-11-27T10:00:00Z</updated>{body}{gone}</feed>").encode()


def relay_for(tmp_path: Path, server: LocalServer, complete: bool, max_items: int = 200) -> Relay:
    (tmp_path / "config.yaml").write_text(f"""\
http: {{allow_private_networks: true}}
defaults: {{max_items: {max_items}}}
feeds:
  - name: city
    url: {server.url('/feed')}
    complete: {str(complete).lower()}
targets:
  - {{name: out, type: feed, dir: out}}
""")
    return Relay(load_config(tmp_path / "config.yaml"))


def published_titles(tmp_path: Path) -> list[str]:
    return sorted(i["title"] for i in json.loads((tmp_path / "out" / "feed.json").read_text())["items"])


def test_item_vanishing_from_a_complete_feed_is_retracted(tmp_path: Path) -> None:
    with LocalServer() as server:
        server.route("/feed", Response(200, atom([("1", "Parking"), ("2", "Library")])))
        with relay_for(tmp_path, server, complete=True) as relay:
            relay.run_once()
            assert published_titles(tmp_path) == ["Library decided", "Parking decided"]
            server.route("/feed", Response(200, atom([("2", "Library")])))
            report = relay.run_once()
            assert report.feeds[0].retracted == 1
            assert published_titles(tmp_path) == ["Library decided"]


def test_item_vanishing_from_an_ordinary_feed_stays(tmp_path: Path) -> None:
    with LocalServer() as server:
        server.route("/feed", Response(200, atom([("1", "Parking"), ("2", "Library")])))
        with relay_for(tmp_path, server, complete=False) as relay:
            relay.run_once()
            server.route("/feed", Response(200, atom([("2", "Library")])))
            assert relay.run_once().feeds[0].retracted == 0
            assert published_titles(tmp_path) == ["Library decided", "Parking decided"]


def test_atom_tombstone_retracts_and_reappearance_is_not_new(tmp_path: Path) -> None:
    with LocalServer() as server:
        server.route("/feed", Response(200, atom([("1", "Parking"), ("2", "Library")])))
        with relay_for(tmp_path, server, complete=False) as relay:
            relay.run_once()
            server.route("/feed", Response(200, atom([("2", "Library")], tombstones=["1"])))
            relay.run_once()
            assert published_titles(tmp_path) == ["Library decided"]
            server.route("/feed", Response(200, atom([("1", "Parking"), ("2", "Library")])))
            outcome = relay.run_once().feeds[0]
            assert outcome.new == 0
            assert published_titles(tmp_path) == ["Library decided", "Parking decided"]


def test_housekeeping_prunes_old_content_but_keeps_identity(tmp_path: Path) -> None:
    with LocalServer() as server:
        server.route("/feed", Response(200, atom([("1", "Parking")])))
        with relay_for(tmp_path, server, complete=False) as relay:
            relay.run_once()
            relay.config = relay.config.model_copy(
                update={"dedup": relay.config.dedup.model_copy(update={"retention": timedelta(0)})})
            assert relay.housekeeping() == 1
            server.route("/feed", Response(200, atom([("1", "Parking")])))
            relay.sync_feeds()
            with relay.sessions.begin() as session:
                session.execute(update(models.Feed).values(body_hash=None))
            assert relay.run_once().feeds[0].new == 0


def test_items_past_max_items_in_a_complete_feed_are_not_retracted(tmp_path: Path) -> None:
    """Only the first `max_items` are stored, but the rest are still in the document."""
    topics = [("1", "Parking"), ("2", "Library"), ("3", "Harbour"), ("4", "Budget")]
    with LocalServer() as server:
        server.route("/feed", Response(200, atom(topics[2:])))  # 3 and 4 stored first
        with relay_for(tmp_path, server, complete=True, max_items=2) as relay:
            relay.run_once()
            server.route("/feed", Response(200, atom(topics)))  # two new ones in front: 3, 4 past the cut
            report = relay.run_once()
            assert report.feeds[0].new == 2 and report.feeds[0].retracted == 0
            assert published_titles(tmp_path) == ["Budget decided", "Harbour decided", "Library decided",
                                                  "Parking decided"]
            server.route("/feed", Response(200, atom(topics[:2] + topics[3:])))  # 3 really goes
            assert relay.run_once().feeds[0].retracted == 1
            assert "Harbour decided" not in published_titles(tmp_path)

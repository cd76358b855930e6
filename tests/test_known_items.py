"""Items that come back exactly as they were stored are not cleaned again (`store.stories.known_items`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from feedrelay import pipeline
from feedrelay.config import load_config
from feedrelay.items import Item
from feedrelay.pipeline import Relay
from store import models
from tests.support.server import Response

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def feed_xml(items: dict[str, str]) -> bytes:
    body = "".join(f"<item><title>{title}</title><link>https://news.example/{title.replace(' ', '-')}</link>"
                   f"<guid>https://news.example/{title.replace(' ', '-')}</guid>"
                   f"<description><![CDATA[<p>{text}</p><p>Powered by WPeMatico</p>]]></description></item>"
                   for title, text in items.items())
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
            f"<link>https://news.example/</link>{body}</channel></rss>").encode()


def write_config(tmp_path: Path, url: str, rewrite: str | None = None) -> Path:
    clean = f"\n    clean:\n      rewrite:\n        - pattern: '{rewrite}'" if rewrite else ""
    path = tmp_path / "config.yaml"
    path.write_text(f"database: sqlite:///{tmp_path / 'relay.db'}\nhttp:\n  allow_private_networks: true\n"
                    f"feeds:\n  - name: news\n    url: {url}{clean}\n"
                    f"targets:\n  - name: out\n    type: feed\n    dir: {tmp_path / 'out'}\n")
    return path


@pytest.fixture
def cleaned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Titles of the items the pipeline cleans, in order."""
    titles: list[str] = []
    original = pipeline.clean_item

    def counting(item: Item, rules):  # type: ignore[no-untyped-def]
        titles.append(item.title)
        return original(item, rules)

    monkeypatch.setattr(pipeline, "clean_item", counting)
    return titles


def stored(relay: Relay) -> dict[str, tuple[int, str]]:
    with relay.sessions() as session:
        return {row.title: (row.revision, row.data["content_html"]) for row in session.scalars(select(models.Item))}


STORIES = {"Bridge reopens": "The bridge reopened on Monday after repairs.",
           "Ferry timetable": "The winter ferry timetable starts next week.",
           "Library hours": "The library opens late on Thursdays from March."}


def test_only_new_and_changed_items_are_cleaned(tmp_path, server, cleaned):
    server.route("/feed.xml", Response(200, feed_xml(STORIES), RSS))
    with Relay(load_config(write_config(tmp_path, server.url("/feed.xml")))) as relay:
        assert relay.poll("news").new == 3
        assert sorted(cleaned) == sorted(STORIES)
        first = stored(relay)
        assert all("WPeMatico" not in html for _, html in first.values())

        cleaned.clear()
        changed = {"Market day": "Market day moves to Saturday.", **STORIES,
                   "Library hours": "The library opens late on Thursdays and Fridays from March."}
        server.route("/feed.xml", Response(200, feed_xml(changed), RSS))
        outcome = relay.poll("news")
        assert (outcome.new, outcome.updated) == (1, 1)
        assert sorted(cleaned) == ["Library hours", "Market day"]  # the two others came back unchanged
        now = stored(relay)
        assert now["Bridge reopens"] == first["Bridge reopens"] and now["Ferry timetable"] == first["Ferry timetable"]
        assert now["Library hours"][0] == 2 and "Fridays" in now["Library hours"][1]


def test_a_change_of_cleaning_rules_cleans_everything_again(tmp_path, server, cleaned):
    server.route("/feed.xml", Response(200, feed_xml(STORIES), RSS))
    with Relay(load_config(write_config(tmp_path, server.url("/feed.xml")))) as relay:
        relay.poll("news")
    cleaned.clear()
    server.route("/feed.xml", Response(200, feed_xml(dict(reversed(STORIES.items()))), RSS))  # a new body
    with Relay(load_config(write_config(tmp_path, server.url("/feed.xml"), rewrite=" on Monday"))) as relay:
        outcome = relay.poll("news")
        assert sorted(cleaned) == sorted(STORIES)
        assert outcome.updated == 1  # the rule changed one item's clean text: a new revision
        assert "on Monday" not in stored(relay)["Bridge reopens"][1]

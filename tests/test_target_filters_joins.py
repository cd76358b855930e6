"""A selective target (with filters) that refused a story's first copy takes the story when a copy
it accepts joins; unfiltered targets and targets holding it already are not sent it again."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from feedrelay.config import load_config
from feedrelay.pipeline import Relay
from store import models

TEXT = ("The council approved the new budget for the river district after a long debate on "
        "flood defences, school repairs and the cost of the bridge that has been closed since spring. ") * 3


def rss(site: str, *items: tuple[str, str]) -> str:
    entries = "".join(f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
                      f"<description>{TEXT}</description></item>" for title, link in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{site}</title>'
            f"<link>https://{site}.example/</link>{entries}</channel></rss>")


def two_copies(tmp_path: Path, origin_title: str, targets: str) -> Path:
    """An origin feed and a feed tagged politics carrying the same article; `targets` in YAML."""
    (tmp_path / "origin.xml").write_text(rss("origin", (origin_title, "https://origin.example/budget")))
    (tmp_path / "politics.xml").write_text(rss("politics", ("Council passes budget", "https://origin.example/budget")))
    config = tmp_path / "config.yaml"
    config.write_text(f"""\
database: sqlite:///{tmp_path / 'relay.db'}
feeds:
  - {{name: origin, url: origin.xml}}
  - {{name: politics-desk, url: politics.xml, tags: [politics]}}
targets:
{targets}""")
    return config


def test_a_copy_a_selective_target_accepts_brings_it_the_story(tmp_path: Path) -> None:
    config = two_copies(tmp_path, "Council passes budget", """\
  - {name: all, type: feed, dir: all}
  - {name: politics, type: feed, dir: politics, filters: {tags: [politics]}}
  - {name: culture, type: feed, dir: culture, filters: {tags: [culture]}}
""")
    with Relay(load_config(config)) as relay:
        assert relay.poll("origin").new == 1

        def deliveries() -> list[tuple[str, int]]:
            with relay.sessions() as session:
                return sorted((target, revision) for target, revision in session.execute(
                    select(models.Delivery.target, models.Delivery.revision)))

        assert deliveries() == [("all", 1)]  # the first copy's feed is not tagged politics
        assert relay.poll("politics-desk").duplicates == 1
        assert deliveries() == [("all", 1), ("politics", 1)]
        assert relay.publish().delivered() == 2
        assert "Council passes budget" in (tmp_path / "politics" / "atom.xml").read_text()
        assert "Council passes budget" in (tmp_path / "all" / "atom.xml").read_text()
        # the origin corrects its article: both targets holding the story get the revision
        (tmp_path / "origin.xml").write_text(rss("origin", ("Council passes budget, 7-2", "https://origin.example/budget")))
        assert relay.poll("origin").updated == 1
        assert deliveries() == [("all", 1), ("all", 2), ("politics", 1), ("politics", 2)]


def test_a_story_whose_shown_copy_a_target_excludes_does_not_reach_it(tmp_path: Path) -> None:
    """The story's representative is what a target publishes: a copy without the excluded word
    does not make it acceptable, whether the target only excludes or also selects by tag."""
    config = two_copies(tmp_path, "Sponsored: council passes budget", """\
  - {name: clean, type: feed, dir: clean, filters: {exclude_keywords: [sponsored]}}
  - {name: politics, type: feed, dir: politics, filters: {tags: [politics], exclude_keywords: [sponsored]}}
  - {name: politics-any, type: feed, dir: any, filters: {tags: [politics]}}
""")
    with Relay(load_config(config)) as relay:
        assert relay.poll("origin").new == 1
        assert relay.poll("politics-desk").duplicates == 1
        with relay.sessions() as session:
            targets = sorted(session.scalars(select(models.Delivery.target)))
    assert targets == ["politics-any"]

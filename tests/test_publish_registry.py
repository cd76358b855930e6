"""Building targets from the config and each target's story filter."""

from __future__ import annotations

from pathlib import Path

from feedrelay.config import parse_config
from feedrelay.items import Item
from publish.directory import DirectoryTarget
from publish.feedfiles import FeedFilesTarget
from publish.registry import build_targets, target_filter
from publish.webhook import WebhookTarget
from publish.wordpress import WordPressTarget
from store import models

CONFIG = """
feeds:
  - {name: tech-blog, url: https://a.example/feed, tags: [tech]}
  - {name: food-blog, url: https://b.example/feed, tags: [food, local]}
targets:
  - {name: all, type: feed, dir: out}
  - {name: tech, type: directory, dir: site, filters: {tags: [Tech]}}
  - {name: wp, type: wordpress, url: https://wp.example, username: u, password_env: WP_PASS,
     filters: {feeds: [food-blog], categories: [recipes]}}
  - {name: hook, type: webhook, url: https://hook.example/in, secret_env: HOOK,
     filters: {keywords: [python, "c++"], exclude_keywords: [sponsored]}}
  - {name: off, type: feed, dir: off, enabled: false}
"""


def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    return parse_config(CONFIG, tmp_path / "config.yaml")


def feed(name: str) -> models.Feed:
    return models.Feed(name=name, url="u", config_url="u")


def item(title: str, text: str = "", categories: list[str] | None = None) -> Item:
    return Item(feed="x", guid=None, link=None, title=title, text=text, categories=categories or [])


def test_enabled_targets_are_built_with_resolved_paths(tmp_path: Path) -> None:
    targets = build_targets(config(tmp_path), fetcher=None)
    assert list(targets) == ["all", "tech", "wp", "hook"]
    assert isinstance(targets["all"], FeedFilesTarget) and targets["all"].directory == tmp_path / "out"
    assert isinstance(targets["tech"], DirectoryTarget) and targets["tech"].directory == tmp_path / "site"
    assert isinstance(targets["wp"], WordPressTarget)
    assert isinstance(targets["hook"], WebhookTarget)


def test_filters(tmp_path: Path) -> None:
    loaded = config(tmp_path)
    by_name = {t.name: target_filter(t, loaded) for t in loaded.targets}
    assert by_name["all"](item("anything"), feed("food-blog"))
    assert by_name["tech"](item("x"), feed("tech-blog"))
    assert not by_name["tech"](item("x"), feed("food-blog"))
    assert by_name["wp"](item("x", categories=["Recipes"]), feed("food-blog"))
    assert not by_name["wp"](item("x", categories=["Recipes"]), feed("tech-blog"))
    assert not by_name["wp"](item("x", categories=["News"]), feed("food-blog"))
    hook = by_name["hook"]
    assert hook(item("Learning Python"), feed("tech-blog"))
    assert hook(item("Modern C++ tips"), feed("tech-blog"))
    assert not hook(item("Pythonic snakes"), feed("tech-blog"))  # whole words only
    assert not hook(item("Python course", "A sponsored post"), feed("tech-blog"))

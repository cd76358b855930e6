"""The directory target: Markdown files with YAML front matter, rewritten in place."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from feedrelay.config import DirectoryTargetConfig
from publish.base import TargetError
from publish.directory import DirectoryTarget, slugify
from tests.support.entries import make_entry, revise


def read(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    return YAML(typ="safe").load(front), body


def make_target(tmp_path: Path) -> DirectoryTarget:
    return DirectoryTarget(DirectoryTargetConfig(type="directory", name="site", dir=tmp_path), tmp_path)


def test_one_file_per_story_updated_in_place_and_removed_on_retraction(tmp_path: Path) -> None:
    target = make_target(tmp_path)
    entry = make_entry(3, title="Ünïcode: «quotes» & more")
    name = target.deliver(entry, None)
    assert name == "2026-03-01-unicode-quotes-more-3.md"
    front, body = read(tmp_path / name)
    assert front["title"] == "Ünïcode: «quotes» & more"
    assert front["date"].startswith("2026-03-01T")
    assert front["source"] == {"title": "Source Blog", "url": "https://source.example/",
                               "link": "https://origin.example/original-3/"}
    assert front["tags"] == ["News", "python", "feeds"]
    assert entry.item.content_html in body

    second = revise(entry, title="A new title")
    assert target.deliver(second, name) == name
    front, _ = read(tmp_path / name)
    assert front["title"] == "A new title" and front["revision"] == 2
    assert [p.name for p in tmp_path.iterdir()] == [name]

    assert target.deliver(replace(revise(second), retracted=True), name) == name
    assert list(tmp_path.iterdir()) == []


def test_a_stored_name_cannot_escape_the_directory(tmp_path: Path) -> None:
    target = make_target(tmp_path / "site")
    with pytest.raises(TargetError, match="refusing"):
        target.deliver(make_entry(1), "../escape.md")
    assert not (tmp_path / "escape.md").exists()


def test_slugs() -> None:
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("日本語") == "story"
    assert len(slugify("x" * 200)) == 60

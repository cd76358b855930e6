"""`feedrelay preview` runs the real pipeline and stores nothing; `feedrelay explain` tells a story's history."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feedrelay.cli import main
from feedrelay.config import load_config
from feedrelay.pipeline import Relay
from store import models
from store.db import open_database
from tests.support.server import LocalServer, Response

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://minsk-chronicle.example/2026/11/26/lukashenko-lavrov-talks/"


def write_config(tmp_path: Path, feeds: str, extra: str = "") -> Path:
    shutil.copytree(ROOT / "samples", tmp_path / "samples", dirs_exist_ok=True)
    config = tmp_path / "config.yaml"
    config.write_text(f"""database: sqlite:///relay.db
http:
  allow_private_networks: true
dedup:
  representative: priority
feeds:
{feeds}
targets:
  - name: public
    type: feed
    dir: out
{extra}""")
    return config


def copycat(tmp_path: Path) -> Path:
    """A republisher carrying the origin's articles word for word under its own links."""
    text = (ROOT / "samples" / "minsk-chronicle.xml").read_text(encoding="utf-8")
    path = tmp_path / "samples" / "copycat.xml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text.replace("minsk-chronicle.example", "copycat.example").replace("Minsk Chronicle", "Copycat"),
                    encoding="utf-8")
    return path


def table_counts(config: Path) -> dict[str, int]:
    """Rows of everything the pipeline stores (feed rows are registered by any command that opens the relay)."""
    engine, sessions = open_database(load_config(config).database_url)
    with sessions() as session:
        counts = {model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                  for model in (models.Item, models.Story, models.Merge, models.Delivery, models.StoryKey,
                                models.Publication)}
        counts["preview feed rows"] = session.scalar(
            select(func.count()).where(models.Feed.name == "preview")) or 0
    engine.dispose()
    return counts


def fetch(config: Path) -> None:
    with Relay(load_config(config)) as relay:
        report = relay.run_once()
    assert not report.failed, [f.error for f in report.failed]


def origin_story(config: Path) -> int:
    engine, sessions = open_database(load_config(config).database_url)
    with sessions() as session:
        story = session.scalar(select(models.Item.story_id).where(models.Item.link == ORIGIN))
    engine.dispose()
    assert story is not None
    return story


def test_preview_of_the_wpematico_copy_names_the_stored_story(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, """  - name: minsk-chronicle
    url: samples/minsk-chronicle.xml
    priority: 10
  - name: belnews-digest
    url: samples/belnews-aggregator.xml
    enabled: false""")
    fetch(config)
    story = origin_story(config)
    before = table_counts(config)
    assert main(["-c", str(config), "preview", "belnews-digest"]) == 0
    out = capsys.readouterr().out
    first = out.split("\n[2]")[0]
    assert re.search(rf"→ duplicate of story {story} \([a-z][^,()]*, [01]\.\d\d\)\n", first), first
    assert "wpematico-credit" in first and "litter removed: " in first
    assert "nothing was stored or published" in out
    assert table_counts(config) == before


def test_preview_of_an_exact_copy_gives_reason_and_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copycat(tmp_path)
    config = write_config(tmp_path, """  - name: minsk-chronicle
    url: samples/minsk-chronicle.xml
  - name: copycat
    url: samples/copycat.xml
    enabled: false""")
    fetch(config)
    story = origin_story(config)
    before = table_counts(config)
    assert main(["-c", str(config), "preview", "copycat", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    first = report["items"][0]
    assert (first["decision"], first["story_id"], first["reason"], first["score"]) == \
           ("duplicate", story, "text-hash", 1.0)
    assert first["story_feed"] == "minsk-chronicle"
    assert table_counts(config) == before
    assert main(["-c", str(config), "preview", "copycat"]) == 0
    assert f"→ duplicate of story {story} (text-hash, 1.00)" in capsys.readouterr().out


def test_preview_shows_filtered_items_and_new_stories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, """  - name: belnews-digest
    url: samples/belnews-aggregator.xml
    clean:
      exclude: ["ставку"]""")
    before = table_counts(config)
    assert main(["-c", str(config), "preview", "belnews-digest"]) == 0
    out = capsys.readouterr().out
    items = out.split("\n[")
    assert "→ new story" in items[1] and "would deliver to: public" in items[1]
    assert "→ filtered by" in items[2] and "ставку" in items[2]
    assert re.search(r"\n      - wpematico-credit[\w-]*: Powered by WPeMatico\n", out)
    summaries = [line for line in out.splitlines() if line.startswith("    clean summary: ")]
    assert len(summaries) == 2 and not any("WPeMatico" in line for line in summaries)
    assert table_counts(config) == before


def test_preview_of_a_url_leaves_no_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, """  - name: minsk-chronicle
    url: samples/minsk-chronicle.xml""")
    fetch(config)
    before = table_counts(config)
    with LocalServer() as server:
        body = (ROOT / "samples" / "field-notes-atom.xml").read_bytes()
        server.route("/atom.xml", Response(200, body, {"Content-Type": "application/atom+xml"}))
        assert main(["-c", str(config), "preview", server.url("/atom.xml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"feed preview: {server.url('/atom.xml')}")
    assert out.count("→ new story") == 2
    assert table_counts(config) == before


def test_explain_a_merged_copy_and_its_deliveries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copycat(tmp_path)
    config = write_config(tmp_path, """  - name: minsk-chronicle
    url: samples/minsk-chronicle.xml
    priority: 10
  - name: copycat
    url: samples/copycat.xml
    enabled: false""")
    fetch(config)
    assert main(["-c", str(config), "feeds", "enable", "copycat"]) == 0
    capsys.readouterr()
    fetch(config)
    story = origin_story(config)
    assert main(["-c", str(config), "explain", "https://copycat.example/2026/11/26/lukashenko-lavrov-talks/"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("item ") and "feed copycat" in out
    assert f"story {story} · revision 1" in out
    assert re.search(r"item \d+ from minsk-chronicle: first copy \(made the story\)\s+\[representative\]", out)
    assert re.search(r"item \d+ from copycat: joined by text-hash, score 1\.00\s+\[this item\]", out)
    assert "public · revision 1 · done · 1 attempt(s)" in out

    assert main(["-c", str(config), "explain", ORIGIN, "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)["items"]
    assert [e["item"]["feed"] for e in explained] == ["minsk-chronicle"]
    copies = explained[0]["story"]["copies"]
    assert [(c["feed"], c["reason"], c["representative"]) for c in copies] == [
        ("minsk-chronicle", None, True), ("copycat", "text-hash", False)]
    assert explained[0]["story"]["deliveries"][0]["state"] == "done"
    item_id = explained[0]["item"]["id"]
    assert main(["-c", str(config), "explain", str(item_id)]) == 0
    assert f"item {item_id} · feed minsk-chronicle" in capsys.readouterr().out


def test_explain_a_filtered_item_and_an_unknown_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, """  - name: belnews-digest
    url: samples/belnews-aggregator.xml
    clean:
      exclude: ["ставку"]""")
    fetch(config)
    assert main(["-c", str(config), "explain", "https://belnews-digest.example/kurs-rublya-stavka/"]) == 0
    out = capsys.readouterr().out
    assert "· filtered ·" in out and "filtered by" in out and "never published" in out
    assert main(["-c", str(config), "explain", "https://nowhere.example/x"]) == 1
    assert "no stored item matches" in capsys.readouterr().err

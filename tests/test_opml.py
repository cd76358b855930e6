"""OPML import (folders → tags) and export (tags → folders) round-trip a reader's export."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from feedrelay.cli import main
from feedrelay.config import load_config
from feedrelay.opml import read_opml

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "reader-export.opml"


def folder_paths(data: bytes) -> dict[str, tuple[str, ...]]:
    """Independent reading of an OPML file: each feed URL and the titles of its enclosing folders."""
    root = etree.fromstring(data)
    found = {}
    for outline in root.iter("outline"):
        if outline.get("xmlUrl"):
            folders = [a.get("title") or a.get("text") for a in outline.iterancestors("outline")]
            found[outline.get("xmlUrl")] = tuple(reversed(folders))
    return found


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    return tmp_path / "config.yaml"


def test_import_then_export_round_trips_every_url_and_folder(config: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    original = folder_paths(FIXTURE.read_bytes())
    assert len(original) == 200
    assert max(len(path) for path in original.values()) == 2
    assert main(["-c", str(config), "opml", "import", str(FIXTURE)]) == 0
    assert "imported 200 feeds" in capsys.readouterr().out

    loaded = load_config(config)
    assert len(loaded.feeds) == 203
    imported = {f.url: tuple(f.tags) for f in loaded.feeds[3:]}
    assert imported == original
    text = config.read_text()
    assert text.startswith("# feedrelay example configuration")
    assert "  - name: belnews-digest           # a WPeMatico aggregator republishing it\n" in text

    exported = tmp_path / "out.opml"
    assert main(["-c", str(config), "opml", "export", "-o", str(exported)]) == 0
    round_trip = folder_paths(exported.read_bytes())
    assert {url: path for url, path in round_trip.items() if url in original} == original
    assert round_trip["samples/minsk-chronicle.xml"] == ("news", "belarus")


def test_importing_again_skips_every_known_feed(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(config), "opml", "import", str(FIXTURE)]) == 0
    after_first = config.read_bytes()
    assert main(["-c", str(config), "opml", "import", str(FIXTURE)]) == 0
    assert "imported 0 feeds" in capsys.readouterr().out
    assert config.read_bytes() == after_first


def test_a_feed_in_two_folders_is_imported_once_with_both_tags(config: Path, tmp_path: Path) -> None:
    opml = tmp_path / "dup.opml"
    opml.write_text("""<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
      <outline text="Tech"><outline text="Blog" xmlUrl="https://blog.example/feed/" type="rss"/></outline>
      <outline text="Friends"><outline text="Blog" xmlUrl="https://blog.example/feed/" type="rss"/>
        <outline text="Other" xmlUrl="https://other.example/rss" category="/Extra,Friends"/></outline>
      <outline text="Unfiled" xmlUrl="https://www.example.net/atom?utm_source=x"/>
      <outline text="Copy of known" xmlUrl="https://www.example.net/atom"/>
    </body></opml>""")
    feeds = read_opml(opml.read_bytes())
    assert [(f.url, f.tags) for f in feeds] == [
        ("https://blog.example/feed/", ["Tech", "Friends"]),
        ("https://other.example/rss", ["Friends", "Extra"]),
        ("https://www.example.net/atom?utm_source=x", []),
        ("https://www.example.net/atom", []),
    ]
    assert main(["-c", str(config), "opml", "import", str(opml)]) == 0
    added = {f.name: f for f in load_config(config).feeds[3:]}
    assert sorted(added) == ["blog", "other", "unfiled"]  # the tracking-parameter twin is a duplicate


def test_a_broken_file_changes_nothing(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = config.read_bytes()
    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body><outline text='x'")
    assert main(["-c", str(config), "opml", "import", str(broken)]) == 1
    assert "not a valid OPML" in capsys.readouterr().err
    html = tmp_path / "page.opml"
    html.write_text("<html><body/></html>")
    assert main(["-c", str(config), "opml", "import", str(html)]) == 1
    assert config.read_bytes() == before


def test_only_web_feeds_are_imported_and_disabled_ones_stay_disabled(config: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A third party's OPML must not make the daemon read local files (and republish them)."""
    opml = tmp_path / "feeds.opml"
    opml.write_text("""<?xml version="1.0"?><opml version="2.0"><head/><body>
<outline text="Notes" xmlUrl="file:///etc/passwd"/><outline text="Path" xmlUrl="/etc/hostname"/>
<outline text="Script" xmlUrl="javascript:alert(1)"/><outline text="Data" xmlUrl="data:text/xml,&lt;rss/&gt;"/>
<outline text="Paused" xmlUrl="https://paused.example/feed/" isDisabled="true"/>
<outline text="Live" xmlUrl="https://live.example/feed/"/></body></opml>""")
    assert main(["-c", str(config), "opml", "import", str(opml)]) == 0
    out = capsys.readouterr().out
    assert out.count("not an http(s) URL") == 4
    imported = {f.url: f.enabled for f in load_config(config).feeds}
    assert imported["https://paused.example/feed/"] is False and imported["https://live.example/feed/"] is True
    assert not any(url.startswith(("file:", "/etc", "javascript:", "data:")) for url in imported)
    exported = tmp_path / "out.opml"
    assert main(["-c", str(config), "opml", "export", "-o", str(exported)]) == 0
    assert [f.enabled for f in read_opml(exported.read_bytes()) if f.url == "https://paused.example/feed/"] == [False]

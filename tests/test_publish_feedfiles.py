"""The `feed` target: Atom/RSS/JSON Feed files, validity, revisions, retraction, RFC 5005 archives."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feedrelay.config import FeedTargetConfig
from feedrelay.items import Enclosure
from publish.feedfiles import ATOM, FeedFilesTarget
from tests.support.entries import ListArchive, make_entry, revise

ATOM_SCHEMA = Path(__file__).parent / "fixtures" / "atom.rng"
NS = {"a": "http://www.w3.org/2005/Atom", "fh": "http://purl.org/syndication/history/1.0"}


def make_target(tmp_path: Path, **overrides: object) -> FeedFilesTarget:
    values: dict[str, object] = {"name": "out", "type": "feed", "dir": tmp_path, "title": "Relay",
                                 "base_url": "https://relay.example/feeds/"}
    values.update(overrides)
    return FeedFilesTarget(FeedTargetConfig(**values), tmp_path)  # type: ignore[arg-type]


def assert_valid_atom(path: Path) -> etree._ElementTree:
    schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
    document = etree.parse(str(path))
    assert schema.validate(document), schema.error_log
    return document


def assert_valid_json_feed(path: Path) -> dict:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(document["title"], str) and document["title"]
    assert isinstance(document["items"], list)
    for item in document["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert "content_html" in item or "content_text" in item
        for attachment in item.get("attachments", []):
            assert attachment["url"] and "/" in attachment["mime_type"]
        for key, value in item.items():
            assert not key.startswith("_") or isinstance(value, dict)
    return document


def parse_clean(path: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_three_formats_carry_ids_sources_categories_and_enclosures(tmp_path: Path) -> None:
    target = make_target(tmp_path)
    archive = ListArchive([make_entry(1, language="not a tag!"), make_entry(2, language="ru-RU")])
    target.flush(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atom.xml", "feed.json", "rss.xml"]

    atom = assert_valid_atom(tmp_path / "atom.xml")
    assert atom.xpath("/a:feed/a:link[@rel='self']/@href", namespaces=NS) == \
        ["https://relay.example/feeds/atom.xml"]
    parsed = parse_clean(tmp_path / "atom.xml")
    newest = parsed.entries[0]
    assert newest.id == "tag:feedrelay.invalid,2026:story/2"
    assert newest.title == "Story 2"
    assert newest.link == "https://source.example/story-2/"
    assert newest.source.title == "Source Blog"
    assert {t.term for t in newest.tags} == {"News", "python", "feeds"}
    assert newest.enclosures[0].href == "https://cdn.example/2.mp3"
    assert "a link" in newest.content[0].value
    assert newest.content[0].language == "ru-RU"
    assert atom.xpath("//a:entry[2]/@xml:lang", namespaces=NS) == []

    rss = parse_clean(tmp_path / "rss.xml")
    assert [e.id for e in rss.entries] == [e.id for e in parsed.entries]
    assert rss.entries[0].source.title == "Source Blog"
    assert rss.entries[0].enclosures[0].type == "audio/mpeg"
    assert rss.feed.links[0].rel in ("self", "alternate")

    document = assert_valid_json_feed(tmp_path / "feed.json")
    assert document["feed_url"] == "https://relay.example/feeds/feed.json"
    first = document["items"][0]
    assert first["id"] == "tag:feedrelay.invalid,2026:story/2"
    assert first["external_url"] == "https://origin.example/original-2/"
    assert first["_feedrelay"]["source"]["title"] == "Source Blog"
    assert first["attachments"][0]["mime_type"] == "audio/mpeg"
    assert set(first["tags"]) == {"News", "python", "feeds"}


def test_a_revision_keeps_the_id_and_moves_updated(tmp_path: Path) -> None:
    target = make_target(tmp_path)
    first = make_entry(1)
    archive = ListArchive([first])
    target.flush(archive)
    before = parse_clean(tmp_path / "atom.xml").entries[0]

    archive.put(revise(first, title="Story 1, corrected"))
    target.flush(archive)
    after = parse_clean(tmp_path / "atom.xml").entries[0]
    assert after.id == before.id
    assert after.title == "Story 1, corrected"
    assert after.updated_parsed > before.updated_parsed
    assert after.published_parsed == before.published_parsed


def test_retracted_entries_disappear(tmp_path: Path) -> None:
    target = make_target(tmp_path)
    archive = ListArchive([make_entry(1), make_entry(2)])
    target.flush(archive)
    archive.put(replace(make_entry(1), retracted=True, revision=2))
    target.flush(archive)
    for name in ("atom.xml", "rss.xml"):
        assert [e.id for e in parse_clean(tmp_path / name).entries] == ["tag:feedrelay.invalid,2026:story/2"]
    assert len(assert_valid_json_feed(tmp_path / "feed.json")["items"]) == 1


def test_unchanged_files_are_not_rewritten(tmp_path: Path) -> None:
    target = make_target(tmp_path)
    archive = ListArchive([make_entry(1)])
    target.flush(archive)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    inodes = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}
    target.flush(archive)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps
    assert {p.name: p.stat().st_ino for p in tmp_path.iterdir()} == inodes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_archive_pages_follow_rfc5005(tmp_path: Path) -> None:
    target = make_target(tmp_path, max_items=3)
    archive = ListArchive([make_entry(i) for i in range(1, 8)])
    target.flush(archive)
    current = assert_valid_atom(tmp_path / "atom.xml")
    assert current.xpath("//a:entry/a:id/text()", namespaces=NS)[0].endswith("/7")
    assert current.xpath("/a:feed/a:link[@rel='prev-archive']/@href", namespaces=NS) == \
        ["https://relay.example/feeds/atom-archive-2.xml"]

    seen: list[str] = current.xpath("//a:entry/a:id/text()", namespaces=NS)
    for number, older, newer in ((2, "atom-archive-1.xml", None), (1, None, "atom-archive-2.xml")):
        page = assert_valid_atom(tmp_path / f"atom-archive-{number}.xml")
        assert page.xpath("/a:feed/fh:archive", namespaces=NS)
        assert page.xpath("/a:feed/a:link[@rel='current']/@href", namespaces=NS) == \
            ["https://relay.example/feeds/atom.xml"]
        links = {rel: page.xpath(f"/a:feed/a:link[@rel='{rel}']/@href", namespaces=NS)
                 for rel in ("prev-archive", "next-archive")}
        assert links["prev-archive"] == ([f"https://relay.example/feeds/{older}"] if older else [])
        assert links["next-archive"] == ([f"https://relay.example/feeds/{newer}"] if newer else [])
        seen += page.xpath("//a:entry/a:id/text()", namespaces=NS)
        parse_clean(tmp_path / f"rss-archive-{number}.xml")
        assert_valid_json_feed(tmp_path / f"feed-archive-{number}.json")
    assert sorted(int(s.rsplit("/", 1)[1]) for s in seen) == list(range(1, 8))
    assert json.loads((tmp_path / "feed.json").read_text())["next_url"].endswith("feed-archive-2.json")

    for story in range(1, 5):
        archive.put(replace(make_entry(story), retracted=True))
    target.flush(archive)
    assert not list(tmp_path.glob("*archive*"))


def test_control_characters_and_missing_fields_still_give_valid_documents(tmp_path: Path) -> None:
    target = make_target(tmp_path, base_url=None, formats=["atom", "rss", "json"])
    bare = make_entry(1, title="Bell\x07 and tab\tok", authors=[], categories=[], tags=[], enclosures=[],
                      image=None, source_link=None, link=None, summary="", published=None)
    target.flush(ListArchive([replace(bare, source_url=None)]))
    assert_valid_atom(tmp_path / "atom.xml")
    assert parse_clean(tmp_path / "atom.xml").entries[0].title == "Bell and tab\tok"
    parse_clean(tmp_path / "rss.xml")
    assert_valid_json_feed(tmp_path / "feed.json")


def test_unencodable_characters_stored_before_ingest_dropped_them_still_render(tmp_path: Path) -> None:
    """Items stored by an older version may hold lone surrogates and controls in any field."""
    target = make_target(tmp_path, formats=["atom", "rss", "json"])
    odd = make_entry(1, title="Lone \ud800 title", authors=["A\udfff"], tags=["t\x02"],
                     link="https://source.example/a\x01b", source_link="https://origin.example/\ud800",
                     enclosures=[Enclosure("https://cdn.example/a.mp3\x01", "audio/mpeg\x01", 3)])
    target.flush(ListArchive([replace(odd, source_url="https://source.example/\x02")]))
    atom = assert_valid_atom(tmp_path / "atom.xml")
    assert atom.find(f"{{{ATOM}}}entry/{{{ATOM}}}link[@rel='alternate']").get("href") == "https://source.example/ab"
    assert parse_clean(tmp_path / "rss.xml").entries[0].enclosures[0].href == "https://cdn.example/a.mp3"
    assert assert_valid_json_feed(tmp_path / "feed.json")["items"][0]["authors"] == [{"name": "A?"}]


@pytest.mark.parametrize("formats", [["atom"], ["json", "rss"]])
def test_only_configured_formats_are_written(tmp_path: Path, formats: list[str]) -> None:
    make_target(tmp_path, formats=formats).flush(ListArchive([make_entry(1)]))
    names = {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[f] for f in formats)


def test_the_attribution_template_credits_the_source(tmp_path: Path) -> None:
    template = '<p class="via">From <a href="{source_link}">{source_title}</a></p>'
    make_target(tmp_path, attribution=template).flush(ListArchive([make_entry(1)]))
    credit = '<p class="via">From <a href="https://origin.example/original-1/">Source Blog</a></p>'
    content = parse_clean(tmp_path / "atom.xml").entries[0].content[0].value
    assert content.startswith("<p>Body of story 1") and content.endswith(credit)
    assert assert_valid_json_feed(tmp_path / "feed.json")["items"][0]["content_html"].endswith(credit)
    assert credit in parse_clean(tmp_path / "rss.xml").entries[0].content[0].value


class CountingArchive(ListArchive):
    """A ListArchive that records which pages were read in full."""

    def __init__(self, entries: list) -> None:
        super().__init__(entries)
        self.reads: list[tuple[int, int]] = []

    def entries(self, limit: int, offset: int = 0) -> list:
        self.reads.append((limit, offset))
        return super().entries(limit, offset)


def test_a_flush_renders_only_pages_that_changed(tmp_path: Path) -> None:
    target = make_target(tmp_path, max_items=3)
    archive = CountingArchive([make_entry(i) for i in range(1, 10)])  # current + 2 archive pages
    target.flush(archive)
    assert len(archive.reads) == 3
    oldest = (tmp_path / "atom-archive-1.xml").stat().st_mtime_ns

    archive.reads.clear()
    target.flush(archive)
    assert archive.reads == []

    archive.put(make_entry(10))  # story 7 moves from the current document to a new archive page 3
    target.flush(archive)
    assert len(archive.reads) == 3  # the current document, page 2 (links to 3) and page 3
    assert (tmp_path / "atom-archive-1.xml").stat().st_mtime_ns == oldest
    assert parse_clean(tmp_path / "atom-archive-3.xml").entries[0].id.endswith("/7")


def test_each_version_of_a_file_has_a_later_whole_second(tmp_path: Path) -> None:
    """HTTP's Last-Modified has whole seconds: two renders within one second must differ."""
    from publish.render import write_atomic

    path = tmp_path / "atom.xml"
    stamps = []
    for version in range(3):
        assert write_atomic(path, f"version {version}".encode())
        stamps.append(int(path.stat().st_mtime))
    assert stamps[0] < stamps[1] < stamps[2]
    assert not write_atomic(path, b"version 2") and int(path.stat().st_mtime) == stamps[2]  # unchanged: untouched


def test_archive_pages_are_written_before_the_document_that_links_them(tmp_path: Path, monkeypatch) -> None:
    import publish.feedfiles as feedfiles

    written: list[str] = []
    real = feedfiles.write_atomic
    monkeypatch.setattr(feedfiles, "write_atomic", lambda path, data: (written.append(path.name), real(path, data))[1])
    target = make_target(tmp_path, formats=["atom"], max_items=2)
    target.flush(ListArchive([make_entry(i) for i in range(1, 6)]))
    assert written == ["atom-archive-1.xml", "atom-archive-2.xml", "atom.xml"]

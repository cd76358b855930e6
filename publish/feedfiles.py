"""The `feed` target: Atom 1.0, RSS 2.0 and JSON Feed 1.1 files in a directory.

`deliver` only acknowledges (the files are views of the archive); `flush` renders the newest
`max_items` live entries into `atom.xml`, `rss.xml` and `feed.json`, and older ones into RFC 5005
archive pages (`atom-archive-1.xml` is the oldest) linked with `prev-archive`/`next-archive`.
Every file is written atomically and only when its bytes change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

from lxml import etree

from feedrelay.config import FeedTargetConfig
from feedrelay.items import Entry, utcnow
from ingest.fields import safe_text
from publish.attribution import apply_attribution
from publish.base import Archive
from publish.render import json_feed_item, mime_type, published_at, write_atomic

ATOM = "http://www.w3.org/2005/Atom"
HISTORY = "http://purl.org/syndication/history/1.0"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
GENERATOR = "feedrelay"

FILE_NAMES = {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}
ARCHIVE_NAMES = {"atom": "atom-archive-{}.xml", "rss": "rss-archive-{}.xml", "json": "feed-archive-{}.json"}
MEDIA_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml", "json": "application/feed+json"}

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Page:
    """One document to render: its entries and its place among the archive pages.

    `number` is 0 for the subscription document, else the archive page (1 = oldest).
    """

    number: int
    pages: int
    entries: list[Entry]

    @property
    def is_archive(self) -> bool:
        return self.number > 0

    @property
    def prev_archive(self) -> int | None:
        """The next older archive page, if any."""
        if self.number == 0:
            return self.pages or None
        return self.number - 1 or None

    @property
    def next_archive(self) -> int | None:
        """The next newer archive page (archives only; the newest points to `current`)."""
        return self.number + 1 if self.is_archive and self.number < self.pages else None


class FeedFilesTarget:
    """Renders the target's stories as feed files in `directory`."""

    local = True  # no remote side effect: deliveries are batched (see feedrelay.publishing)

    def __init__(self, config: FeedTargetConfig, directory: Path) -> None:
        self.name = config.name
        self.config = config
        self.directory = directory
        self._signatures: dict[int, tuple[int | None, int | None, tuple[tuple[int, int], ...]]] = {}

    def deliver(self, entry: Entry, remote_ref: str | None) -> str | None:
        """Nothing to send: the entry shows up in the files at the next `flush`."""
        return entry.entry_id

    def flush(self, archive: Archive) -> None:
        """Render every configured format: the subscription document and the archive pages.

        A page whose stories and revisions are the same as at its last rendering (by this
        process) is skipped, so a flush after a few new stories touches one or two pages.
        """
        renderers: dict[str, Callable[[Page], bytes]] = {
            "atom": self.render_atom, "rss": self.render_rss, "json": self.render_json,
        }
        versions = archive.versions(max(archive.count(), 1))
        slices = self._page_slices(len(versions))
        # Archive pages first, the subscription document last: a reader never finds a link to
        # a page not written yet.
        for number in [*range(1, len(slices)), 0]:
            offset, limit = slices[number]
            links = Page(number, len(slices) - 1, [])
            signature = (links.prev_archive, links.next_archive, tuple(versions[offset:offset + limit]))
            names = [self.directory / self._file_name(fmt, number) for fmt in self.config.formats]
            if self._signatures.get(number) == signature and all(path.exists() for path in names):
                continue
            page = replace(links, entries=archive.entries(limit, offset))
            for fmt, path in zip(self.config.formats, names, strict=True):
                write_atomic(path, renderers[fmt](page))
            self._signatures[number] = signature
        for fmt in self.config.formats:
            self._remove_stale_archives(fmt, len(slices) - 1)

    def _page_slices(self, total: int) -> list[tuple[int, int]]:
        """(offset, limit) in the newest-first archive of the subscription document, then of
        archive pages 1 (oldest) … n: oldest-first blocks of `max_items` entries."""
        size = self.config.max_items
        older = max(total - size, 0)
        slices = [(0, size)]
        for number in range(1, -(-older // size) + 1):
            end = min(number * size, older)
            slices.append((total - end, end - (number - 1) * size))
        return slices

    def _remove_stale_archives(self, fmt: str, count: int) -> None:
        pattern = re.compile(re.escape(ARCHIVE_NAMES[fmt]).replace(r"\{\}", r"(\d+)") + "$")
        for path in self.directory.glob(ARCHIVE_NAMES[fmt].format("*")):
            match = pattern.match(path.name)
            if match and int(match[1]) > count:
                path.unlink(missing_ok=True)

    # -- links -------------------------------------------------------------------------------

    def _file_name(self, fmt: str, number: int) -> str:
        return ARCHIVE_NAMES[fmt].format(number) if number else FILE_NAMES[fmt]

    def url(self, fmt: str, number: int = 0) -> str:
        """The public URL of a document: absolute under `base_url`, else relative."""
        name = self._file_name(fmt, number)
        if self.config.base_url:
            return self.config.base_url.rstrip("/") + "/" + name
        return name

    def feed_id(self) -> str:
        """The stable id of the subscription feed."""
        if self.config.base_url:
            return self.url("atom")
        return f"tag:feedrelay.invalid,2024:{quote(self.name, safe='')}"

    def _archive_links(self, page: Page, fmt: str) -> list[tuple[str, str]]:
        links: list[tuple[str, str]] = []
        if page.is_archive:
            links.append(("current", self.url(fmt)))
        if page.prev_archive:
            links.append(("prev-archive", self.url(fmt, page.prev_archive)))
        if page.next_archive:
            links.append(("next-archive", self.url(fmt, page.next_archive)))
        return links

    def _updated(self, page: Page) -> datetime:
        return max((e.updated for e in page.entries), default=None) or utcnow()

    # -- Atom --------------------------------------------------------------------------------

    def render_atom(self, page: Page) -> bytes:
        """An Atom 1.0 document for the page."""
        feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM, "fh": HISTORY})
        _sub(feed, "id", self.feed_id() if not page.is_archive else f"{self.feed_id()}#archive-{page.number}")
        _sub(feed, "title", self.config.title)
        _sub(feed, "subtitle", self.config.description)
        _sub(feed, "updated", _rfc3339(self._updated(page)))
        author = _sub(feed, "author")
        _sub(author, "name", self.config.title)
        _sub(feed, "generator", GENERATOR)
        self._page_links(feed, page, "atom")
        if self.config.base_url:
            _link(feed, "alternate", self.config.base_url, "text/html")
        for entry in page.entries:
            feed.append(self._atom_entry(entry))
        return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)

    def _page_links(self, parent: etree._Element, page: Page, fmt: str) -> None:
        """`rel="self"` (with a base URL), the RFC 5005 archive links and the archive marker."""
        if self.config.base_url:
            _link(parent, "self", self.url(fmt, page.number), MEDIA_TYPES[fmt])
        for rel, href in self._archive_links(page, fmt):
            _link(parent, rel, href, MEDIA_TYPES[fmt])
        if page.is_archive:
            etree.SubElement(parent, f"{{{HISTORY}}}archive")

    def _atom_entry(self, entry: Entry) -> etree._Element:
        item = entry.item
        node = etree.Element(f"{{{ATOM}}}entry")
        if item.language and _LANGUAGE_TAG.match(item.language):
            node.set(XML_LANG, item.language)
        _sub(node, "id", entry.entry_id)
        _sub(node, "title", item.title, type="text")
        _sub(node, "updated", _rfc3339(entry.updated))
        _sub(node, "published", _rfc3339(published_at(entry)))
        for name in item.authors:
            _sub(_sub(node, "author"), "name", name)
        if item.link:
            _link(node, "alternate", item.link, "text/html")
        if item.source_link and item.source_link != item.link:
            _link(node, "via", item.source_link, "text/html")
        for enclosure in item.enclosures:
            link = _link(node, "enclosure", enclosure.url, mime_type(enclosure.url, enclosure.type))
            if enclosure.length:
                link.set("length", str(enclosure.length))
        for term in dict.fromkeys([*item.categories, *item.tags]):
            _sub(node, "category", term=_clean(term))
        if item.summary:
            _sub(node, "summary", item.summary, type="text")
        _sub(node, "content", apply_attribution(self.config.attribution, entry), type="html")
        source = _sub(node, "source")
        _sub(source, "title", entry.source_title)
        if entry.source_url:
            _link(source, "alternate", entry.source_url, "text/html")
        return node

    # -- RSS ---------------------------------------------------------------------------------

    def render_rss(self, page: Page) -> bytes:
        """An RSS 2.0 document for the page (archive links and updates as Atom extensions)."""
        nsmap = {"atom": ATOM, "content": CONTENT, "dc": DC, "fh": HISTORY}
        rss = etree.Element("rss", version="2.0", nsmap=nsmap)
        channel = etree.SubElement(rss, "channel")
        _plain(channel, "title", self.config.title)
        _plain(channel, "link", self.config.base_url or self.feed_id())
        _plain(channel, "description", self.config.description)
        _plain(channel, "lastBuildDate", format_datetime(self._updated(page)))
        _plain(channel, "generator", GENERATOR)
        self._page_links(channel, page, "rss")
        for entry in page.entries:
            channel.append(self._rss_item(entry))
        return etree.tostring(rss, xml_declaration=True, encoding="utf-8", pretty_print=True)

    def _rss_item(self, entry: Entry) -> etree._Element:
        item = entry.item
        node = etree.Element("item")
        _plain(node, "title", item.title)
        if item.link:
            _plain(node, "link", item.link)
        guid = _plain(node, "guid", entry.entry_id)
        guid.set("isPermaLink", "false")
        _plain(node, "pubDate", format_datetime(published_at(entry)))
        etree.SubElement(node, f"{{{ATOM}}}updated").text = _rfc3339(entry.updated)
        for name in item.authors:
            etree.SubElement(node, f"{{{DC}}}creator").text = _clean(name)
        for term in dict.fromkeys([*item.categories, *item.tags]):
            _plain(node, "category", term)
        html = apply_attribution(self.config.attribution, entry)
        _plain(node, "description", item.summary or html)
        etree.SubElement(node, f"{{{CONTENT}}}encoded").text = _clean(html)
        if item.enclosures:
            # RSS 2.0 allows one enclosure per item; the Atom and JSON feeds carry them all.
            first = item.enclosures[0]
            etree.SubElement(node, "enclosure", url=_clean(first.url), length=str(first.length or 0),
                             type=_clean(mime_type(first.url, first.type)))
        if entry.source_url:
            source = _plain(node, "source", entry.source_title)
            source.set("url", _clean(entry.source_url))
        return node

    # -- JSON Feed ---------------------------------------------------------------------------

    def render_json(self, page: Page) -> bytes:
        """A JSON Feed 1.1 document; older pages are chained with `next_url`."""
        document: dict[str, object] = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": self.config.title,
            "description": self.config.description,
        }
        if self.config.base_url:
            document["home_page_url"] = self.config.base_url
            document["feed_url"] = self.url("json", page.number)
        if page.prev_archive:
            document["next_url"] = self.url("json", page.prev_archive)
        document["items"] = [json_feed_item(e, self.config.attribution) for e in page.entries]
        # Compact: the C encoder (an indent makes json use its pure-Python one, 3x slower).
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace") + b"\n"


def _clean(text: str) -> str:
    """Text XML can carry (`ingest.fields.safe_text`: items stored before ingest made them so)."""
    return safe_text(text)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{ATOM}}}{tag}", **attributes)
    if text is not None:
        node.text = _clean(text)
    return node


def _plain(parent: etree._Element, tag: str, text: str) -> etree._Element:
    node = etree.SubElement(parent, tag)
    node.text = _clean(text)
    return node


def _link(parent: etree._Element, rel: str, href: str, media_type: str | None = None) -> etree._Element:
    link = etree.SubElement(parent, f"{{{ATOM}}}link", rel=rel, href=_clean(href))
    if media_type:
        link.set("type", _clean(media_type))
    return link


def _rfc3339(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")

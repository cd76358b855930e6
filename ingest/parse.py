"""Parsing fetched bytes into items: lxml or feedparser for RSS/Atom/RDF, json for JSON Feed.

Well-formed RSS 2.0, Atom 1.0 and RSS 1.0 go through `ingest.xmlfeed`, which gives the values
feedparser would at a fraction of its cost; everything else (malformed markup, DOCTYPEs, other
encodings, elements only feedparser reads) goes to feedparser. feedparser's own sanitizer and
relative-URI resolver are off: cleaning is `ingest.clean`'s job. Items come out with raw
`content_html`; the clean stage fills text, summary and image.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser
from dateutil import parser as dateparser
from lxml import etree

from feedrelay.items import Enclosure, Item
from ingest.fields import make_safe
from ingest.xmlfeed import TOMBSTONES_NS, NotFast, read_feed, utc_datetime

log = logging.getLogger("feedrelay.parse")


class ParseError(Exception):
    """The bytes are not a feed we can read."""


@dataclass
class ParsedFeed:
    """A parsed feed document: its metadata, its items (raw HTML), and hints for scheduling."""

    title: str | None
    link: str | None
    items: list[Item]
    language: str | None = None
    ttl_minutes: int | None = None
    update_period: str | None = None
    update_frequency: int | None = None
    warnings: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def parse_feed(body: bytes, *, feed_name: str, base_url: str | None = None,
               content_type: str | None = None, fast: bool = True) -> ParsedFeed:
    """Parse `body` (UTF-8, already fetched and size-checked) into a ParsedFeed.

    Raises ParseError when the document has no feed in it; a recoverable problem
    (feedparser's bozo on a document that still yielded entries) becomes a warning.
    `fast=False` skips the lxml fast path (the same values, from feedparser). Items' plain
    fields come out safe (`ingest.fields`): no unencodable characters, only web links.
    """
    parsed = _parse(body, feed_name, base_url, content_type, fast)
    for item in parsed.items:
        make_safe(item)
    return parsed


def _parse(body: bytes, feed_name: str, base_url: str | None, content_type: str | None, fast: bool) -> ParsedFeed:
    stripped = body.lstrip()
    if stripped[:1] == b"{" or (content_type or "").endswith("json"):
        return _parse_json_feed(stripped, feed_name)
    if fast:
        try:
            document = read_feed(body, base_url)
        except NotFast as reason:
            log.debug("feed %s read by feedparser: %s", feed_name, reason)
        else:
            return _parsed_feed(document.meta, document.entries, feed_name, [], _unique(document.deleted), base_url)
    # The fetcher hands over UTF-8 bytes whose XML declaration is right (ingest.encoding), so
    # the document is declared as XML in UTF-8 whatever the server's Content-Type said.
    headers = {"content-type": "application/xml; charset=utf-8"}
    if base_url:
        headers["content-location"] = base_url
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False,
                              response_headers=headers)
    warnings = []
    if parsed.bozo:
        reason = f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}"
        if not parsed.entries and not parsed.get("version"):
            raise ParseError(f"not a feed ({reason})")
        warnings.append(f"malformed feed, recovered: {reason}")
    if not parsed.get("version") and not parsed.entries:
        raise ParseError("not a feed (no RSS, Atom or JSON Feed document found)")
    return _parsed_feed(parsed.feed, parsed.entries, feed_name, warnings, _tombstones(body), base_url)


def _parsed_feed(meta: Any, entries: list[Any], feed_name: str, warnings: list[str],
                 deleted: list[str], base_url: str | None) -> ParsedFeed:
    """A ParsedFeed from feedparser's feed and entries, or the fast path's dicts of the same shape."""
    language = meta.get("language")
    return ParsedFeed(
        title=meta.get("title"),
        link=meta.get("link"),
        items=[_entry_to_item(entry, feed_name, language, base_url or "") for entry in entries],
        language=language,
        ttl_minutes=_int(meta.get("ttl")),
        update_period=meta.get("sy_updateperiod"),
        update_frequency=_int(meta.get("sy_updatefrequency")),
        warnings=warnings,
        deleted=deleted,
    )


def _tombstones(body: bytes) -> list[str]:
    """Refs of RFC 6721 `at:deleted-entry` elements (feedparser ignores them)."""
    if TOMBSTONES_NS.encode() not in body:
        return []
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body.lstrip(), parser)
    except (etree.XMLSyntaxError, ValueError):
        return []
    if root is None:
        return []
    refs = (e.get("ref", "").strip() for e in root.iter(f"{{{TOMBSTONES_NS}}}deleted-entry"))
    return _unique(refs)


def _entry_to_item(entry: Any, feed_name: str, language: str | None, document_base: str) -> Item:
    contents = [c for c in entry.get("content", []) if c.get("value")]
    html_contents = [c for c in contents if "html" in (c.get("type") or "")] or contents
    summary = entry.get("summary") or ""
    chosen = max(html_contents, key=lambda c: len(c["value"]), default=None)
    content = chosen["value"] if chosen else summary
    # The content's xml:base, when the document set one: its relative links are relative to it.
    base = chosen.get("base") if chosen else None
    enclosures = [
        Enclosure(url=e["href"], type=e.get("type"), length=_int(e.get("length")))
        for e in entry.get("enclosures", [])
        if e.get("href")
    ]
    known = {e.url for e in enclosures}
    for media in entry.get("media_content", []):
        if media.get("url") and media["url"] not in known:
            enclosures.append(Enclosure(url=media["url"], type=media.get("type"),
                                        length=_int(media.get("filesize"))))
            known.add(media["url"])
    authors = [a.get("name") for a in entry.get("authors", []) if a.get("name")]
    if not authors and entry.get("author"):
        authors = [entry["author"]]
    return Item(
        feed=feed_name,
        guid=(entry.get("id") or "").strip() or None,
        link=(entry.get("link") or "").strip() or None,
        title=entry.get("title") or "",
        content_html=content,
        summary=summary,
        authors=authors,
        published=utc_datetime(entry.get("published_parsed")),
        updated=utc_datetime(dict.get(entry, "updated_parsed")),  # no feedparser fallback to published
        categories=_unique(t.get("term") for t in entry.get("tags", [])),
        enclosures=enclosures,
        language=entry.get("language") or language,
        base=base if base and base != document_base else None,
    )


def _parse_json_feed(body: bytes, feed_name: str) -> ParsedFeed:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not a feed (invalid JSON: {exc})") from exc
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
            "https://jsonfeed.org/version/"):
        raise ParseError("not a feed (JSON without a JSON Feed version)")
    language = _string(document.get("language"))
    items = []
    entries = document.get("items")
    for raw in entries if isinstance(entries, list) else []:
        if not isinstance(raw, dict):
            continue
        authors = raw.get("authors") or ([raw["author"]] if isinstance(raw.get("author"), dict) else [])
        attachments = raw.get("attachments") if isinstance(raw.get("attachments"), list) else []
        items.append(Item(
            feed=feed_name,
            guid=_string(raw.get("id"), numbers=True),
            link=_string(raw.get("url")) or _string(raw.get("external_url")),
            title=_string(raw.get("title")) or "",
            content_html=_string(raw.get("content_html")) or _text_as_html(_string(raw.get("content_text"))),
            summary=_string(raw.get("summary")) or "",
            authors=[name for a in authors if isinstance(a, dict) and (name := _string(a.get("name")))]
            if isinstance(authors, list) else [],
            published=_iso(raw.get("date_published")),
            updated=_iso(raw.get("date_modified")),
            categories=_unique(_string(t, numbers=True) for t in raw.get("tags") or [])
            if isinstance(raw.get("tags"), list) else [],
            enclosures=[Enclosure(url=url, type=_string(a.get("mime_type")), length=_int(a.get("size_in_bytes")))
                        for a in attachments if isinstance(a, dict) and (url := _string(a.get("url")))],
            image=_string(raw.get("image")) or _string(raw.get("banner_image")),
            language=_string(raw.get("language")) or language,
        ))
    return ParsedFeed(title=_string(document.get("title")), link=_string(document.get("home_page_url")),
                      items=items, language=language)


def _string(value: Any, *, numbers: bool = False) -> str | None:
    """A JSON value that should be a string: itself, a number as text (`numbers`), else None."""
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _text_as_html(text: str | None) -> str:
    from html import escape

    return "".join(f"<p>{escape(p)}</p>" for p in (text or "").split("\n\n") if p.strip())


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dateparser.isoparse(value)
    except (ValueError, OverflowError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _unique(values: Any) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value.strip():
            seen.setdefault(value.strip(), None)
    return list(seen)

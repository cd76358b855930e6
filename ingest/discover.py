"""Tell feeds from HTML pages and find the feed an HTML page advertises."""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

from ingest.urls import absolute

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/rdf+xml",
    "application/json",
    "text/xml",
    "application/xml",
)
_FIRST_TAG = re.compile(rb"<([A-Za-z][\w:.-]*)")
_SKIP_PROLOG = re.compile(rb"\A(?:\s|\xef\xbb\xbf|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*", re.DOTALL | re.IGNORECASE)
_FEED_ROOTS = {b"rss", b"feed", b"rdf:rdf", b"rdf", b"channel"}


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """True when `body` is an HTML page rather than an RSS/Atom/RDF/JSON feed.

    The content decides (servers often label feeds text/html and vice versa): an `<html>` root is
    HTML; an RSS/Atom/RDF root or JSON is a feed; anything else is HTML only if labelled so.
    """
    head = body[:4096]
    start = _SKIP_PROLOG.match(head)
    rest = head[start.end():] if start else head
    if rest[:1] in (b"{", b"["):
        return False
    tag = _FIRST_TAG.match(rest)
    if tag:
        name = tag.group(1).lower()
        if name == b"html":
            return True
        if name in _FEED_ROOTS or name.endswith((b":rss", b":feed", b":rdf")):
            return False
    return (content_type or "").split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml")


def discover_feed_url(html_bytes: bytes, base_url: str) -> str | None:
    """The first feed an HTML page advertises with `<link rel="alternate" type="…feed type…">`.

    RSS/Atom are preferred over JSON Feed; relative links are resolved against `<base href>` or
    `base_url`. None if the page advertises no feed or cannot be parsed.
    """
    try:
        doc = lxml.html.document_fromstring(html_bytes)
    except (ValueError, etree.ParserError):
        return None
    base = next(iter(doc.xpath("//base/@href")), None) or base_url
    base = absolute(base, base_url) or base_url
    found: dict[str, str] = {}
    for link in doc.xpath("//link[@href]"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" in rels and kind in FEED_TYPES and kind not in found:
            found[kind] = link.get("href").strip()
    for kind in FEED_TYPES:
        if found.get(kind):
            return absolute(found[kind], base)
    return None

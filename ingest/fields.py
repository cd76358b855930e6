"""An item's plain fields as the parser hands them on: text that XML, JSON and UTF-8 can all carry,
and links that only lead to the web.

A feed (a JSON Feed above all, where `"\\ud800"` is valid) can put a lone surrogate or a control
character in a GUID, an author or a tag, and `javascript:` or `data:` in a link, an enclosure or
an image. The HTML body has its own sanitiser (`ingest.sanitize`); these fields are republished
as they are, as feed elements, attributes and JSON values, so they are made safe here, once,
before anything stores or compares them.
"""

from __future__ import annotations

import re

from feedrelay.items import Enclosure, Item

# XML 1.0 forbids these (and UTF-8 cannot encode the surrogates); tab, newline and CR stay.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_IGNORED_IN_URLS = re.compile(r"[\x00-\x20\x7f]+")  # what browsers skip when reading a scheme
WEB_SCHEMES = frozenset({"http", "https"})


def safe_text(value: str) -> str:
    """`value` without the characters XML 1.0 forbids and lone surrogates."""
    return _UNSAFE_CHARS.sub("", value) if _UNSAFE_CHARS.search(value) else value


def web_url(value: str | None) -> str | None:
    """`value` (made `safe_text`, trimmed) if it is an http(s) or a relative URL; None for any other
    scheme (`javascript:`, `data:`, `file:`, …), also when spaces or control characters hide it."""
    if not value:
        return None
    scheme = _SCHEME.match(_IGNORED_IN_URLS.sub("", value))
    if scheme and scheme.group(1).lower() not in WEB_SCHEMES:
        return None
    return safe_text(value).strip() or None


def make_safe(item: Item) -> None:
    """Make `item`'s plain fields safe, in place (the HTML body and summary are the cleaner's)."""
    item.guid = safe_text(item.guid) if item.guid else item.guid
    item.link = web_url(item.link)
    item.title = safe_text(item.title)
    item.authors = [text for a in item.authors if (text := safe_text(a))]
    item.categories = [text for c in item.categories if (text := safe_text(c))]
    item.tags = [text for t in item.tags if (text := safe_text(t))]
    item.enclosures = [Enclosure(url, safe_text(e.type) if e.type else e.type, e.length)
                       for e in item.enclosures if (url := web_url(e.url))]
    item.image = web_url(item.image)
    item.language = safe_text(item.language) if item.language else item.language
    item.source_link = web_url(item.source_link)

"""Items' plain fields leave the parser safe: no character XML or UTF-8 can't carry, only web links."""

from __future__ import annotations

import json

import pytest

from ingest.fields import safe_text, web_url
from ingest.parse import parse_feed
from tests.support.hostile import UNSAFE_JSON_FEED


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JaVa\tScRiPt:alert(1)", "java\nscript:alert(1)", "\x01javascript:x",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox", "file:///etc/passwd", "mailto:a@b.example",
])
def test_urls_with_other_schemes_are_dropped(url: str) -> None:
    assert web_url(url) is None


@pytest.mark.parametrize("url,kept", [
    ("https://site.example/a?b=c#d", "https://site.example/a?b=c#d"), ("HTTP://site.example/", "HTTP://site.example/"),
    ("/2026/11/post/", "/2026/11/post/"), ("//cdn.example/img.png", "//cdn.example/img.png"),
    (" https://site.example/a\x01 ", "https://site.example/a"), ("post.html?x=1:2", "post.html?x=1:2"),
])
def test_web_and_relative_urls_are_kept(url: str, kept: str) -> None:
    assert web_url(url) == kept


def test_safe_text_drops_only_what_xml_cannot_carry() -> None:
    assert safe_text("a\ud800b\x01c\x7fd\ufffe") == "abcd"
    assert safe_text("tab\tline\nok — ё") == "tab\tline\nok — ё"


def test_a_json_feed_with_unsafe_fields_gives_safe_items() -> None:
    first, second, third = parse_feed(UNSAFE_JSON_FEED.encode(), feed_name="j").items
    assert first.guid == "u-1" and first.link == "https://hostile.example/u1" and first.title == "Lone  surrogate"
    assert first.authors == ["A"] and first.categories == ["tag"] and first.image is None
    assert [(e.url, e.type) for e in first.enclosures] == [("https://hostile.example/a.mp3", "audio/mpeg")]
    assert second.link is None and second.guid == "u-2"
    # wrong value types are read as absent, not as a crash
    assert (third.guid, third.link, third.title, third.categories, third.authors, third.enclosures) == (
        "3", None, "", [], [], [])
    for item in (first, second, third):
        json.dumps(item.to_json(), ensure_ascii=False).encode("utf-8")  # encodable everywhere


@pytest.mark.parametrize("fast", [True, False])
def test_rss_links_enclosures_and_thumbnails_with_script_schemes_are_dropped(fast: bool) -> None:
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            b"<channel><title>T</title><link>https://site.example/</link><item><title>Item</title>"
            b"<link>javascript:alert(1)</link><guid isPermaLink='false'>g-1</guid>"
            b"<enclosure url='data:audio/mpeg;base64,AAAA' type='audio/mpeg' length='4'/>"
            b"<enclosure url='https://site.example/a.mp3' type='audio/mpeg' length='4'/>"
            b"<description>Body</description></item></channel></rss>")
    (item,) = parse_feed(body, feed_name="r", fast=fast).items
    assert item.link is None and item.guid == "g-1"
    assert [e.url for e in item.enclosures] == ["https://site.example/a.mp3"]


ATOM_WITH_BASE = (b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://ex.example/blog/"><title>t</title>'
                  b"<id>f</id><updated>2026-01-01T00:00:00Z</updated><entry xml:base='2024/'><id>1</id><title>x</title>"
                  b"<updated>2026-01-01T00:00:00Z</updated><link href='posts/a.html'/><content type='html'>"
                  b"&lt;p&gt;See &lt;a href='media/r.pdf'&gt;the report&lt;/a&gt;, &lt;img src='/img/c.png'&gt;&lt;/p&gt;"
                  b"</content></entry></feed>")


@pytest.mark.parametrize("fast", [True, False])
def test_atom_xml_base_resolves_the_content_links(fast: bool) -> None:
    """Relative links in content follow the entry's xml:base, not the item's link."""
    from ingest.clean import clean_item

    (item,) = parse_feed(ATOM_WITH_BASE, feed_name="a", base_url="https://feeds.example/atom.xml", fast=fast).items
    assert item.link == "https://ex.example/blog/2024/posts/a.html" and item.base == "https://ex.example/blog/2024/"
    html = clean_item(item).content_html
    assert 'href="https://ex.example/blog/2024/media/r.pdf"' in html and 'src="https://ex.example/img/c.png"' in html
    plain = ATOM_WITH_BASE.replace(b' xml:base="https://ex.example/blog/"', b"").replace(b" xml:base='2024/'", b"")
    (bare,) = parse_feed(plain, feed_name="a", base_url="https://ex.example/blog/2024/posts/a.html", fast=fast).items
    assert bare.base is None  # no xml:base: links follow the item's link, as before

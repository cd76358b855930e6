"""Hostile feed documents served by the local test server, with what each must come to.

XML entity attacks (external entities to a local file, parameter entities, billion laughs), a
gzip bomb, an endless body, a trickle, malformed XML, a wrong declared encoding, an HTML page,
empty bodies, invalid dates and a 5,000-item feed. `SECRET` is the content of the local file the
entity attacks point at: it must never appear in anything feedrelay stores or publishes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import LocalServer, Response, Route

SECRET = "TOP-SECRET-7f3a9c-do-not-leak"
RSS = "application/rss+xml; charset=utf-8"


def rss(items: str, *, head: str = '<?xml version="1.0" encoding="utf-8"?>', title: str = "Hostile") -> bytes:
    return (f'{head}<rss version="2.0"><channel><title>{title}</title><link>https://hostile.example/</link>'
            f"<description>d</description>{items}</channel></rss>").encode()


def item(n: int, *, title: str | None = None, date: str = "Fri, 27 Nov 2026 10:00:00 GMT",
         body: str | None = None) -> str:
    return (f"<item><title>{title or f'Hostile item {n}'}</title><link>https://hostile.example/{n}/</link>"
            f"<guid>https://hostile.example/{n}/</guid><pubDate>{date}</pubDate>"
            f"<description>{body or f'Item number {n} has an ordinary body of several words.'}</description></item>")


def gzip_bomb(megabytes: int) -> bytes:
    """`megabytes` MiB of zeros, gzip-compressed (about a thousandth of that size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    packed = [packer.compress(chunk) for _ in range(megabytes)]
    return b"".join(packed) + packer.flush()


def endless() -> Iterator[bytes]:
    yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>Endless</title>'
    while True:
        yield b"<item><title>again</title></item>" * 512


def trickle() -> Iterator[bytes]:
    yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>Trickle</title>'
    for _ in range(600):
        yield b" "


@dataclass
class Hostile:
    """One hostile feed: its name, its answer, and what must come of it.

    `expect`: "error" (a clear error on the feed), "items" (exactly `count` items stored, no
    error), or "either" (an error, or a partial result of at least one item).
    """

    name: str
    response: Route
    expect: str
    count: int = 0


def hostile_feeds(secret_file: Path) -> list[Hostile]:
    """The corpus; the entity attacks reference `secret_file`."""
    url = secret_file.resolve().as_uri()
    return [
        Hostile("xxe-inline", Response(200, rss(item(1, title="&xxe;", body="&xxe;"),
                head=f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "{url}">]>'), {"Content-Type": RSS}),
                "either"),
        Hostile("xxe-multiline", Response(200, rss(item(2, title="Title &xxe; end", body="&xxe;"),
                head=f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{url}">\n]>\n'),
                {"Content-Type": RSS}), "either"),
        Hostile("xxe-parameter", Response(200, rss(item(3),
                head=f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY % ext SYSTEM "{url}">\n%ext;\n]>\n'),
                {"Content-Type": RSS}), "either"),
        Hostile("billion-laughs", Response(200, rss(item(4, title="&lol9;", body="&lol9;"), head=(
            '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
            + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
                      for i in range(1, 10))
            + "]>\n")), {"Content-Type": RSS}), "either"),
        Hostile("gzip-bomb", Response(200, gzip_bomb(64), {"Content-Type": RSS, "Content-Encoding": "gzip"}),
                "error"),
        Hostile("endless-body", lambda request: Response(200, endless(), {"Content-Type": RSS}), "error"),
        Hostile("slow-trickle", lambda request: Response(200, trickle(), {"Content-Type": RSS}, delay=0.05),
                "error"),
        Hostile("malformed-xml", Response(200, rss(item(5) + item(6) + item(7))[:-60] + b"<item><title>cut",
                                          {"Content-Type": RSS}), "either"),
        Hostile("wrong-encoding", Response(200, rss(item(8, title="Новости недели", body="Обычный текст новости "
                                                         "о погоде и транспорте в городе."),
                                                    head='<?xml version="1.0" encoding="windows-1251"?>'),
                                          {"Content-Type": "application/rss+xml; charset=iso-8859-1"}),
                "items", 1),
        Hostile("html-page", Response(200, b"<!DOCTYPE html><html><head><title>Blog</title></head><body>"
                                      b"<h1>Welcome</h1><p>Not a feed.</p></body></html>",
                                      {"Content-Type": "text/html; charset=utf-8"}), "error"),
        Hostile("empty-body", Response(200, b"   \n\n  ", {"Content-Type": RSS}), "error"),
        Hostile("zero-bytes", Response(200, b"", {"Content-Type": RSS}), "error"),
        Hostile("invalid-dates", Response(200, rss(item(9, date="not a date at all") + item(10, date="2026-13-45")
                                                   + item(11, date="Fri, 27 Nov 99999 10:00:00 GMT")),
                                          {"Content-Type": RSS}), "items", 3),
        Hostile("five-thousand", Response(200, rss("".join(item(100_000 + n) for n in range(5000))),
                                          {"Content-Type": RSS}), "items", 200),
        Hostile("unsafe-fields-json", Response(200, UNSAFE_JSON_FEED.encode(), {"Content-Type": "application/feed+json"}),
                "items", 3),
        Hostile("unsafe-links-rss", Response(200, rss(
            "<item><title>Script link</title><link>javascript:alert(document.domain)</link>"
            "<guid isPermaLink='false'>unsafe-1</guid><enclosure url='data:text/html,&lt;script&gt;x()&lt;/script&gt;' "
            "type='text/html' length='1'/><description>A body that is ordinary enough to store.</description></item>"),
            {"Content-Type": RSS}), "items", 1),
    ]


# Characters a JSON Feed can carry that neither XML nor UTF-8 can (a lone surrogate, C0 controls),
# in every plain field, and links with schemes that run code; one item with wrong value types.
UNSAFE_JSON_FEED = r"""{"version": "https://jsonfeed.org/version/1.1", "title": "Unsafe", "items": [
 {"id": "u-1\ud800", "url": "https://hostile.example/u1\u0001", "title": "Lone \udfff surrogate",
  "content_html": "<p>First unsafe item with a body of several words.</p>", "authors": [{"name": "A\ud800"}],
  "tags": ["t\u0002ag"], "image": "javascript:alert(2)",
  "attachments": [{"url": "https://hostile.example/a.mp3", "mime_type": "audio/mpeg\u0001"},
                  {"url": " JaVa\tScRiPt:alert(3)", "mime_type": "text/html"}]},
 {"id": "u-2", "url": "data:text/html,<script>alert(4)</script>", "title": "Data link",
  "content_html": "<p>Second unsafe item with a body of several words.</p>"},
 {"id": 3, "url": {"not": "a string"}, "title": 5, "content_html": "<p>Third item, odd types.</p>",
  "tags": "not a list", "authors": 7, "attachments": {"url": "x"}}
]}"""


def serve(server: LocalServer, feeds: list[Hostile]) -> dict[str, str]:
    """Route every hostile feed; their URLs by name."""
    for feed in feeds:
        server.route(f"/hostile/{feed.name}.xml", feed.response)
    return {feed.name: server.url(f"/hostile/{feed.name}.xml") for feed in feeds}

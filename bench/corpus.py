"""A generated WordPress-style corpus on disk, served by a static HTTP server in another process.

Origin feeds carry full posts (paragraphs, an image, links, a share box); aggregator feeds carry
WPeMatico-style copies of two origins' posts (their own GUID and permalink, a title prefix, a
Yoast "appeared first on" footer). Used by `bench.ingest` and `bench.scale`.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from bench.textgen import TextGen

BASE = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Corpus:
    """Feed files in `directory`: `names` (served as `/<name>.xml`), `items` in all."""

    directory: Path
    names: list[str]
    items: int
    articles: int


def _post_html(gen: TextGen, rng: random.Random, site: str, n: int) -> str:
    paragraphs = "".join(f"<p>{gen.paragraph()}</p>" for _ in range(rng.randint(3, 6)))
    image = (f'<figure class="wp-block-image"><img src="https://{site}/wp-content/uploads/2026/11/img-{n}.jpg" '
             f'alt="{gen.title()}" width="800" height="600"></figure>')
    link = f'<p>Read also: <a href="https://{site}/2026/11/{n - 1}/">{gen.title()}</a></p>'
    share = ('<div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">Share this:</h3>'
             '<ul><li><a href="https://twitter.com/share">Twitter</a></li></ul></div>')
    return image + paragraphs + link + share


def _item(title: str, link: str, guid: str, html: str, when: datetime, category: str) -> str:
    return (f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
            f'<guid isPermaLink="false">{escape(guid)}</guid>'
            f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate><dc:creator>Editor</dc:creator>"
            f"<category>{category}</category><description>{escape(re.sub('<[^>]+>', '', html)[:300])}</description>"
            f"<content:encoded><![CDATA[{html}]]></content:encoded></item>")


def _document(name: str, items: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>{name}</title><link>https://{name}.example/</link><description>{name}</description>"
            f"<generator>https://wordpress.org/?v=6.4</generator>{''.join(items)}</channel></rss>").encode()


def generate(directory: Path, *, origins: int, aggregators: int, per_feed: int, seed: int = 1) -> Corpus:
    """Write the corpus; each origin has `per_feed` posts, each aggregator copies two origins."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    posts: list[list[tuple[str, str, str, datetime]]] = []
    names, items = [], 0
    for i in range(origins):
        gen, site = TextGen(seed * 1000 + i), f"origin{i}.example"
        own = []
        for n in range(per_feed):
            title, html = gen.title(), _post_html(gen, rng, site, n)
            own.append((title, f"https://{site}/2026/11/{n}/", html, BASE + timedelta(hours=n, minutes=i)))
        posts.append(own)
        name = f"origin{i}"
        (directory / f"{name}.xml").write_bytes(_document(name, [
            _item(t, link, f"https://{site}/?p={n}", html, when, "News") for n, (t, link, html, when) in enumerate(own)]))
        names.append(name)
        items += len(own)
    for a in range(aggregators):
        name, chosen = f"aggr{a}", rng.sample(range(origins), 2)
        copied = [post for i in chosen for post in posts[i][: per_feed // 2]]
        entries = []
        for n, (title, link, html, when) in enumerate(copied):
            footer = f'<p>The post <a href="{link}">{escape(title)}</a> appeared first on <a href="{link.split("/2026")[0]}/">Origin</a>.</p>'
            entries.append(_item(f"[News] {title}", f"https://{name}.example/?p={n}", f"https://{name}.example/?p={n}",
                                 html + footer, when + timedelta(minutes=5), "Aggregated"))
        (directory / f"{name}.xml").write_bytes(_document(name, entries))
        names.append(name)
        items += len(entries)
    return Corpus(directory, names, items, origins * per_feed)


class StaticServer:
    """`python -m http.server` on 127.0.0.1 (an ephemeral port) in its own process."""

    def __init__(self, directory: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(directory)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        match = re.search(r"port (\d+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"static server did not start: {line!r}")
        self.port = int(match.group(1))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.xml"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> StaticServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def feeds_yaml(server: StaticServer, corpus: Corpus) -> str:
    """The `feeds:` section for the corpus (origins with a higher priority)."""
    return "".join(f"  - name: {name}\n    url: {server.url(name)}\n"
                   f"    priority: {10 if name.startswith('origin') else 0}\n" for name in corpus.names)

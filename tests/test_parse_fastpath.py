"""The lxml fast path of `ingest.parse` gives exactly what its feedparser path gives.

Every document is parsed both ways — `parse_feed(...)` and `parse_feed(..., fast=False)`, which
is feedparser — and the ParsedFeed values are compared whole: title, link, language, ttl and
update hints, warnings, tombstones, and every Item field (guid, link, title, raw HTML content,
summary, authors, dates in UTC, categories, enclosures, language, …). The documents: the real
corpus in ../shared/corpus/real as the fetcher hands it over (after `ingest.encoding`) and raw,
feedparser's own fixtures in ../shared/corpus/xss, the bundled samples, the bench corpus, the
test farm's and the hostile feeds, and random documents from tests/support/feedgrammar.py,
each with and without a base URL.

There are no deliberate differences. Where feedparser is quirky, the fast path has the same
quirk, because the pipeline must not change behaviour with the parser that happens to read a
document: the first of several titles wins, unless a shallower one comes later; a description
after a summary is content; a permalink guid or an Atom id is the link when there is none (an
empty <link/> counts as one); relative links and ids resolve against xml:base, and a base set
below an element without one outlives its element; `author <email>` strings are split; a later
Atom <name> can overwrite an earlier author's name (feedparser's author_detail alias);
double-encoded UTF-8 is repaired and C1 code points read as cp1252 in every value except an
Atom author's name and email; the outer <div> of Atom 1.0 xhtml is dropped.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest
from feedparser.datetimes import _parse_date
from feedparser.urls import _urljoin
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from bench.corpus import generate
from ingest.encoding import normalize_encoding
from ingest.parse import ParsedFeed, ParseError, parse_feed
from ingest.xmlfeed import PARSER_OPTIONS, NotFast, _join, parse_date, read_feed, utc_datetime
from tests.support.farm import Farm
from tests.support.feedgrammar import DATES, document
from tests.support.hostile import SECRET, hostile_feeds
from tests.support.server import Response
from tests.support.services import shared_path

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://feed.example/blog/feed/"
# Real documents the fast path leaves to feedparser (as fetched: after ingest.encoding).
CORPUS_FALLBACKS = {
    "blogger-atom-en-googleadsdev-feedburner.xml": "<georss_point> is read by feedparser only",
    "broken-en-dylanharris_mangled-decl.xml": "not well-formed",
    "broken-en-guardian_unescaped-ampersand-attr.xml": "not well-formed",
    "broken-en-myanimelist_undefined-entity.xml": "not well-formed",
    "broken-en-oscard0m_unescaped-ampersand.xml": "not well-formed",
    "broken-ja-rss091_declared-eucjp-is-utf8.xml": "DOCTYPE",
    "broken-wordpress-en-kroy_trailing-script.xml": "not well-formed",
    "broken-wordpress-pl-openstreetmap-pl_truncated.xml": "not well-formed",
    "substack-en-heated_trimmed.xml": "<itunes_owner> is read by feedparser only",
}


def both_ways(body: bytes, base: str | None) -> tuple[ParsedFeed | str, ParsedFeed | str]:
    """parse_feed's result (or its ParseError) with the fast path, then with feedparser."""
    results: list[ParsedFeed | str] = []
    for fast in (True, False):
        try:
            results.append(parse_feed(body, feed_name="feed", base_url=base, fast=fast))
        except ParseError as exc:
            results.append(f"ParseError: {exc}")
    return results[0], results[1]


def differences(fast: ParsedFeed | str, slow: ParsedFeed | str) -> list[str]:
    """The fields where the two results differ, for the failure message."""
    if isinstance(fast, str) or isinstance(slow, str):
        return [f"fast: {fast!r:.300}", f"feedparser: {slow!r:.300}"]
    found = [f"feed.{f.name}: {getattr(fast, f.name)!r:.200} != {getattr(slow, f.name)!r:.200}"
             for f in dataclasses.fields(fast) if f.name != "items" and getattr(fast, f.name) != getattr(slow, f.name)]
    if len(fast.items) != len(slow.items):
        found.append(f"{len(fast.items)} items != {len(slow.items)} items")
    for n, (a, b) in enumerate(zip(fast.items, slow.items, strict=False)):
        found += [f"item {n} {f.name}: {getattr(a, f.name)!r:.200} != {getattr(b, f.name)!r:.200}"
                  for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)]
    return found


def check(documents: list[tuple[str, bytes]]) -> dict[str, str]:
    """Assert both paths agree on every document (with and without a base URL); return the
    documents the fast path left to feedparser, with the reason."""
    failures, fallbacks = [], {}
    for name, body in documents:
        for base in (None, BASE):
            fast, slow = both_ways(body, base)
            if fast != slow:
                failures.append(f"{name} (base {base}):\n  " + "\n  ".join(differences(fast, slow)[:8]))
        try:
            read_feed(body, BASE)
        except NotFast as reason:
            fallbacks[name] = str(reason)
    assert not failures, f"{len(failures)} documents differ:\n" + "\n".join(failures[:5])
    return fallbacks


def test_real_corpus_as_fetched_parses_the_same() -> None:
    corpus = Path(shared_path("corpus", "real"))
    documents = [(p.name, normalize_encoding(p.read_bytes(), None)[0]) for p in sorted(corpus.glob("*.xml"))]
    assert len(documents) >= 100
    fallbacks = check(documents)
    assert {name: reason.split(":")[0] for name, reason in fallbacks.items()} == {
        name: reason.split(":")[0] for name, reason in CORPUS_FALLBACKS.items()}


def test_real_corpus_raw_bytes_parse_the_same() -> None:
    """Bytes in other encodings, with byte-order marks or blank lines go to feedparser."""
    corpus = Path(shared_path("corpus", "real"))
    fallbacks = check([(p.name, p.read_bytes()) for p in sorted(corpus.glob("*.xml"))])
    assert "declared encoding windows-1251" in fallbacks["unknown-ru-ibash-windows1251.xml"]
    assert fallbacks["unknown-ru-citydog-bom.xml"] == "byte-order mark"


def test_feedparser_own_fixtures_parse_the_same() -> None:
    fixtures = Path(shared_path("corpus", "xss", "feedparser-sanitize"))
    documents = [(str(p.relative_to(fixtures)), p.read_bytes()) for p in sorted(fixtures.rglob("*.xml"))]
    assert len(documents) >= 740
    fallbacks = check(documents)
    assert len(fallbacks) < len(documents) / 2, "most of feedparser's fixtures take the fast path"


def test_project_documents_parse_the_same(tmp_path: Path) -> None:
    """The bundled samples, the bench corpus, the test farm's feeds and the hostile corpus."""
    documents = [(p.name, p.read_bytes()) for p in sorted((ROOT / "samples").glob("*.xml"))]
    corpus = generate(tmp_path / "bench", origins=3, aggregators=3, per_feed=6)
    documents += [(name, (corpus.directory / f"{name}.xml").read_bytes()) for name in corpus.names]

    class Routes:
        def route(self, path: str, handler: Any) -> None:
            pass

    farm = Farm(Routes(), origins=3, aggregators=3)  # type: ignore[arg-type]
    farm.advance(new_per_origin=2, updates=1)
    documents += [(doc.name, doc.body()) for doc in farm.feeds]
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    documents += [(h.name, h.response.body) for h in hostile_feeds(secret)
                  if isinstance(h.response, Response) and isinstance(h.response.body, bytes)]
    fallbacks = check(documents)
    assert not {name for name in fallbacks if name in ("minsk-chronicle.xml", "field-notes-atom.xml")
                or name.startswith(("origin", "aggr"))}, fallbacks


@settings(max_examples=250, deadline=None, database=None)
@given(st.randoms(use_true_random=False))
def test_generated_documents_parse_the_same(rng: random.Random) -> None:
    body, base = document(rng)
    fast, slow = both_ways(body, base)
    assert fast == slow, body.decode() + "\n" + "\n".join(differences(fast, slow))


def test_generated_documents_mostly_take_the_fast_path() -> None:
    """Otherwise the test above would mostly compare feedparser with itself."""
    taken = 0
    for seed in range(300):
        body, base = document(random.Random(seed))
        try:
            read_feed(body, base)
            taken += 1
        except NotFast:
            pass
    assert taken >= 180


def test_entity_attacks_never_reach_the_fast_parser(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    attacks = {h.name: h.response.body for h in hostile_feeds(secret)
               if h.name.startswith("xxe") or h.name == "billion-laughs"}
    assert len(attacks) == 4
    for name, body in attacks.items():
        with pytest.raises(NotFast, match="DOCTYPE"):
            read_feed(body)
        fast, slow = both_ways(body, BASE)
        assert fast == slow and SECRET not in repr(fast), name
    hidden = b'<?xml version="1.0"?>\n<!-- c --><?pi x?>\n<!DOCTYPE rss [<!ENTITY e "x">]><rss version="2.0"/>'
    with pytest.raises(NotFast, match="DOCTYPE"):
        read_feed(hidden)


def test_the_fast_parser_itself_resolves_no_entities(tmp_path: Path) -> None:
    """Were a DOCTYPE to get past the check, the parser would still not read files or expand bombs."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    attacks = {h.name: h.response.body for h in hostile_feeds(secret) if isinstance(h.response, Response)}
    parser = etree.XMLParser(**PARSER_OPTIONS)
    for name in ("xxe-inline", "xxe-multiline", "xxe-parameter"):
        try:
            root = etree.fromstring(attacks[name], parser)
        except etree.XMLSyntaxError:
            continue
        assert SECRET.encode() not in etree.tostring(root), name
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(attacks["billion-laughs"], parser)


def test_quirks_are_feedparsers_and_taken_fast() -> None:
    """A few of feedparser's rules, spelled out (the documents take the fast path)."""
    rss = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title><item>'
           '<media:content url="https://m.example/a.jpg"><media:title>Photo credit</media:title></media:content>'
           '<title>Caf\u00c3\u00a9 news</title><category>\u0093quoted\u0094</category><guid>https://e.example/1</guid>'
           '<description>first</description><description>&lt;p&gt;second&lt;/p&gt;</description>'
           '<dc:creator>jo@example.com (Jo Smith)</dc:creator><pubDate>Fri, 27 Nov 2026 10:00:00 +0100</pubDate>'
           '</item></channel></rss>').encode()
    read_feed(rss)
    item = parse_feed(rss, feed_name="f").items[0]
    assert item.title == "Caf\u00e9 news"  # double-encoded UTF-8 repaired; the earlier media:title lost
    assert item.categories == ["\u201cquoted\u201d"]  # C1 code points read as cp1252
    assert item.link == "https://e.example/1"  # the permalink guid
    assert (item.summary, item.content_html) == ("first", "<p>second</p>")  # second description: content
    assert item.authors == ["Jo Smith"] and item.published.isoformat() == "2026-11-27T09:00:00+00:00"
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://a.example/blog/"><title>A</title>'
            b'<entry><id>posts/1</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">A &amp; '
            b'<b>B</b></div></title></entry></feed>')
    read_feed(atom)
    item = parse_feed(atom, feed_name="f").items[0]
    assert (item.guid, item.link) == ("https://a.example/blog/posts/1",) * 2  # the id, resolved, is the link
    assert item.title == "A &amp; <b>B</b>"  # xhtml serialised, its outer div dropped
    aliased = (b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/"><entry>'
               b'<dc:creator>Ann</dc:creator><author><name>Bob</name></author></entry></feed>')
    read_feed(aliased)
    assert parse_feed(aliased, feed_name="f").items[0].authors == ["Bob", "Bob"]  # Ann's name overwritten


RFC822 = st.builds(
    "{}{} {} {} {}:{}:{} {}".format,
    st.sampled_from(["", "Fri, ", "Mon, ", "Foo, ", "Thu "]),
    st.sampled_from(["1", "07", "27", "31", "0", "32", "x"]),
    st.sampled_from(["Nov", "nov", "FEB", "Foo", "November", "Sept"]),
    st.sampled_from(["2026", "1899", "2101", "26", "99", "10000"]),
    st.sampled_from(["00", "10", "23", "24", "9"]), st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["00", "59", "60", "5"]),
    st.sampled_from(["GMT", "UT", "UTC", "Z", "+0000", "-0500", "+0530", "-0000", "EST", "+05:30", "GMT+2", "bogus"]),
)
W3DTF = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    st.sampled_from(["2026", "1899", "2100", "0001", "26"]), st.sampled_from(["01", "11", "12", "13", "00", "1"]),
    st.sampled_from(["01", "27", "29", "31", "32"]), st.sampled_from(["T", "t", " ", "T"]),
    st.sampled_from(["00", "10", "23", "24"]), st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["", ".5", ".123456", ".9999999999999999999"]),
    st.sampled_from(["Z", "z", "+01:00", "-05:30", "+0100", "", "-00:00", "+14:00"]),
)


@settings(max_examples=400, deadline=None, database=None)
@given(st.one_of(RFC822, W3DTF, st.sampled_from(DATES), st.text(max_size=30)))
def test_dates_are_read_as_feedparser_reads_them(value: str) -> None:
    assert parse_date(value) == utc_datetime(_parse_date(value))


URL_PART = st.text(alphabet="aZ09-._~:/?#[]@!$&'()*+,;=% \té", max_size=12)


@settings(max_examples=400, deadline=None, database=None)
@given(st.sampled_from(["", BASE, "http://x.example", "https://x.example/a/b?q#f"]),
       st.one_of(URL_PART, st.builds("{}://{}{}".format, st.sampled_from(["http", "https", "HTTPS", "ftp"]),
                                     URL_PART, URL_PART)))
def test_url_joins_are_feedparsers(base: str, url: str) -> None:
    assert _join(base, url) == _urljoin(base, url)

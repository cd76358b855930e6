"""Random feed documents built from fragments feedparser treats in particular ways.

The fast path (`ingest.xmlfeed`) must give what feedparser gives for every document it accepts;
these documents put the rules where the two could part in random orders and combinations:
which of several titles, summaries, links or dates wins, a description after a summary becoming
content, guids and Atom ids standing in for links, xml:base on any element, author strings with
email addresses, Atom authors with several names, categories with and without terms, Atom xhtml
with and without its wrapping <div>, double-encoded UTF-8 and cp1252 code points, entities and
CDATA, relative and odd URLs, unknown namespaces, prefixes that clash, and elements only
feedparser reads. `random.Random` drives the choices, so Hypothesis (`st.randoms()`) can too.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

TEXTS = [
    "Hello", "  spaced  ", "", "Caf\u00e9", "Caf\u00c3\u00a9 au lait", "quote \u0093x\u0094", "a &amp; b",
    "&lt;p&gt;para&lt;/p&gt;", "<![CDATA[<p>cdata <b>x</b></p>]]>", "x &lt; y &gt; z", "\u043d\u043e\u0432\u043e\u0441\u0442\u0438",
    "5 &#8211; 6", "tab\there\nnl", "&#x85;", "&lt;b&gt;bold&lt;/b&gt; &amp;copy;", "<![CDATA[a &amp; b]]>",
    "&lt;p&gt;Tom &amp;amp; Jerry&lt;/p&gt;", "plain <!-- a comment --> text", "\u00a0nbsp\u00a0",
]
URLS = [
    "https://a.example/p/1", "http://a.example/p?x=1&amp;y=2", "/relative/path", "rel", "https://a.example/p;v=1",
    "HTTPS://A.example/", "https://a.example/p?", "", "  https://a.example/sp  ", "tag:a.example,2026:1", "urn:uuid:1234",
    "https:///a.example/x", "javascript:alert(1)", "https://a.example/a/../b", "mailto:x@y", "http://a.example/?a=1&amp;b;=2",
    "https://a.example/p#", "//a.example/x", "https://user@a.example/", "https://a.example:8080/x?q=1#f", "../up",
    "https://a.example/\u00e9t\u00e9", "?q=only", "#frag",
]
DATES = [
    "Fri, 27 Nov 2026 10:00:00 GMT", "Fri, 27 Nov 2026 10:00:00 +0530", "27 Nov 2026 10:00:00 -0800", "2026-11-27T10:00:00Z",
    "2026-11-27T10:00:00.123+01:00", "2026-11-27", "not a date", "", "Sun, 31 Feb 2026 10:00:00 GMT", "2026-11-27T25:00:00Z",
    "Mon, 27 Nov 26 10:00:00 EST", "Foo, 27 Nov 2026 10:00:00 GMT", "Fri, 27 Nov 2026 10:00:60 GMT", "2026-11-27 10:00:00",
    "Sat, 01 Oct 2026 23:59:59 -0000", "2026-11-27T10:00:00-05:30", "Fri, 27 November 2026 10:00 UT", "1899-12-31T23:00:00Z",
]
AUTHORS = ["Jane Doe", "jane@example.com (Jane Doe)", "jane@example.com", "Jane &lt;jane@example.com&gt;", "", "(Jane)",
           "Jos\u00c3\u00a9"]
BASES = [None, "https://feed.example/dir/feed.xml", "http://feed.example", "https://feed.example/a/../b/feed?x=1",
         "HTTPS://Feed.example/", "feed.xml"]
RSS_NAMESPACES = (
    "xmlns:content='http://purl.org/rss/1.0/modules/content/' xmlns:dc='http://purl.org/dc/elements/1.1/' "
    "xmlns:media='http://search.yahoo.com/mrss/' xmlns:atom='http://www.w3.org/2005/Atom' "
    "xmlns:sy='http://purl.org/rss/1.0/modules/syndication/' xmlns:wfw='http://wellformedweb.org/CommentAPI/' "
    "xmlns:slash='http://purl.org/rss/1.0/modules/slash/' xmlns:x='urn:x' xmlns:dcterms='http://purl.org/dc/terms/'"
)
# Namespaces some documents add, by the prefix their fragments use; most documents add none.
EXTRA_NAMESPACES = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",  # elements only feedparser reads
    "georss": "http://www.georss.org/georss",
    "DC": "http://purl.org/dc/elements/1.1/",  # a second prefix for a known namespace
    "media2": "http://search.yahoo.com/mrss",  # the old Media RSS namespace, under another prefix
    "y": "urn:x",  # a second prefix for an unknown namespace
    "content": "urn:not-content",  # a known module's prefix for an unknown namespace (Atom documents)
}


def pick(r: Random, *options: str) -> str:
    """One of `options`."""
    return r.choice(options)


def base_attr(r: Random) -> str:
    return pick(r, "", "", "", "", " xml:base='https://b.example/dir/'", " xml:base='/other/'", " xml:base='sub/'",
                " xml:base='http://c.example/'", " xml:base=''")


def lang_attr(r: Random) -> str:
    return pick(r, "", "", " xml:lang='de'", " xml:lang=''", " xml:lang='en_GB'")


def text(r: Random) -> str:
    return r.choice(TEXTS)


def url(r: Random) -> str:
    return r.choice(URLS)


def date(r: Random) -> str:
    return r.choice(DATES)


def extra_namespaces(r: Random) -> dict[str, str]:
    """The extra namespaces of one document (usually none)."""
    return dict(r.sample(sorted(EXTRA_NAMESPACES.items()), r.choice([0, 0, 0, 1, 2])))


def declare(namespaces: dict[str, str]) -> str:
    return "".join(f" xmlns:{prefix}='{uri}'" for prefix, uri in namespaces.items())


def declared(fragment: str, namespaces: dict[str, str]) -> bool:
    """Whether every extra prefix `fragment` uses is declared."""
    return all(f"<{prefix}:" not in fragment or prefix in namespaces
               for prefix in EXTRA_NAMESPACES if prefix != "content") and (
        "<content:x" not in fragment or "content" in namespaces)


def rss_item_child(r: Random, namespaces: dict[str, str]) -> str:
    """One child of an RSS <item> (or RDF item), using only declared prefixes."""
    fragments: list[Callable[[], str]] = [
        lambda: "<title{}>{}</title>".format(pick(r, "", " type='html'"), text(r)),
        lambda: f"<link{base_attr(r)}>{url(r)}</link>",
        lambda: "<link/>",
        lambda: "<guid{}>{}</guid>".format(pick(r, "", " isPermaLink='false'", " isPermaLink='true'", " isPermaLink='True'"),
                                       url(r)),
        lambda: f"<guid><x:wrap a='1'>{url(r)}</x:wrap></guid>",
        lambda: f"<description>{text(r)}</description>",
        lambda: f"<summary>{text(r)}</summary>",
        lambda: f"<content:encoded>{text(r)}</content:encoded>",
        lambda: f"<dc:creator>{r.choice(AUTHORS)}</dc:creator>",
        lambda: f"<author>{r.choice(AUTHORS)}</author>",
        lambda: f"<author><name>{text(r)}</name><email>e@example.com</email></author>",
        lambda: "<category{}>{}</category>".format(pick(r, "", " domain='d'"), pick(r, "News", "", " Sport ", "News")),
        lambda: f"<pubDate>{date(r)}</pubDate>",
        lambda: f"<dc:date>{date(r)}</dc:date>",
        lambda: "<enclosure url='{}' type='{}' length='{}'/>".format(url(r), pick(r, "audio/MPEG", "image/jpeg", ""),
                                                                pick(r, "123", "x", "")),
        lambda: "<media:content url='{}' type='image/JPEG' fileSize='{}' medium='image'>{}</media:content>".format(
            url(r), pick(r, "9", ""), pick(r, "", f"<media:title>{text(r)}</media:title>",
                                           f"<media:description>{text(r)}</media:description>")),
        lambda: f"<media:thumbnail url='{url(r)}'/>",
        lambda: "<atom:link rel='{}' href='{}'{}/>".format(pick(r, "alternate", "enclosure", "self", "hub", "ALTERNATE"),
                                                       url(r), pick(r, "", " type='text/html'",
                                                                    " type='audio/mpeg' length='5'")),
        lambda: f"<source url='{url(r)}'>{text(r)}</source>",
        lambda: f"<comments>{url(r)}</comments>",
        lambda: f"<x:thing a='1'>{text(r)}</x:thing>",
        lambda: "<x:empty/>",
        lambda: "<dc:language>{}</dc:language>".format(pick(r, "en", "de-DE", "")),
        lambda: "<language>{}</language>".format(pick(r, "fr", "")),
        lambda: "<dc:subject>{}</dc:subject>".format(pick(r, "Politics", "News")),
        lambda: f"<media:group><media:content url='{url(r)}' type='video/mp4'/><media:title>{text(r)}</media:title></media:group>",
        lambda: f"<dc:title>{text(r)}</dc:title>",
        lambda: f"<pubDate><time datetime='x'>{date(r)}</time></pubDate>",
        lambda: f"<wfw:commentRss>{url(r)}</wfw:commentRss><slash:comments>3</slash:comments>",
        lambda: "<media:category>{}</media:category>".format(pick(r, "Art", "")),
        lambda: "<ttl>{}</ttl>".format(pick(r, "60", "x")),
        lambda: f"<post-id xmlns='com-wordpress:feed-additions:1'>{r.randrange(100)}</post-id>",
        lambda: f"<dcterms:modified>{date(r)}</dcterms:modified>",
        lambda: f"<y:thing>{text(r)}</y:thing>",
        lambda: f"<itunes:author>{r.choice(AUTHORS)}</itunes:author>",
        lambda: "<georss:point>1 2</georss:point>",
        lambda: f"<DC:creator>{r.choice(AUTHORS)}</DC:creator>",
        lambda: f"<media2:content url='{url(r)}'/>",
        lambda: "<description><p>markup</p></description>",
    ]
    while not declared(fragment := r.choice(fragments)(), namespaces):
        pass
    return fragment


def channel_child(r: Random) -> str:
    """One child of an RSS <channel> that is not an item."""
    fragments: list[Callable[[], str]] = [
        lambda: f"<title>{text(r)}</title>",
        lambda: f"<link>{url(r)}</link>",
        lambda: "<language>{}</language>".format(pick(r, "en-us", "de", "")),
        lambda: "<ttl>{}</ttl>".format(pick(r, "60", " 30 ", "x", "")),
        lambda: "<sy:updatePeriod>{}</sy:updatePeriod>".format(pick(r, "hourly", "daily")),
        lambda: "<sy:updateFrequency>{}</sy:updateFrequency>".format(pick(r, "1", "2", "x")),
        lambda: "<atom:link rel='{}' href='{}'/>".format(pick(r, "self", "hub", "alternate"), url(r)),
        lambda: "<image><url>{}</url><title>{}</title><link>{}</link>{}</image>".format(
            url(r), text(r), url(r), pick(r, "", "<foo>x</foo><title>late</title>", "<ttl>5</ttl>")),
        lambda: "<textInput><title>{}</title><name>q</name><link>{}</link>{}</textInput>".format(
            text(r), url(r), pick(r, "", "<foo/><link>after</link>")),
        lambda: f"<description>{text(r)}</description>",
        lambda: "<category>c</category>",
        lambda: f"<lastBuildDate>{date(r)}</lastBuildDate>",
        lambda: "<dc:language>{}</dc:language>".format(pick(r, "pl", "")),
        lambda: "<generator>WordPress</generator>",
        lambda: f"<managingEditor>{r.choice(AUTHORS)}</managingEditor>",
        lambda: "<cloud domain='x' port='80'/>",
    ]
    return r.choice(fragments)()


def rss_document(r: Random) -> bytes:
    """An RSS 2.0 (or 0.9x) document."""
    namespaces = extra_namespaces(r)
    namespaces.pop("content", None)  # RSS documents use content: for its module
    items = "".join("<item{}>{}</item>".format(
        base_attr(r), "".join(rss_item_child(r, namespaces) for _ in range(r.randrange(9))))
        for _ in range(r.randrange(4)))
    channel = [channel_child(r) for _ in range(r.randrange(7))]
    cut = r.randrange(len(channel) + 1)
    body = "".join(channel[:cut]) + items + "".join(channel[cut:])
    version, language, root_base, channel_base = pick(r, "2.0", "0.92", "", "2.01"), lang_attr(r), base_attr(r), base_attr(r)
    return (f"<?xml version='1.0' encoding='UTF-8'?><rss version='{version}'{language}{root_base} {RSS_NAMESPACES}"
            f"{declare(namespaces)}><channel{channel_base}>{body}</channel></rss>").encode()


def rdf_document(r: Random) -> bytes:
    """An RSS 1.0 (RDF) document."""
    namespaces = extra_namespaces(r)
    namespaces.pop("content", None)
    items = "".join("<item rdf:about='{}'>{}</item>".format(
        url(r), "".join(rss_item_child(r, namespaces) for _ in range(r.randrange(7))))
        for _ in range(r.randrange(4)))
    channel = "".join(channel_child(r) for _ in range(r.randrange(5)))
    tail = pick(r, "", f"<image rdf:about='i'><title>{text(r)}</title><url>u</url></image>",
                "<textinput><title>t</title><name>n</name></textinput>")
    return ("<?xml version='1.0'?><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
            f"xmlns='http://purl.org/rss/1.0/' {RSS_NAMESPACES}{declare(namespaces)}><channel rdf:about='c'>{channel}"
            f"<items><rdf:Seq><rdf:li resource='x'/></rdf:Seq></items></channel>{items}{tail}</rdf:RDF>").encode()


def xhtml(r: Random) -> str:
    inner = pick(r, "<p>Hi &amp; <b>bye</b></p>", "<p>a</p><p>b</p>", "text only", "<img src='x.png' alt='q&quot;'/>",
                 "<br/>", "", "<p xml:lang='en' class='C'>x</p>", "<a href='/r' REL='NoFollow' TYPE='Text/HTML'>l</a>",
                 "<div><div>n</div></div>", "<p thr:a='1' class='k'>z</p>", "<p>a<!-- c -->b</p>",
                 "<p xml:base='/in/'>based</p><p>after</p>",
                 "<svg xmlns='http://www.w3.org/2000/svg'/>", "<p><title>t</title></p>", "<![CDATA[<raw>]]>")
    return pick(r, f"<div xmlns='http://www.w3.org/1999/xhtml'>{inner}</div>",
                f" \n <div xmlns='http://www.w3.org/1999/xhtml' class='c'>{inner}</div> ",
                f"<div xmlns='http://www.w3.org/1999/xhtml'>{inner}</div><div xmlns='http://www.w3.org/1999/xhtml'>2</div>",
                f"<xh:div xmlns:xh='http://www.w3.org/1999/xhtml'>{inner}</xh:div>",
                f"<p xmlns='http://www.w3.org/1999/xhtml'>{inner}</p>", f"<div>{inner}</div>")


def construct(r: Random, name: str) -> str:
    """An Atom text construct: text, html or xhtml."""
    kind = pick(r, "", " type='text'", " type='html'", " type='xhtml'", " type='text/html'", " type='TEXT'")
    return "<{}{}{}>{}</{}>".format(name, kind, base_attr(r), xhtml(r) if "xhtml" in kind else text(r), name)


def atom_entry_child(r: Random, namespaces: dict[str, str]) -> str:
    """One child of an Atom <entry>, using only declared prefixes."""
    fragments: list[Callable[[], str]] = [
        lambda: construct(r, "title"),
        lambda: "<link{}{}{} href='{}'/>".format(
            pick(r, "", " rel='alternate'", " rel='enclosure' length='7'", " rel='self'", " rel='replies' thr:count='2'",
                 " rel='enclosure' count='9' thr:count='2'", " rel='Alternate'", " rel='enclosure'"),
            pick(r, "", " type='text/html'", " type='application/atom+xml'", " type='html'"), base_attr(r), url(r)),
        lambda: f"<id>{url(r)}</id>",
        lambda: construct(r, "content"),
        lambda: f"<content src='{url(r)}'/>",
        lambda: construct(r, "summary"),
        lambda: "<author>{}</author>".format("".join(r.sample([
            "<name>Jane</name>", "<name> Jo Ann </name>", "<email>j@example.com</email>", "<uri>/me</uri>",
            "<gd:image rel='x' src='y'/>", "", "<name></name>", "<name>Jos\u00c3\u00a9</name>"], r.randrange(4)))),
        lambda: "<category{}/>".format(pick(r, "", " term='t'", " term='t' scheme='s'", " label='L'", " term=' t '")),
        lambda: f"<published>{date(r)}</published>",
        lambda: f"<updated>{date(r)}</updated>",
        lambda: (f"<source><title>{text(r)}</title><id>{url(r)}</id><link href='{url(r)}'/><author><name>S</name></author>"
                 f"<updated>{date(r)}</updated></source>"),
        lambda: "<thr:total>3</thr:total>",
        lambda: f"<media:thumbnail url='{url(r)}'/>",
        lambda: f"<rights>{text(r)}</rights>",
        lambda: "<dc:subject>S</dc:subject>",
        lambda: f"<media:content url='{url(r)}' medium='image'><media:title type='html'>{text(r)}</media:title></media:content>",
        lambda: f"<dc:creator>{r.choice(AUTHORS)}</dc:creator>",
        lambda: f"<link>{url(r)}</link>",
        lambda: "<contributor><name>C</name></contributor>",
        lambda: f"<issued>{date(r)}</issued>",
        lambda: f"<itunes:summary>{text(r)}</itunes:summary>",
        lambda: f"<media2:content url='{url(r)}'/>",
        lambda: f"<DC:creator>{r.choice(AUTHORS)}</DC:creator>",
        lambda: f"<content:x>{text(r)}</content:x>",
    ]
    while not declared(fragment := r.choice(fragments)(), namespaces):
        pass
    return fragment


def atom_document(r: Random) -> bytes:
    """An Atom 1.0 (or 0.3) document."""
    namespaces = extra_namespaces(r)
    entries = "".join("<entry{}{}>{}</entry>".format(
        base_attr(r), lang_attr(r), "".join(atom_entry_child(r, namespaces) for _ in range(r.randrange(9))))
        for _ in range(r.randrange(4)))
    fragments: list[Callable[[], str]] = [
        lambda: construct(r, "title"), lambda: f"<link href='{url(r)}'/>",
        lambda: f"<link rel='self' href='{url(r)}'/>", lambda: f"<id>{url(r)}</id>",
        lambda: f"<updated>{date(r)}</updated>", lambda: construct(r, "subtitle"),
        lambda: "<author><name>F</name></author>",
        lambda: f"<at:deleted-entry ref='{url(r)}' when='2026-11-27T00:00:00Z'><at:by>x</at:by></at:deleted-entry>",
        lambda: "<generator uri='/g'>G</generator>", lambda: "<icon>/i.png</icon>",
    ]
    head = [r.choice(fragments)() for _ in range(r.randrange(6))]
    cut = r.randrange(len(head) + 1)
    namespace = pick(r, "http://www.w3.org/2005/Atom", "http://www.w3.org/2005/Atom", "http://purl.org/atom/ns#")
    version, language, root_base = pick(r, "", " version='0.3'"), lang_attr(r), base_attr(r)
    return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='{namespace}'{version}{language}{root_base} "
            "xmlns:thr='http://purl.org/syndication/thread/1.0' xmlns:media='http://search.yahoo.com/mrss/' "
            "xmlns:dc='http://purl.org/dc/elements/1.1/' xmlns:gd='http://schemas.google.com/g/2005' "
            f"xmlns:at='http://purl.org/atompub/tombstones/1.0'{declare(namespaces)}>"
            + "".join(head[:cut]) + entries + "".join(head[cut:]) + "</feed>").encode()


def document(r: Random) -> tuple[bytes, str | None]:
    """A random RSS, RDF or Atom document and the base URL it was fetched from."""
    make = r.choice([rss_document, rss_document, atom_document, atom_document, rdf_document])
    return make(r), r.choice(BASES)

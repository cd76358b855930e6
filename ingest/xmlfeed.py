"""Fast path of `ingest.parse`: well-formed RSS 2.0, Atom 1.0 and RSS 1.0 read with lxml.

feedparser turns every SAX event into Python work (namespace mapping, a push/pop stack, deep
copies of content parameters, FeedParserDict look-ups, a URL join per element): about 0.3 ms of
CPU per item. This module reads the same documents from an lxml tree into the same values
`ingest.parse` takes from feedparser's result, several times cheaper. It reproduces feedparser's
rules for what feedrelay reads — the feed's title, link, language, ttl and sy: hints; each
entry's id, link, title, content, summary, authors, dates, categories, enclosures, media content
and language — quirks included: which of several titles or summaries wins (by element depth), a
second description becoming content, a permalink guid or an Atom id standing in for a missing
link, xml:base, the repair of double-encoded UTF-8 and of cp1252 code points, the outer <div>
of Atom xhtml content. feedparser's own tables and rare-path helpers (namespaces, handled
element names, date formats beyond the two common ones, the HTML-in-plain-text guess, URL
joining) are used as they are, so both paths agree by construction where they share code.

Whatever it does not reproduce raises `NotFast`, and the caller falls back to feedparser: a
DOCTYPE, a declared encoding other than UTF-8, a byte-order mark, a document that is not
well-formed, an unknown root, an element feedparser gives meaning to that is not reproduced here
(iTunes, GeoRSS, Podlove chapters, …), markup inside a text element or a description, unusual
namespace prefixes.

The lxml parser is locked down: no network, no DTD loading, no entity resolution, no huge
trees, no recovery; a document with a DOCTYPE is refused before it reaches the parser.
"""

from __future__ import annotations

import calendar
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from feedparser.api import StrictFeedParser
from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XHTML = "application/xhtml+xml"
HTML_TYPES = {XHTML, "text/html"}
COPIED_TO_SUMMARY = {"text/plain", "text/html", XHTML}
QUOTE = {'"': "&quot;"}

# feedparser's namespace table (lower-cased URI -> its prefix) and the element names it handles.
KNOWN = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
HANDLED_BY_FEEDPARSER = {name.split("_", 2)[2] for name in dir(StrictFeedParser)
                         if name.startswith(("_start_", "_end_"))}
END_HANDLED_BY_FEEDPARSER = {name[5:] for name in dir(StrictFeedParser) if name.startswith("_end_")}
RELATIVE = _FeedParserMixin.can_be_relative_uri
# Element names whose generic (handler-less) value would land on a key feedrelay reads.
READ_KEYS = {"authors", "author_detail", "links", "published_parsed", "updated_parsed", "date_parsed",
             "issued_parsed", "modified_parsed"}
HINT_KEYS = {"ttl", "sy_updateperiod", "sy_updatefrequency"}
IMAGE_CHILDREN = {"title", "link", "description", "url", "href", "width", "height"}
TEXTINPUT_CHILDREN = {"title", "link", "description", "name"}
VERSION_ATTRIBUTE = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
ATOM_VERSION_ATTRIBUTE = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}
MEDIA_CATEGORY_SCHEME = "http://search.yahoo.com/mrss/category_schema"
PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
                  "recover": False, "remove_comments": True, "remove_pis": True, "collect_ids": False}

_PROLOG = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)
_DECLARED_ENCODING = re.compile(rb"\A<\?xml\s[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_EMAIL = re.compile(r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
                    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?")
_ENTITY_LIKE = re.compile("&([A-Za-z0-9_]+);")
_C1 = re.compile("[\x80-\x9f]")
# An absolute http(s) URL that urljoin gives back unchanged whatever the base (see `_join`).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[^?#;\s\x00-\x20\x7f]*)?"
                        r"(?:\?[^#\s\x00-\x20\x7f]+)?(?:#[^\s\x00-\x20\x7f]+)?")
_RFC822 = re.compile(r"(?:(?:mon|tue|wed|thu|fri|sat|sun), )?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d\d):(\d\d):(\d\d) "
                     r"(?:GMT|UTC?|Z|([+-])(\d\d)(\d\d))", re.I)
_W3DTF = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d(?:\.\d+)?)(?:Z|([+-])(\d\d):(\d\d))", re.I)
_MONTHS = {name: n for n, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


class NotFast(Exception):
    """The document needs feedparser; the message says why."""


@dataclass
class FeedDocument:
    """What `read_feed` found: feed metadata and entries as feedparser-shaped dicts, tombstone refs."""

    meta: dict[str, Any]
    entries: list[dict[str, Any]]
    deleted: list[str]


def read_feed(body: bytes, base_url: str | None = None) -> FeedDocument:
    """Read an RSS/Atom/RDF document the way feedparser would; raises NotFast when it cannot.

    `meta` and each entry hold the keys `ingest.parse` reads from feedparser's result, with the
    same values, except that dates are timezone-aware datetimes rather than struct_time.
    """
    if body[:3] == b"\xef\xbb\xbf" or body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise NotFast("byte-order mark")
    declared = _DECLARED_ENCODING.match(body)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise NotFast(f"declared encoding {declared.group(1).decode('ascii', 'replace')}")
    if body.startswith(b"<!DOCTYPE", _PROLOG.match(body).end()):
        raise NotFast("DOCTYPE")
    parser = etree.XMLPullParser(events=("start-ns",), **PARSER_OPTIONS)
    try:
        parser.feed(body)
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        raise NotFast(f"not well-formed: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise NotFast("DOCTYPE")
    events = [(prefix or None, uri) for _, (prefix, uri) in parser.read_events()]
    reader = _Reader(_Namespaces([e for e in events if e[1]]), base_url or "")
    reader.read(root, [e for e in events[:len(root.nsmap)] if e[1]])
    deleted = []
    if TOMBSTONES_NS.encode() in body:
        deleted = [e.get("ref", "").strip() for e in root.iter(f"{{{TOMBSTONES_NS}}}deleted-entry")]
    return FeedDocument(reader.feed, reader.entries, deleted)


def utc_datetime(value: Any) -> datetime | None:
    """A datetime (UTC) for feedparser's struct_time; a datetime passes through."""
    if isinstance(value, datetime) or not value:
        return value or None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def parse_date(value: str | None) -> datetime | None:
    """feedparser's date for `value`, as a UTC datetime: RFC 822 and W3C forms read directly."""
    if not value:
        return None
    if match := _RFC822.fullmatch(value):
        day, month, year, hour, minute, second, sign, tz_hours, tz_minutes = match.groups()
        offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes)) if sign else timedelta()
        month_number = _MONTHS.get(month.lower())
        if month_number and (fast := _stamp(int(year), month_number, int(day), int(hour), int(minute),
                                            int(second), -offset if sign == "-" else offset)):
            return fast
    elif match := _W3DTF.fullmatch(value):
        year, month, day, hour, minute, second, sign, tz_hours, tz_minutes = match.groups()
        offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes)) if sign else timedelta()
        if fast := _stamp(int(year), int(month), int(day), int(hour), int(minute), int(float(second)),
                          -offset if sign == "-" else offset):
            return fast
    return utc_datetime(_parse_date(value))


def _stamp(year: int, month: int, day: int, hour: int, minute: int, second: int,
           offset: timedelta) -> datetime | None:
    if not 1900 <= year <= 2100:
        return None
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC) - offset
    except ValueError:
        return None


def _repair(text: str) -> str:
    """feedparser's last touches to a value: double-encoded UTF-8 undone, C1 codes read as cp1252."""
    if text.isascii():
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(_cp1252) if _C1.search(text) else text


def _join(base: str, uri: str) -> str:
    """feedparser's `_urljoin(base, uri)`, without the work when `uri` is a plain absolute URL."""
    return uri if _PLAIN_URL.fullmatch(uri) else _urljoin(base, uri)


def _content_type(value: str) -> str:
    value = value.lower()
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html", "xhtml": XHTML}.get(value, value)


def _enforce_href(attrs: dict[str, str]) -> dict[str, str]:
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if href:
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = href
    return attrs


def _add_tag(context: dict[str, Any], term: str | None, scheme: str | None, label: str | None) -> None:
    tags = context.setdefault("tags", [])
    if not term and not scheme and not label:
        return
    value = {"term": term, "scheme": scheme, "label": label}
    if value not in tags:
        tags.append(value)


def _strip_outer_div(pieces: list[str]) -> list[str]:
    """feedparser's removal of the <div> wrapping all of an Atom xhtml construct."""
    while len(pieces) > 1 and not pieces[-1].strip():
        del pieces[-1]
    while len(pieces) > 1 and not pieces[0].strip():
        del pieces[0]
    if pieces and (pieces[0] == "<div>" or pieces[0].startswith("<div ")) and pieces[-1] == "</div>":
        depth = 0
        for piece in pieces[:-1]:
            if piece.startswith("</"):
                depth -= 1
                if depth == 0:
                    return pieces
            elif piece.startswith("<") and not piece.endswith("/>"):
                depth += 1
        return pieces[1:-1]
    return pieces


class _Namespaces:
    """How feedparser names the elements of one document (`prefix_local`, lower case).

    A known namespace gets feedparser's prefix whatever the document calls it; an unknown one
    keeps the document's prefix. Documents where feedparser's prefix bookkeeping could mix names
    up (one prefix for two namespaces, a known namespace under another's prefix) raise NotFast.
    """

    def __init__(self, declarations: list[tuple[str | None, str]]) -> None:
        self.unknown: dict[str, str] = {}  # unknown namespace URI -> the document's prefix
        slots: dict[str, set[str]] = {}  # feedparser's namespaces_in_use key -> URIs put there
        renamed: set[str] = set()  # document prefixes of known namespaces other than feedparser's
        standard_used: set[str] = set()
        defaults: set[str] = set()  # unknown namespaces declared as the default namespace
        for prefix, uri in declarations:
            lower = uri.lower()
            if "backend.userland.com/rss" in lower:
                uri = lower = "http://backend.userland.com/rss"
            standard = KNOWN.get(lower)
            if standard is not None:
                standard_used.add(standard.lower())
                slots.setdefault(standard, set()).add(uri)
                if prefix is not None and prefix != standard:
                    renamed.add(prefix)  # feedparser looks these up with lower-cased prefixes
            elif prefix:
                if self.unknown.setdefault(uri, prefix) != prefix:
                    raise NotFast(f"namespace {uri} has two prefixes")
                slots.setdefault(prefix, set()).add(uri)
            else:
                defaults.add(uri)
        if mixed := defaults & set(self.unknown):
            raise NotFast(f"namespace {mixed.pop()} is both default and prefixed")
        for prefix in self.unknown.values():
            if len(slots[prefix]) > 1:
                raise NotFast(f"prefix {prefix} is used for two namespaces")
        if clash := renamed & (standard_used | {prefix.lower() for prefix in self.unknown.values()}):
            raise NotFast(f"prefix {clash.pop()} names another namespace")
        self.names: dict[str, tuple[str, bool, str]] = {}
        self.prefixes: dict[str, str | None] = {XML_NS: "xml"}  # URI -> its one document prefix, or None
        for prefix, uri in declarations:
            if prefix is not None:
                self.prefixes[uri] = prefix if self.prefixes.get(uri, prefix) == prefix else None

    def attributes(self, items: list[tuple[str, str]]) -> dict[str, str]:
        """feedparser's attribute dict for an element's attributes.

        Keys are lower-cased: a known namespace's attribute under feedparser's prefix, an unknown
        one's under its local name, and each also under its document name (prefix:local); `rel`
        and `type` values are lower-cased.
        """
        attrs: dict[str, str] = {}
        qualified: list[tuple[str, str]] = []  # feedparser's second pass, by qualified name
        for name, value in items:
            if name[0] == "{":
                uri, local = name[1:].split("}", 1)
                prefix = KNOWN.get(uri.lower(), "")
                attrs[(f"{prefix}:{local}" if prefix else local).lower()] = value
                document_prefix = self.prefixes.get(uri)
                if document_prefix is None:
                    raise NotFast(f"attribute namespace {uri} has no single prefix")
                qualified.append((f"{document_prefix}:{local}".lower(), value))
            else:
                attrs[name.lower()] = value
                qualified.append((name.lower(), value))
        for key, value in qualified:
            attrs[key] = value
        for key in ("rel", "type"):
            if attrs.get(key):
                attrs[key] = attrs[key].lower()
        return attrs

    def name(self, tag: str) -> tuple[str, bool, str]:
        """(feedparser's handler key, whether it has no prefix, local name) for an lxml tag."""
        found = self.names.get(tag)
        if found is None:
            if tag[0] == "{":
                uri, local = tag[1:].split("}", 1)
            else:
                uri, local = "", tag
            lower = uri.lower()
            if "backend.userland.com/rss" in lower:
                lower = "http://backend.userland.com/rss"
            prefix = KNOWN.get(lower)
            if prefix is None:
                prefix = self.unknown.get(uri, "")
            prefix, local = prefix.lower(), local.lower()
            found = self.names[tag] = (f"{prefix}_{local}" if prefix else local, not prefix, local)
        return found


class _Reader:
    """feedparser's state machine, for the elements and the state that reach feedrelay's values.

    Handlers take (element, attributes, depth) and do what feedparser's start handler, the
    element's children and its end handler do together.
    """

    def __init__(self, namespaces: _Namespaces, base: str) -> None:
        self.namespaces = namespaces
        self.base = base  # feedparser's baseuri, and its basestack below
        self.bases: list[str] = []
        self.version = ""
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.entry: dict[str, Any] = {}
        self.depths: dict[str, int] = {}  # feedparser's property_depth_map of the current entry
        self.source: dict[str, Any] = {}
        self.infeed = self.inentry = self.insource = self.inimage = self.intextinput = False
        self.inauthor = self.incontributor = False
        self.has_content = False
        self.title_depth = -1
        self.guidislink = False

    # -- the document --

    def read(self, root: etree._Element, root_declarations: list[tuple[str | None, str]]) -> None:
        """Read the document from its root; `root_declarations` are the root's xmlns, in order."""
        for prefix, uri in root_declarations:
            lower = uri.lower()
            if lower in ("http://purl.org/rss/1.0/", "http://www.w3.org/2005/atom"):
                self.version = "rss10" if lower == "http://purl.org/rss/1.0/" else "atom10"
                break
            if prefix is None and lower == "http://my.netscape.com/rdf/simple/0.9/":
                self.version = "rss090"
                break
        key = self.namespaces.name(root.tag)[0]
        if key not in ("rss", "feed", "rdf_rdf"):
            raise NotFast(f"root element <{key}>")
        if key == "rdf_rdf" and not self.version:
            raise NotFast("RDF document without the RSS 1.0 namespace")
        self.element(root, 1)

    def context(self) -> dict[str, Any]:
        """feedparser's `_get_context`: where the current element's values go."""
        if self.insource:
            return self.source
        if self.inimage and "image" in self.feed:
            return self.feed["image"]
        if self.intextinput:
            if "textinput" not in self.feed:
                raise NotFast("textinput outside the feed")
            return self.feed["textinput"]
        return self.entry if self.inentry else self.feed

    def in_entry(self) -> bool:
        """Whether values go to the current entry."""
        return self.inentry and self.context() is self.entry

    def element(self, el: etree._Element, depth: int) -> None:
        key, bare, _ = self.namespaces.name(el.tag)
        items = el.items()
        attrs = self.namespaces.attributes(items) if items else {}
        self.enter(attrs)
        if bare:  # feedparser's "special hack": a bare element ends an image or text input early
            if self.intextinput and key not in TEXTINPUT_CHILDREN:
                self.intextinput = False
            if self.inimage and key not in IMAGE_CHILDREN:
                self.inimage = False
        handler = HANDLERS.get(key)
        if handler is not None:
            handler(self, el, attrs, depth)
        elif key in HANDLED_BY_FEEDPARSER:
            raise NotFast(f"<{key}> is read by feedparser only")
        elif key in READ_KEYS:
            raise NotFast(f"<{key}> would overwrite an entry field")
        elif key in HINT_KEYS:
            if attrs:
                raise NotFast(f"<{key}> with attributes")
            self.pop(key, self.text(el, depth), depth)
        else:
            self.children(el, depth)
        self.leave()

    def children(self, el: etree._Element, depth: int) -> None:
        for child in el:
            self.element(child, depth + 1)

    def enter(self, attrs: dict[str, str]) -> None:
        """feedparser's xml:base bookkeeping at the start of an element.

        feedparser joins the base with the element's xml:base, or with itself; past the root
        element, joining a base with itself must leave it as it is (`stable`), so only elements
        with xml:base need the join here.
        """
        value = attrs.get("xml:base", attrs.get("base")) if attrs else None
        if value or not self.bases:
            value = value or self.base
            if self.base:
                self.base = self.stable(make_safe_absolute_uri(self.base, value) or self.base)
            else:
                self.base = self.stable(_urljoin(self.base, value))
        self.bases.append(self.base)

    def leave(self) -> None:
        """…and at its end: the enclosing element's base, unless that is empty (then this one stays)."""
        self.bases.pop()
        if self.bases and self.bases[-1]:
            self.base = self.bases[-1]

    @staticmethod
    def stable(base: str) -> str:
        """`base`, which feedparser joins with itself at every element: that must not change it."""
        if base and (make_safe_absolute_uri(base, base) or base) != base:
            raise NotFast(f"base URI {base!r} changes when joined with itself")
        return base

    def text(self, el: etree._Element, depth: int, parts: tuple[str, ...] = ()) -> str:
        """The character data of an element that is not a text construct.

        A child element without attributes keeps its own text (feedparser pushes it); the text of
        a childless one with attributes is the parent's. `parts` are children read as usual (an
        author's name, email, URI); any other child feedparser gives meaning to needs feedparser.
        """
        if not len(el):
            return el.text or ""
        pieces = [el.text or ""]
        for child in el:
            key = self.namespaces.name(child.tag)[0]
            if key not in parts:
                if key in HANDLED_BY_FEEDPARSER or key in READ_KEYS or key in HINT_KEYS or len(child):
                    raise NotFast(f"<{key}> inside <{self.namespaces.name(el.tag)[0]}>")
                if child.items():
                    pieces.append(child.text or "")
            self.element(child, depth + 1)
            pieces.append(child.tail or "")
        return "".join(pieces)

    def construct(self, el: etree._Element, content_type: str) -> str:
        """The value of a text construct (title, summary, content): its text, or serialised xhtml."""
        if content_type == XHTML:
            pieces = [escape(el.text)] if el.text else []
            for child in el:
                self.inline(child, pieces)
            if self.version == "atom10":
                pieces = _strip_outer_div(pieces)
            return "".join(pieces)
        if len(el):
            raise NotFast(f"markup inside <{self.namespaces.name(el.tag)[0]}>")
        return el.text or ""

    def inline(self, el: etree._Element, pieces: list[str]) -> None:
        """feedparser's serialisation of an element inside xhtml content."""
        key, _, local = self.namespaces.name(el.tag)
        if key in END_HANDLED_BY_FEEDPARSER or key == "rss" or local in ("svg", "math"):  # (rss: its language)
            raise NotFast(f"<{key}> inside xhtml content")
        items = el.items()
        attrs = self.namespaces.attributes(items) if items else {}
        self.enter(attrs)
        attributes = "".join(f' {name}="{escape(value, QUOTE)}"' for name, value in attrs.items())
        pieces.append(f"<{local}{attributes}>")
        if el.text:
            pieces.append(escape(el.text))
        for child in el:
            self.inline(child, pieces)
        pieces.append(f"</{local}>")
        self.leave()
        if el.tail:
            pieces.append(escape(el.tail))

    def content_type(self, attrs: dict[str, str], default: str) -> str:
        content_type = _content_type(attrs.get("type", default))
        if content_type not in COPIED_TO_SUMMARY or attrs.get("mode") == "base64":
            raise NotFast(f"content type {content_type}")
        return content_type

    def pop(self, element: str, output: str, depth: int, content_type: str | None = None,
            expecting_text: bool = True) -> str:
        """feedparser's `pop`: the value of an element, stored where feedparser stores it."""
        output = output.strip()
        if not expecting_text:
            return output
        if element in RELATIVE and output and (element != "id" or self.guidislink):
            output = _join(self.base, output)
        if (element == "content" and content_type == "text/plain" and not self.version.startswith("atom")
                and _FeedParserMixin.looks_like_html(output)):
            content_type = "text/html"  # only a content's type is read
        output = _repair(output)
        if element == "category" or (element == "title" and -1 < self.title_depth <= depth):
            return output
        if self.inentry and not self.insource:
            entry = self.entry
            if element == "content":
                entry.setdefault("content", []).append({"type": content_type, "value": output, "base": self.base})
            elif element == "link":
                if "&" in output:
                    output = _ENTITY_LIKE.sub(r"&\g<1>", output.replace("&amp;", "&"))
                entry["link"] = output
            else:
                if element == "description":
                    element = "summary"
                old = self.depths.get(element)
                if old is None or depth <= old:
                    self.depths[element] = depth
                    entry[element] = output
        elif self.infeed or self.insource:
            context = self.context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link" and "&" in output:
                context["link"] = _ENTITY_LIKE.sub(r"&\g<1>", output)
        return output

    def expecting_text(self) -> bool:
        return self.infeed or self.inentry or self.insource

    # -- structure --

    def rss(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if depth != 1:
            raise NotFast("nested <rss>")
        if not self.version.startswith("rss"):
            version = attrs.get("version", "")
            self.version = VERSION_ATTRIBUTE.get(version) or ("rss20" if version.startswith("2.") else "rss")
        self.root_language(attrs)
        self.children(el, depth)

    def feed_(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if depth != 1:
            raise NotFast("nested <feed>")
        self.infeed = True
        if not self.version:
            self.version = ATOM_VERSION_ATTRIBUTE.get(attrs.get("version", "")) or "atom"
        self.root_language(attrs)
        self.children(el, depth)
        self.infeed = False

    def root_language(self, attrs: dict[str, str]) -> None:
        if language := attrs.get("xml:lang", attrs.get("lang")):
            self.feed["language"] = language.replace("_", "-")

    def channel(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if "lastmod" in attrs or "href" in attrs:
            raise NotFast("CDF attributes")
        self.infeed = True
        self.children(el, depth)
        self.infeed = False

    def item(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if self.inentry or self.insource or self.inimage or self.intextinput:
            raise NotFast("entry inside another construct")
        if "lastmod" in attrs or "href" in attrs:
            raise NotFast("CDF attributes")
        self.entry, self.depths = {}, {}
        self.entries.append(self.entry)
        self.inentry, self.guidislink, self.title_depth = True, False, -1
        if about := attrs.get("rdf:about"):
            self.entry["id"] = about
        self.children(el, depth)
        self.inentry = self.has_content = False

    def image(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if self.inentry:
            raise NotFast("image inside an entry")
        self.context().setdefault("image", {})
        self.inimage, self.title_depth = True, -1
        self.children(el, depth)
        self.inimage = False

    def textinput(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if self.inentry:
            raise NotFast("textinput inside an entry")
        self.context().setdefault("textinput", {})
        self.intextinput, self.title_depth = True, -1
        self.children(el, depth)
        self.intextinput = False

    def source_(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if self.insource:
            raise NotFast("nested <source>")
        self.insource, self.title_depth = True, -1
        self.children(el, depth)
        self.insource = False
        self.source.clear()

    def walk(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        """An element feedparser reads without touching what feedrelay reads: its children count."""
        self.children(el, depth)

    def plain_text(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        """A text construct feedrelay does not read (subtitle, rights, …): xhtml is read through."""
        self.construct(el, _content_type(attrs.get("type", "text/plain")))

    def contributor(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        """Contributors are not read, but their names must not count as an author's."""
        if self.inauthor or self.incontributor:
            raise NotFast("contributor inside an author")
        self.incontributor = True
        self.children(el, depth)
        self.incontributor = False

    def dc_contributor(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        self.text(el, depth)

    def feed_license(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        """In an entry, feedparser's end handler can fail on a license stored at a shallower depth."""
        if self.inentry:
            raise NotFast("creativeCommons:license in an entry")
        self.children(el, depth)

    # -- values --

    def title(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        content_type = self.content_type(attrs, "text/plain")
        value = self.pop("title", self.construct(el, content_type), depth, content_type, self.expecting_text())
        if value:
            self.title_depth = depth

    def media_title(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        title_depth = self.title_depth
        self.title(el, attrs, depth)
        self.title_depth = title_depth

    def link(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        attrs = dict(attrs)
        rel = attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        _enforce_href(attrs)
        if "href" not in attrs:
            self.pop("link", self.text(el, depth), depth, expecting_text=self.expecting_text())
            return
        attrs["href"] = _join(self.base, attrs["href"])
        if rel == "enclosure" and self.in_entry():
            self.entry.setdefault("enclosures", []).append({k: v for k, v in attrs.items() if k != "rel"})
        if rel == "alternate" and _content_type(attrs["type"]) in HTML_TYPES:
            self.context()["link"] = attrs["href"]
        self.children(el, depth)

    def guid(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        value = self.pop("id", self.text(el, depth), depth)
        if self.guidislink:
            self.context().setdefault("link", value)

    def description(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if "summary" in self.context() and not self.has_content:
            self.content(el, attrs, depth)  # feedparser: a description after a summary is content
        else:
            content_type = self.content_type(attrs, "text/html")
            self.pop("description", self.construct(el, content_type), depth, content_type,
                     self.expecting_text())

    def summary(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if "summary" in self.context() and not self.has_content:
            self.content(el, attrs, depth)
        else:
            content_type = self.content_type(attrs, "text/plain")
            self.pop("summary", self.construct(el, content_type), depth, content_type)

    def content(self, el: etree._Element, attrs: dict[str, str], depth: int, default: str = "text/plain") -> None:
        if not self.inentry or self.insource:
            raise NotFast("content outside an entry")
        self.has_content = True
        content_type = self.content_type(attrs, default)
        value = self.pop("content", self.construct(el, content_type), depth, content_type)
        self.context().setdefault("summary", value)  # every content type accepted here is copied

    def content_encoded(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        self.content(el, attrs, depth, "text/html")

    def author(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        context = self.context()
        self.inauthor = True
        context.setdefault("authors", []).append({})
        self.pop("author", self.text(el, depth, ("name", "email", "uri", "url", "homepage")), depth)
        self.inauthor = False
        self.sync_author(context)

    def name(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        value = self.text(el, depth).strip()
        if self.inauthor:
            self.save_author("name", value)
        elif self.intextinput and not self.incontributor:
            self.context()["name"] = value

    def email(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        value = self.text(el, depth).strip()
        if self.inauthor:
            self.save_author("email", value)

    def url(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        value = self.pop("href", self.text(el, depth), depth)
        if self.inauthor:
            self.save_author("href", value)

    def save_author(self, key: str, value: str) -> None:
        """feedparser's `_save_author`. Its `author_detail` may be an earlier author's dict (see
        `sync_author`), which a later name or email then overwrites."""
        context = self.context()
        context.setdefault("author_detail", {})[key] = value
        self.sync_author(context)
        context.setdefault("authors", [{}])[-1][key] = value

    def sync_author(self, context: dict[str, Any]) -> None:
        """feedparser's `_sync_author_detail`: the author string and the last author's name."""
        authors = context.get("authors")
        detail = authors[-1] if authors else {}
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                context["author"] = f"{name} ({email})"
            elif name or email:
                context["author"] = name or email
            return
        author, email = context.get("author"), None
        if not author:
            return
        if match := _EMAIL.search(author):
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author or email:
            context.setdefault("author_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def category(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        value = self.pop("category", self.text(el, depth), depth)
        if not self.in_entry():  # the feed's own categories are not read
            return
        context = self.entry
        _add_tag(context, attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label"))
        if not value:
            return
        tags = context["tags"]
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            _add_tag(context, value, None, None)

    def media_category(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        self.category(el, {"scheme": MEDIA_CATEGORY_SCHEME, **attrs}, depth)

    def published(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        self.date(el, depth, "published")

    def updated(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        self.date(el, depth, "updated")

    def date(self, el: etree._Element, depth: int, kind: str) -> None:
        value = self.pop(kind, self.text(el, depth), depth)
        if self.in_entry():
            self.entry[f"{kind}_parsed"] = parse_date(value)

    def language(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        self.pop("language", self.text(el, depth), depth)

    def enclosure(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if self.in_entry():
            found = {k: v for k, v in _enforce_href(dict(attrs)).items() if k != "rel"}
            self.entry.setdefault("enclosures", []).append(found)
        self.children(el, depth)

    def media_content(self, el: etree._Element, attrs: dict[str, str], depth: int) -> None:
        if self.in_entry():
            self.entry.setdefault("media_content", []).append(attrs)
        self.children(el, depth)


HANDLERS = {
    "rss": _Reader.rss, "feed": _Reader.feed_, "channel": _Reader.channel,
    "item": _Reader.item, "entry": _Reader.item,
    "image": _Reader.image, "textinput": _Reader.textinput, "source": _Reader.source_,
    "title": _Reader.title, "dc_title": _Reader.title, "media_title": _Reader.media_title,
    "link": _Reader.link, "guid": _Reader.guid, "id": _Reader.guid,
    "description": _Reader.description, "dc_description": _Reader.description,
    "media_description": _Reader.description, "summary": _Reader.summary,
    "content": _Reader.content, "content_encoded": _Reader.content_encoded, "fullitem": _Reader.content_encoded,
    "author": _Reader.author, "dc_author": _Reader.author, "dc_creator": _Reader.author,
    "managingeditor": _Reader.author,
    "name": _Reader.name, "email": _Reader.email, "url": _Reader.url, "uri": _Reader.url, "homepage": _Reader.url,
    "category": _Reader.category, "dc_subject": _Reader.category, "keywords": _Reader.category,
    "media_category": _Reader.media_category,
    "pubdate": _Reader.published, "published": _Reader.published, "issued": _Reader.published,
    "dcterms_issued": _Reader.published,
    "updated": _Reader.updated, "modified": _Reader.updated, "lastbuilddate": _Reader.updated,
    "dc_date": _Reader.updated, "dcterms_modified": _Reader.updated,
    "language": _Reader.language, "dc_language": _Reader.language,
    "enclosure": _Reader.enclosure, "media_content": _Reader.media_content,
    "contributor": _Reader.contributor, "dc_contributor": _Reader.dc_contributor,
    **dict.fromkeys((
        "media_thumbnail", "media_group", "media_credit", "media_rating", "media_restriction", "media_license",
        "media_player", "generator", "cloud", "webmaster", "dc_publisher", "created", "dcterms_created",
        "expirationdate", "dcterms_valid", "width", "height", "newlocation", "admin_generatoragent",
        "admin_errorreportsto", "cc_license"), _Reader.walk),
    "creativecommons_license": _Reader.feed_license,
    **dict.fromkeys(("subtitle", "tagline", "rights", "copyright", "dc_rights", "info",
                     "feedburner_browserfriendly"), _Reader.plain_text),
}

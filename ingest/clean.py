"""Cleaning syndicated (mostly WordPress) HTML: safe, litter-free, faithful.

One stage, in this order, with one lxml parse per item (two when it has <noscript>):

1. per-feed regex rewrites on the raw HTML (like WPeMatico's), then WordPress shortcodes left raw
   (`ingest.shortcodes`: `[caption]` → a figure, page-builder and plugin shortcodes removed);
2. `sanitize.normalise` (a permissive nh3 pass) so lxml parses the tree an HTML5 parser builds,
   with unknown tags already unwrapped;
3. structural pass on the lxml tree: drop non-content elements (script, style, forms …),
   keep only allowlisted iframes (YouTube → youtube-nocookie); remove
   selector litter (`ingest.litter`), reading a source link from it first; resolve lazy images
   (largest srcset candidate) and make URLs absolute against the item link / xml:base (the
   first image is noted here); `images: strip`; drop empty wrappers; remove litter lines,
   reading the original article link from syndication footers; peel litter off the tail
   (credits, "[…]", "Continue reading") — pruning wrappers that leaves empty; `strip_links`;
   normalise whitespace;
4. plain text and summary are read from that tree;
5. the serialised tree goes through `ingest.sanitize.sanitize` (nh3 allowlist) — last, alone.

The structural pass works on lxml's own tree (libxml2's HTML parser, the one bs4 would use
with "lxml") rather than a BeautifulSoup tree: building bs4's tree alone costs more than this
whole stage on the real corpus (`python -m bench.clean`).

Filters (`CleanRules.include` / `exclude`): each entry is a case-insensitive keyword or phrase
matched on word boundaries against the title and the clean text; an entry written `/…/` is a
Python regex instead. An `exclude` match wins; a non-empty `include` needs at least one match.
Rewrites use Python regex syntax (`(?i)` for case-insensitive); the replacement may use `\\1`,
`\\g<name>` or PHP-style `$1`.
"""

from __future__ import annotations

import dataclasses
import html as htmlmod
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import lxml.html
from lxml import etree

from feedrelay.items import Item
from ingest import litter as litter_rules
from ingest.sanitize import (
    ALLOWED_TAGS,
    DROPPED_WITH_CONTENT,
    embed_src,
    normalise,
    safe_srcset,
    safe_url,
    sanitize,
    srcset_candidates,
)
from ingest.shortcodes import expand as expand_shortcodes
from ingest.textlines import (
    BLOCK_TAGS,
    Line,
    block_text,
    blocks_in,
    drop_tree,
    last_line,
    last_text_slot,
    lines_of,
    remove_line,
)
from ingest.urls import absolute, strip_tracking


@dataclass
class Rewrite:
    """A regex rewrite (Python syntax; `$1` also accepted) applied to title, content or both."""

    pattern: str
    replace: str
    field: Literal["title", "content", "both"] = "content"


@dataclass
class CleanRules:
    """Per-feed cleaning rules, on top of the built-in litter rules. Invalid ones raise ValueError."""

    remove: list[str] = field(default_factory=list)
    rewrite: list[Rewrite] = field(default_factory=list)
    strip_links: bool = False
    images: Literal["keep", "strip"] = "keep"
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    summary_chars: int = 300

    def __post_init__(self) -> None:
        self.compiled_rewrites  # noqa: B018 - validate eagerly
        self.selector_matcher  # noqa: B018
        self.include_patterns  # noqa: B018
        self.exclude_patterns  # noqa: B018

    @cached_property
    def compiled_rewrites(self) -> list[tuple[re.Pattern[str], str, str]]:
        """(pattern, Python replacement, field) for each rewrite."""
        result = []
        for rewrite in self.rewrite:
            try:
                pattern = re.compile(rewrite.pattern)
            except re.error as exc:
                raise ValueError(f"rewrite pattern {rewrite.pattern!r} is not a valid regex ({exc})") from exc
            replace = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rewrite.replace)
            try:
                pattern.sub(replace, "")
            except (re.error, IndexError) as exc:
                raise ValueError(f"rewrite replacement {rewrite.replace!r} is invalid ({exc})") from exc
            result.append((pattern, replace, rewrite.field))
        return result

    @cached_property
    def selector_matcher(self) -> litter_rules.SelectorMatcher:
        """Built-in litter selectors plus this feed's `remove` selectors."""
        return litter_rules.SelectorMatcher(tuple(self.remove))

    @cached_property
    def include_patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        """Compiled `include` filters."""
        return [(k, _keyword_pattern(k)) for k in self.include]

    @cached_property
    def exclude_patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        """Compiled `exclude` filters."""
        return [(k, _keyword_pattern(k)) for k in self.exclude]


@dataclass
class CleanResult:
    """What cleaning one HTML body yields. `litter` holds "rule: removed text" entries."""

    html: str
    text: str
    summary: str
    image: str | None
    litter: list[str]
    source_link: str | None


DEFAULT_RULES = CleanRules()

_PARSER = etree.HTMLParser(
    encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, default_doctype=False
)
_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff\ufeff\ufffe\uffff]")
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, *range(0x0E, 0x20), 0x7F])  # its ASCII part
_NONCHARACTERS_UTF8 = ("\ufeff".encode(), "\ufffe".encode(), "\uffff".encode())  # the rest, bar surrogates
_SPACE_CHARS = str.maketrans("\t\n\r\f", "    ")
_ASCII_ODD_SPACES = "\t\r\x0b\x0c\x1c\x1d\x1e\x1f"  # ASCII whitespace but space and newline
_BLANK = re.compile(r"[\s\u00a0\u200b-\u200d\u2060\ufeff]*")
_ZERO_WIDTHS = "\u200b\u200c\u200d\u2060\ufeff"  # what _BLANK takes besides whitespace
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_LINK = ("a",)
_CAPTIONS = etree.XPath("//figcaption | //*[contains(@class, 'wp-caption-text')]")
_UNWRAP = "feedrelay-unwrap"
_LAZY_SRC = ("data-lazy-src", "data-src", "data-original", "data-lazy-original", "data-orig-src")
_LAZY_SRCSET = ("data-lazy-srcset", "data-srcset")
_PLACEHOLDER = re.compile(r"^data:|lazy|placeholder|blank\.gif|spacer\.gif|pixel\.gif|grey\.gif|1x1", re.I)
_PLACEHOLDER_WORDS = ("lazy", "placeholder", "blank.gif", "spacer.gif", "pixel.gif", "grey.gif", "1x1")  # the same
_URL_ATTRS = {
    "a": ("href",), "img": ("src",), "source": ("src",), "video": ("src", "poster"), "audio": ("src",),
    "track": ("src",), "blockquote": ("cite",), "q": ("cite",), "del": ("cite",), "ins": ("cite",),
}
_MEDIA_AND_LINKS = frozenset(_URL_ATTRS)
_NON_CONTENT = tuple(DROPPED_WITH_CONTENT - {"noscript"})
_DROP_IF_EMPTY = frozenset({
    "p", "div", "span", "section", "article", "header", "footer", "aside", "main", "nav", "hgroup", "figure", "figcaption", "blockquote", "strong", "b", "em", "i", "u", "s",
    "small", "big", "font", "center", "h1", "h2", "h3", "h4", "h5", "h6", "a", "sup", "sub", "mark",
    "label", "picture", "ul", "ol", "li", "dl", "dt", "dd", "code", "cite", "q", "abbr", "time",
    "ins", "del", "strike", "tt",
})
_PRE_TAGS = frozenset({"pre", "textarea", "xmp", "listing", "plaintext"})


def clean_html(html: str, *, base_url: str | None = None, rules: CleanRules | None = None) -> CleanResult:
    """Clean one item's raw HTML body; see the module docstring for the order of the passes."""
    rules = rules or DEFAULT_RULES
    for pattern, replace, target in rules.compiled_rewrites:
        if target != "title":
            html = pattern.sub(replace, html)
    html, found = expand_shortcodes(html)
    body, normal = _parse(html)
    # Only raw text (an HTML5 parser's view of <iframe>/<noscript> insides) can hold markup of
    # elements `normalise` drops, e.g. a <script> that lxml then reads as an element.
    raw_text = "<iframe" in normal or "<noscript" in normal
    litter, media = _survey(body, rules.selector_matcher, base_url, raw_text)
    litter_source = _remove_elements(body, litter, base_url, found)
    image = _fix_media_and_links(body, media, base_url, check_attached=bool(litter))
    if rules.images == "strip":
        _strip_images(body)
    _drop_empty(body)
    line_source = tail_source = None
    triggers = litter_rules.LINE_TRIGGERS
    lowered = block_text(body).lower() if triggers is not None else ""
    scan_all = triggers is None or _holds_any(lowered, triggers)
    captions = "<figcaption" in normal or "wp-caption-text" in normal  # else _CAPTIONS finds none
    fragments = _present(lowered, litter_rules.ANYWHERE_FRAGMENTS) if scan_all else None
    tail_changed = True
    changed: set[etree._Element] | None = None  # blocks whose lines changed since the last line pass
    for _ in range(5):  # a trimmed tail can turn what is left of a line into litter
        before = len(found)  # (every change to the tree is noted in `found`)
        only, changed = changed, set()
        if scan_all or captions:
            line_source = _remove_lines(body, base_url, found, scan_all, fragments, only, changed) or line_source
        if len(found) == before and not tail_changed:
            break  # the tree is as the last _trim_tail left it: it would find nothing again
        lines_done = len(found)
        tail_source = _trim_tail(body, base_url, found, changed) or tail_source
        tail_changed = len(found) != lines_done
        if len(found) == before:
            break
    source_link = line_source or tail_source or litter_source
    if rules.strip_links:
        etree.strip_tags(body, "a")
    _normalise_whitespace(body)
    text = _plain_text(body)
    return CleanResult(
        html=sanitize(_serialise(body)).strip(),
        text=text,
        summary=summarize(text, rules.summary_chars),
        image=image,
        litter=found,
        source_link=source_link,
    )


def clean_item(item: Item, rules: CleanRules | None = None) -> Item:
    """A copy of `item` with its title rewritten/unescaped and its raw `content_html` cleaned.

    Fills content_html, text, summary, litter, source_link and image (the feed's own image,
    e.g. media:thumbnail, wins over the first content image). An empty body falls back to the
    raw `summary` (an RSS description). Other fields are left as they are.
    """
    rules = rules or DEFAULT_RULES
    title = item.title or ""
    for pattern, replace, target in rules.compiled_rewrites:
        if target != "content":
            title = pattern.sub(replace, title)
    content = item.content_html
    raw = content if content and not content.isspace() else item.summary  # = content.strip(), no copy
    result = clean_html(raw or "", base_url=item.base or item.link, rules=rules)
    return dataclasses.replace(
        item,
        title=clean_title(title),
        content_html=result.html,
        text=result.text,
        summary=result.summary,
        image=item.image or result.image,
        litter=result.litter,
        source_link=result.source_link or item.source_link,
    )


def clean_title(title: str) -> str:
    """A title as plain text: tags removed, entities (even double-escaped ones) decoded."""
    if "<" in title and re.search(r"<[a-zA-Z/!]", title):
        title = lxml.html.fromstring(f"<div>{title}</div>").text_content() if title.strip() else ""
    for _ in range(2):
        if "&" not in title:
            break
        title = htmlmod.unescape(title)
    return " ".join(_INVALID_CHARS.sub("", title).split())


def filter_reason(item: Item, rules: CleanRules | None) -> str | None:
    """None when the item passes the feed's include/exclude filters, else why it was filtered."""
    if rules is None or not (rules.include or rules.exclude):
        return None
    haystack = f"{item.title}\n{item.text or item.summary}"
    for keyword, pattern in rules.exclude_patterns:
        if pattern.search(haystack):
            return f"exclude: {keyword!r}"
    if rules.include and not any(p.search(haystack) for _, p in rules.include_patterns):
        return "include: no match"
    return None


def summarize(text: str, limit: int) -> str:
    """The first `limit` characters of `text` on a word boundary, with "…" when cut."""
    head = text[: limit * 3 + 100]
    flat = head.replace("\n", " ")
    # = " ".join(head.split()); plain text (single spaces, one line per line) needs no split
    flat = " ".join(head.split()) if "  " in flat or not flat.isprintable() else flat.strip(" ")
    if len(flat) <= limit:
        return flat
    cut = flat[: limit + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > limit // 2 else flat[:limit]
    return cut.rstrip(" ,;:.-–—…") + "…"


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    if len(keyword) > 2 and keyword.startswith("/") and keyword.endswith("/"):
        try:
            return re.compile(keyword[1:-1], re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"filter {keyword!r} is not a valid regex ({exc})") from exc
    if not keyword.strip():
        raise ValueError("empty filter keyword")
    words = r"\s+".join(re.escape(w) for w in keyword.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


def _parse(html: str) -> tuple[etree._Element, str]:
    """The body element of `html`, read as an HTML5 parser reads a body fragment, and the
    normalised HTML that lxml read it from (every element, class and attribute value in the
    tree is written out in it as such, bar `&`, `"` and no-break spaces).

    <noscript> content (raw text to an HTML5 parser, markup to lxml) is settled first: dropped
    after the lazy image it duplicates, else unwrapped (a gist's code, an image fallback); the
    result is read again so the tree stays what an HTML5 parser would build."""
    normal = normalise(_without_invalid_chars(html))
    body = _lxml_body(normal)
    noscripts = list(body.iter("noscript")) if "<noscript" in normal else []
    if noscripts:
        for element in noscripts:
            previous = element.getprevious()
            lazy = previous is not None and previous.tag == "img" and element.find(".//img") is not None
            element.tag = "del-noscript" if lazy else _UNWRAP
        etree.strip_elements(body, "del-noscript", with_tail=False)
        etree.strip_tags(body, _UNWRAP)
        normal = normalise(_serialise(body))
        body = _lxml_body(normal)
    return body, normal


def _without_invalid_chars(html: str) -> str:
    """`html` without the characters `_INVALID_CHARS` matches (bytes.translate for Latin-1 text)."""
    if html.isascii():
        return html.encode("ascii").translate(None, _CONTROL_BYTES).decode("ascii")
    try:  # the rest of _INVALID_CHARS lies above U+00FF
        return html.encode("latin-1").translate(None, _CONTROL_BYTES).decode("latin-1")
    except UnicodeEncodeError:
        return _INVALID_CHARS.sub("", html)


def _lxml_body(html: str) -> etree._Element:
    """The <body> lxml reads from `html`, an output of `normalise` (so no lone surrogates)."""
    data = html.encode("utf-8")
    if b"\x0c" in data:
        data = data.replace(b"\x0c", b" ")
    # character references can yield invalid characters: drop them as _INVALID_CHARS would
    data = data.translate(None, _CONTROL_BYTES)
    if not html.isascii():
        for sequence in _NONCHARACTERS_UTF8:
            if sequence in data:
                data = data.replace(sequence, b"")
    root = etree.fromstring(b"<html><body>" + data, _PARSER)
    body = root[0] if len(root) and root[0].tag == "body" else root.find("body")
    for extra in root:
        if extra is not body:
            root.remove(extra)
    return body


def _serialise(body: etree._Element) -> str:
    return etree.tostring(body, encoding=str, method="html")[6:-7]  # <body>…</body>


def _survey(body: etree._Element, matcher: litter_rules.SelectorMatcher, base: str | None,
            raw_text: bool = True) -> tuple[list[tuple[etree._Element, str]], list[etree._Element]]:
    """One walk over the tree: drop never-content elements (script, style, forms …) with their
    insides (only `raw_text` can hold them), settle iframes (allowlisted embed or litter);
    return the litter matches and the media/link elements."""
    if raw_text:
        etree.strip_elements(body, *_NON_CONTENT, with_tail=False)
    # Nestings an HTML5 tree can hold (via an unknown wrapper) but its serialisation can't keep.
    nested = [inner for outer in body.iter("a", *_HEADINGS) if len(outer)
              for inner in outer.iterdescendants(*(_LINK if outer.tag == "a" else _HEADINGS))]
    for element in nested:
        element.tag = _UNWRAP
    if nested:
        etree.strip_tags(body, _UNWRAP)
    litter = matcher.complex_matches(body)
    matched = {element for element, _name in litter}
    media: list[etree._Element] = []
    match, attributes = matcher.match, matcher.attributes
    unwrap = False
    for element in body.iterdescendants(etree.Element):
        tag = element.tag
        name = match(element) if attributes is None or not attributes.isdisjoint(element.keys()) else None
        if name is None and tag == "iframe" and not _settle_iframe(element, base):
            name = "blocked-iframe"
        if name:
            if element not in matched and not any(a in matched for a in element.iterancestors()):
                litter.append((element, name))
            matched.add(element)
            continue  # it goes; don't rename or unwrap it
        if tag in _MEDIA_AND_LINKS:
            media.append(element)
        elif tag not in ALLOWED_TAGS:  # `normalise` let nothing else through; belt and braces
            element.tag = _UNWRAP
            unwrap = True
    if unwrap:
        etree.strip_tags(body, _UNWRAP)
    return litter, media


def _settle_iframe(element: etree._Element, base: str | None) -> bool:
    """Keep an allowlisted embed (https, YouTube → youtube-nocookie, few attributes, no inner
    content); False when the iframe has to go."""
    src = embed_src(_absolute(element.get("src") or element.get("data-src") or "", base))
    if src is None:
        return False
    for name in list(element.attrib):
        if name not in ("width", "height", "allowfullscreen", "title"):
            del element.attrib[name]
    element.set("src", src)
    element.text = None
    for child in list(element):
        element.remove(child)
    return True


def _remove_elements(body: etree._Element, litter: list[tuple[etree._Element, str]], base: str | None,
                     found: list[str]) -> str | None:
    """Remove selector litter, noting it in `found`; return a source link read from it first."""
    source = None
    for element, name in litter:
        if _attached(element, body):
            source = source or _source_in(element, base)
            if name in litter_rules.WHOLE_LINE_RULES and _remove_enclosing_line(element, name, found):
                continue
            description = litter_rules.describe(element)
            if name == "blocked-iframe" or description != f"<{element.tag}>":  # skip emptied husks
                found.append(f"{name}: {description}")
            drop_tree(element)
    return source


def _remove_enclosing_line(element: etree._Element, name: str, found: list[str]) -> bool:
    """Remove the short line that inline `element` sits in; False if it is not short."""
    top = element
    for ancestor in element.iterancestors():
        if ancestor.tag in BLOCK_TAGS:
            for line in lines_of(ancestor):
                if top in line.nodes and len(line.text) <= litter_rules.SHORT_LINE:
                    found.append(f"{name}: {line.text}")
                    _cut_line(line, element.getroottree().getroot())
                    return True
            return False
        top = ancestor
    return False


def _source_in(element: etree._Element, base: str | None) -> str | None:
    fragments = _present(block_text(element), litter_rules.SOURCE_FRAGMENTS)
    if fragments == ():
        return None
    for container in [element, *blocks_in(element)]:
        if not _may_hold(container, fragments):
            continue
        for line in lines_of(container):
            for rule in litter_rules.SOURCE_RULES:
                if (line.has_link or not rule.needs_link) and rule.pattern.fullmatch(line.text):  # type: ignore[union-attr]
                    link = _line_link(line, base)
                    if link:
                        return link
    return None


def _attached(element: etree._Element, body: etree._Element) -> bool:
    return any(a is body for a in element.iterancestors("body"))  # lxml skips the others


def _remove_lines(body: etree._Element, base: str | None, found: list[str], scan_all: bool,
                  fragments: tuple[str, ...] | None = None, only: set[etree._Element] | None = None,
                  changed: set[etree._Element] | None = None) -> str | None:
    """Remove whole lines matching "anywhere"/"caption" line rules; return a source link.
    Without `scan_all` (no rule's trigger word is in the text) only captions are looked at;
    with it, blocks other than captions only if they may hold one of `fragments` (`_present`
    in the text before any line was removed: removing lines never joins text into a new one).
    `only`: the blocks whose lines changed since an earlier pass (the others' lines did not
    match then and are the same now); what this pass changes goes into `changed`."""
    source = None
    containers = _line_containers(body) if scan_all else _CAPTIONS(body)
    if only is not None:
        containers = [container for container in containers if container in only]
    for container in containers:
        in_caption = container.tag == "figcaption" or "wp-caption-text" in (container.get("class") or "")
        if not in_caption and fragments is not None:  # only "anywhere" rules apply: see _may_hold
            text = block_text(container)
            if text.isascii() and not _holds_any(text.lower(), fragments):
                continue
        for line in lines_of(container):
            if len(line.text) > litter_rules.MAX_LINE:
                continue
            rule = _match_line(line, in_caption, tail=False)
            if rule:
                source = source or (_line_link(line, base) if rule.gives_source else None)
                found.append(f"{rule.name}: {line.text}")
                _cut_line(line, body, changed)
    return source


def _line_containers(body: etree._Element) -> list[etree._Element]:
    """Every element whose own inline runs form lines: the body, blocks, and inline elements
    that wrap a block (`<a>credit<p>…</p></a>`: "credit" is a line of the <a>)."""
    blocks = blocks_in(body)
    wrappers: dict[etree._Element, None] = {}
    for block in blocks:
        parent = block.getparent()
        while parent is not None and parent.tag not in BLOCK_TAGS and parent not in wrappers:
            wrappers[parent] = None
            parent = parent.getparent()
    return [body, *blocks, *wrappers]


def _present(text: str, fragments: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The `fragments` (see `litter._fragments`) in `text`, lower-cased; None (don't know) when
    there are none to look for or `text` is not ASCII."""
    if fragments is None or not text.isascii():
        return None
    lowered = text.lower()
    return tuple(fragment for fragment in fragments if fragment in lowered)


def _may_hold(container: etree._Element, fragments: tuple[str, ...] | None) -> bool:
    """False when `container`'s text is ASCII and holds none of `fragments`: then none of its
    lines can match the rules they come from."""
    if fragments is None:
        return True
    text = block_text(container)
    if not text.isascii():
        return True
    return _holds_any(text.lower(), fragments)


def _holds_any(text: str, needles: tuple[str, ...]) -> bool:
    """Whether `text` holds one of `needles` (a loop: cheaper than any() over a generator)."""
    for needle in needles:  # noqa: SIM110
        if needle in text:
            return True
    return False


def _match_line(line: Line, in_caption: bool, tail: bool) -> litter_rules.LitterRule | None:
    text = line.text
    lowered = text.lower() if text.isascii() else None  # where rule triggers tell
    for rule in litter_rules.LINE_RULES:
        if rule.where == "caption" and not in_caption:
            continue
        if rule.where == "tail" and not tail:
            continue
        if rule.needs_link and not line.has_link:
            continue
        if rule.trigger:
            haystack = text if rule.caseless else lowered
            if haystack is not None and not _holds_any(haystack, rule.trigger):
                continue
        if rule.pattern is not None and rule.pattern.fullmatch(text):
            return rule
    return None


def _line_link(line: Line, base: str | None) -> str | None:
    for node in line.nodes:
        links = [node] if node.tag == "a" else node.iter("a")
        for link in links:
            url = absolute(link.get("href"), base)
            if url and url.lower().startswith(("http://", "https://")):
                return strip_tracking(url)
    return None


def _trim_tail(body: etree._Element, base: str | None, found: list[str],
               changed: set[etree._Element] | None = None) -> str | None:
    """Peel litter off the end of the content until its last line is article text; the blocks
    whose lines that changes go into `changed`."""
    source = None
    for _ in range(20):
        line = last_line(body)
        if line is None:
            return source
        rule = _match_line(line, in_caption=False, tail=True) if len(line.text) <= litter_rules.MAX_LINE else None
        if rule:
            source = source or (_line_link(line, base) if rule.gives_source else None)
            found.append(f"{rule.name}: {line.text}")
            if not _cut_line(line, body, changed):
                return source
        elif not _trim_suffix(body, found, changed):
            return source
    return source


def _trim_suffix(body: etree._Element, found: list[str], changed: set[etree._Element] | None = None) -> bool:
    """Apply the first suffix rule that matches the content's last text; True if one did."""
    slot = last_text_slot(body)
    if slot is None:
        return False
    element, attr, link = slot
    link_text = " ".join(block_text(link).split()) if link is not None else ""
    value = getattr(element, attr) or ""
    offset = max(0, len(value) - 300)  # suffixes are short; don't regex-scan whole paragraphs
    region = value[offset:]
    ascii_region = region.lower() if region.isascii() else None  # where rule triggers tell
    for rule in litter_rules.SUFFIX_RULES:
        assert rule.pattern is not None
        if link is not None and rule.pattern.fullmatch(link_text):
            found.append(f"{rule.name}: {link_text}")
            parent = link.getparent()
            _note_change(parent, changed)
            _replace_with_text(link, rule.replace)
            _prune(parent, body)
            return True
        if rule.trigger:
            haystack = region if rule.caseless else ascii_region
            if haystack is not None and not _holds_any(haystack, rule.trigger):
                continue
        match = rule.pattern.search(value, offset)
        if match:
            found.append(f"{rule.name}: {match.group(0).strip()}")
            _note_change(element, changed)
            setattr(element, attr, value[: match.start()].rstrip() + rule.replace)
            _prune(element if attr == "text" else element.getparent(), body)
            return True
    return False


def _cut_line(line: Line, body: etree._Element, changed: set[etree._Element] | None = None) -> bool:
    """Remove a litter line and any wrappers it leaves empty; True if its text is gone."""
    _note_change(line.container, changed)
    gone = remove_line(line)
    _prune(line.container, body)
    return gone


def _note_change(element: etree._Element | None, changed: set[etree._Element] | None) -> None:
    """Note in `changed` the blocks whose lines a change at `element` can alter: it and its
    ancestors (pruning only goes up, a tail belongs to the parent's line)."""
    if changed is not None and element is not None:
        changed.add(element)
        changed.update(element.iterancestors())


def _prune(element: etree._Element | None, body: etree._Element) -> None:
    """Drop trailing <br>s, then `element`, while it is an empty wrapper; repeat upwards."""
    while element is not None:
        if element.tag in BLOCK_TAGS:
            while len(element) and element[-1].tag == "br" and _blank(element[-1].tail):
                element.remove(element[-1])
        if element is body or element.tag not in _DROP_IF_EMPTY:
            return
        if not _blank(block_text(element)) or any(
            d.tag not in _DROP_IF_EMPTY and d.tag != "br" for d in element.iterdescendants()
        ):
            return
        parent = element.getparent()
        drop_tree(element)
        element = parent


def _replace_with_text(element: etree._Element, text: str) -> None:
    """Remove `element`, leaving `text` (glued to the text before it) and its tail in its place."""
    if text:
        previous, parent = element.getprevious(), element.getparent()
        if previous is not None:
            previous.tail = (previous.tail or "").rstrip()
        elif parent is not None:
            parent.text = (parent.text or "").rstrip()
        element.tail = text + (element.tail or "")
    drop_tree(element)


def _fix_media_and_links(body: etree._Element, media: list[etree._Element], base: str | None,
                         check_attached: bool = True) -> str | None:
    """Lazy images, absolute and safe URLs; return the first image URL. `check_attached`: some
    media may have gone with removed litter."""
    first_image = None
    for element in media:
        if check_attached and not _attached(element, body):
            continue
        tag = element.tag
        if tag in ("img", "source"):
            _resolve_lazy(element)
            srcset = element.get("srcset")
            if srcset is not None:
                resolved = safe_srcset(", ".join(
                    f"{_absolute(url, base)} {descriptor}".strip() for url, descriptor in srcset_candidates(srcset)
                ))
                if resolved:
                    if resolved != srcset:
                        element.set("srcset", resolved)
                else:
                    del element.attrib["srcset"]
        for name in _URL_ATTRS[tag]:
            value = element.get(name)
            if value is not None:
                url = safe_url(_absolute(value, base))
                if url is None:
                    del element.attrib[name]
                elif url != value:
                    element.set(name, url)
        if tag == "img":
            src = element.get("src")
            if not src:
                drop_tree(element)
            elif first_image is None and src.startswith(("http://", "https://")):
                first_image = src
    return first_image


def _absolute(url: str, base: str | None) -> str:
    url = url.strip()
    if not base or url.startswith(("http://", "https://", "mailto:")):
        return url
    return absolute(url, base) or ""


def _resolve_lazy(element: etree._Element) -> None:
    """Move a lazy-loaded image's real URL into src/srcset; a placeholder src gets the largest
    srcset candidate, and a data: placeholder with nothing better goes."""
    attrib = element.attrib
    for name in _LAZY_SRCSET:
        if attrib.get(name, "").strip():
            attrib["srcset"] = attrib[name]
            break
    for name in _LAZY_SRC:
        if attrib.get(name, "").strip():
            attrib["src"] = attrib[name]
            break
    else:
        src = attrib.get("src", "").strip()
        if attrib.get("srcset") and (not src or _placeholder(src)):
            largest = _largest_candidate(attrib["srcset"])
            if largest:
                attrib["src"] = largest
    if element.tag == "img" and attrib.get("src", "").lstrip()[:5].lower() == "data:":
        del attrib["src"]


def _placeholder(src: str) -> bool:
    """Whether `src` looks like a lazy-loading placeholder (`_PLACEHOLDER`)."""
    if not src.isascii():
        return _PLACEHOLDER.search(src) is not None
    lowered = src.lower()  # for ASCII text, what the case-insensitive regex compares
    return lowered.startswith("data:") or _holds_any(lowered, _PLACEHOLDER_WORDS)


def _largest_candidate(srcset: str) -> str | None:
    best, best_size = None, -1.0
    for index, (url, descriptor) in enumerate(srcset_candidates(srcset)):
        size = index / 1000  # no usable descriptor: the later candidate wins
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([wx])", descriptor.strip().lower())
        if match:
            size = float(match.group(1)) * (1 if match.group(2) == "w" else 1000)
        if size > best_size:
            best, best_size = url, size
    return best


def _strip_images(body: etree._Element) -> None:
    """`images: strip`: remove images, and figures that hold one (with their captions)."""
    for figure in list(body.iter("figure")):
        if figure.find(".//img") is not None and _attached(figure, body):
            drop_tree(figure)
    for element in list(body.iter("img", "picture")):
        if _attached(element, body):
            drop_tree(element)


def _drop_empty(body: etree._Element) -> None:
    """Remove trailing <br>s in blocks, then wrappers left with no text and no media (children
    are visited before parents). An empty inline element leaves its whitespace behind:
    `a<span> </span>b` keeps its space."""
    for element in reversed(list(body.iterdescendants())):
        tag = element.tag
        if tag in BLOCK_TAGS:
            while len(element) and element[-1].tag == "br" and _blank(element[-1].tail):
                element.remove(element[-1])
        # Children come first, so any child still here has content: only a childless one can go.
        if tag not in _DROP_IF_EMPTY or len(element):
            continue
        text = element.text
        if text and not _blank(text):
            continue
        if text and tag not in BLOCK_TAGS:
            element.tail = text + (element.tail or "")
        drop_tree(element)
    while len(body) and body[-1].tag == "br" and _blank(body[-1].tail):
        body.remove(body[-1])


def _normalise_whitespace(body: etree._Element) -> None:
    """Collapse whitespace runs outside <pre>, trim it at block edges, one newline around
    blocks and after a <br> (parents before children, siblings in order). Each text is worked
    out first and written back once, if it changed; a tail waits for the next sibling."""
    text = body.text
    if text:
        body.text = _collapse(text).lstrip() or None
    parents = [body]
    while parents:
        parent = parents.pop()
        parent_is_block = parent.tag in BLOCK_TAGS
        last = len(parent) - 1
        previous = previous_tail = old_tail = None
        for index, element in enumerate(parent):
            tag = element.tag
            pre = tag in _PRE_TAGS  # its own tail is collapsed, nothing inside it is touched
            text = old_text = element.text
            tail = element.tail
            if text and not pre and ("\n" in text or "  " in text or "\t" in text or "\r" in text):
                text = _collapse(text)
            block = tag in BLOCK_TAGS
            if block:
                if previous is None:
                    before = parent.text
                    trimmed = (before or "").rstrip(" \n")
                    trimmed = trimmed + "\n" if trimmed else None
                    if trimmed != before:
                        parent.text = trimmed
                else:
                    previous_tail = (previous_tail or "").rstrip(" \n") + "\n"
                if not pre:
                    if text and text[0] == " ":
                        text = text.lstrip(" ") or None
                    if text and not len(element):
                        text = text.rstrip(" ") or None
            if previous is not None and previous_tail != old_tail:
                previous.tail = previous_tail
            if text != old_text:
                element.text = text
            old_tail = tail
            if block or tag == "br":
                if not tail or not tail.strip(" \t\n\r"):  # what collapsing and lstrip leave nothing of
                    tail = "\n"
                else:
                    if "\n" in tail or "  " in tail or "\t" in tail or "\r" in tail:
                        tail = _collapse(tail)
                    tail = "\n" + tail.lstrip(" \n")
            elif tail and ("\n" in tail or "  " in tail or "\t" in tail or "\r" in tail):
                tail = _collapse(tail)
            if tail and parent_is_block and index == last:
                tail = tail.rstrip(" \n") or None
            if not pre and len(element):
                parents.append(element)
            previous, previous_tail = element, tail
        if previous is not None and previous_tail != old_tail:
            previous.tail = previous_tail


def _collapse(text: str) -> str:
    """`text` with each run of [ \\t\\n\\r\\f] made one space (str methods beat a regex here)."""
    if "\t" in text or "\r" in text or "\f" in text:
        text = text.translate(_SPACE_CHARS)
    elif "\n" in text:
        text = text.replace("\n", " ")
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def _blank(text: str | None) -> bool:
    """Whether `text` is empty or only whitespace and zero-width characters (`_BLANK`)."""
    if not text or text.isspace():
        return True
    if text.isascii() or not (text[0].isspace() or text[0] in _ZERO_WIDTHS):
        return False  # it starts with (ASCII: it holds) a character _BLANK does not match
    return _BLANK.fullmatch(text) is not None


def _plain_text(body: etree._Element) -> str:
    """Plain text, one line per block or <br> (the whitespace pass put newlines there)."""
    text = block_text(body)
    lines = []
    # only a line holding other whitespace than single spaces needs the split and join
    if text.isascii():  # then that is "  " or one of these
        odd = any(c in text for c in _ASCII_ODD_SPACES)
        for line in text.split("\n"):
            tidy = " ".join(line.split()) if odd or "  " in line else line.strip(" ")
            if tidy:
                lines.append(tidy)
    else:
        for line in text.split("\n"):
            tidy = " ".join(line.split()) if "  " in line or not line.isprintable() else line.strip(" ")
            if tidy:
                lines.append(tidy)
    return "\n".join(lines)

"""Litter rules as data: what auto-post plugins, share widgets and feed services add to a post.

Each `LitterRule` is one of three kinds:

- `selector`: a CSS selector; matching elements are removed wherever they are (with
  `whole_line`, an inline match takes its whole line along when that line is short: the
  "Powered by" in front of a WPeMatico link).
- `line`: a regex that must match a whole *line* of text (a block such as a paragraph or
  caption, or a run of text between `<br>`s), case-insensitively, whitespace collapsed. The line
  is removed. `where` limits it: "anywhere", "tail" (only the content's last line, checked
  again after every removal so stacked litter peels off), or "caption" (figcaption /
  `.wp-caption-text`). `needs_link` requires a link in the line; `gives_source` makes the line's
  first http(s) link the item's `source_link`.
- `suffix`: a regex searched at the very end of the content (the last text, or the text of a
  trailing link); the match is replaced by `replace`.

A line or suffix rule's `trigger` lists lower-case substrings one of which every match made of
ASCII text holds (tests/test_litter_triggers.py checks it): the cleaner skips the regex on
ASCII text holding none of them (any text, for triggers without letters), and skips the
whole-document line scan when the text holds no trigger of an "anywhere" rule. A suffix rule's
`first` lists the characters its matches start with (case-insensitively), for a faster search.

`sample` is real-looking HTML containing the litter, `keep` a piece of it that must survive;
tests run every sample through the cleaner. Per-feed `remove:` selectors are added as
selector rules named `feed-remove`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import cssselect
from cssselect import ExpressionError, HTMLTranslator, SelectorError
from lxml import etree

Where = Literal["anywhere", "tail", "caption"]


@dataclass(frozen=True, slots=True)
class LitterRule:
    """One named piece of litter, how to find it, and a sample of it."""

    name: str
    sample: str
    keep: str = ""
    selector: str = ""
    line: str = ""
    where: Where = "anywhere"
    needs_link: bool = False
    gives_source: bool = False
    trigger: tuple[str, ...] = ()
    whole_line: bool = False
    suffix: str = ""
    replace: str = ""
    first: str = ""
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    caseless: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if sum(bool(x) for x in (self.selector, self.line, self.suffix)) != 1:
            raise ValueError(f"litter rule {self.name!r}: give exactly one of selector, line, suffix")
        if self.line:
            object.__setattr__(self, "pattern", re.compile(self.line, re.IGNORECASE | re.DOTALL))
        elif self.suffix:
            # `first` (the characters a match can start with) lets the search skip other positions
            # at one check instead of trying every alternative of the pattern there.
            ahead = f"(?=[{self.first}])" if self.first else ""
            object.__setattr__(self, "pattern", re.compile(rf"{ahead}(?:{self.suffix})\s*$", re.IGNORECASE))
        # triggers without letters hold in any text, not only ASCII
        object.__setattr__(self, "caseless", bool(self.trigger) and not any(
            c.isalpha() for t in self.trigger for c in t))


ARTICLE = "<p>The council approved the new budget on Tuesday after a long debate.</p>"
KEEP = "The council approved the new budget on Tuesday after a long debate."

_MORE = (
    r"(?:continue reading|read more|read the rest(?: of (?:this|the) (?:entry|post|article|story))?"
    r"|keep reading|read (?:the )?full (?:article|story|post)|weiterlesen|mehr lesen|lire la suite"
    r"|leer m[aá]s|seguir leyendo|continua(?:re)? (?:a )?leggere|leggi (?:tutto|di pi[uù])"
    r"|czytaj (?:dalej|wi[eę]cej)|читать (?:далее|дальше)|läs mer|lees (?:meer|verder)"
    r"|ler mais|continuar lendo|devam[ıi]n[ıi] oku|続きを読む)"
)
# Every ASCII text `_MORE` matches holds one of these, lower-cased (the non-ASCII phrases aside).
_MORE_TRIGGERS = ("read", "lesen", "suite", "leer m", "leyendo", "legg", "czytaj ", "lees ", "ler mais", "lendo",
                  "oku")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".bmp", ".tif", ".heic")
# Possessive (`*+`): a run of punctuation splits into 1-3 character pieces in exponentially many
# ways, and backtracking through them when the text goes on ("Read more !!!!…!! x") took seconds
# per line; giving back part of the decoration can never let what follows it match.
_DECOR = r"(?:\s*(?:[\"“”„«»'‘’][^\"“”„«»'‘’]{0,150}[\"“”„«»'‘’]|[^\w\s]{1,3}))*+"

RULES: tuple[LitterRule, ...] = (
    # --- WPeMatico ---------------------------------------------------------------------------
    LitterRule(
        "wpematico-credit",
        selector=".wpematico_credit",
        sample=ARTICLE + '<p class="wpematico_credit"><small>Powered by <a href="http://www.wpematico.com" '
        'target="_blank">WPeMatico</a></small></p>',
        keep=KEEP,
    ),
    LitterRule(
        "wpematico-credit-text",
        line=r".{0,40}\bwpematico\b.{0,40}",
        trigger=("wpematico",),
        sample=ARTICLE + "<p><small>Powered by WPeMatico</small></p><p>Source: the wire.</p>",
        keep="Source: the wire.",
    ),
    LitterRule(
        "wpematico-link",
        selector='a[href*="wpematico.com"]',
        whole_line=True,
        sample=ARTICLE + '<p><small>Brought to you by <a href="https://www.wpematico.com/">the robots</a>'
        "</small></p><p>The council approved it, as "
        '<a href="https://www.wpematico.com/">this plugin</a> likes to say in a long line of text that '
        "goes on and on about the budget, the debate and the vote.</p>",
        keep="as likes to say in a long line of text",
    ),
    # --- stray image-file-name lines ----------------------------------------------------------
    LitterRule(
        "image-filename-line",
        line=r"(?:\S+\s+){0,11}\S*\.(?:jpe?g|png|gif|webp|avif|bmp|tiff?|heic)",
        where="tail",
        trigger=_IMAGE_EXTENSIONS,
        sample=ARTICLE + "<p>Лукашенко и Лавров.jpg</p>",
        keep=KEEP,
    ),
    LitterRule(
        "image-filename-caption",
        line=r"(?:\S+\s+){0,11}\S*\.(?:jpe?g|png|gif|webp|avif|bmp|tiff?|heic)",
        where="caption",
        trigger=_IMAGE_EXTENSIONS,
        sample='<figure class="wp-caption"><img src="https://example.com/wp-content/uploads/2020/06/'
        'IMG_2041.jpg" alt="Minsk"><figcaption class="wp-caption-text">IMG_2041.JPG</figcaption>'
        "</figure>" + ARTICLE,
        keep=KEEP,
    ),
    # --- syndication footers (they carry the original article's URL) --------------------------
    LitterRule(
        "yoast-appeared-first",
        line=r"(?:the post .+ appeared first on"
        r"|der beitrag .+ erschien zuerst auf"
        r"|l[’']article .+ est apparu en premier sur"
        r"|la entrada .+ (?:se public[oó] primero en|aparece primero en)"
        r"|l[’']articolo .+ (?:proviene da|sembra essere il primo su)"
        r"|het bericht .+ verscheen eerst op"
        r"|(?:o post|a postagem) .+ apareceu primeiro em"
        r"|(?:wpis|artyku[lł]) .+ (?:pochodzi z serwisu|pojawi[lł] si[eę] (?:poprzednio|najpierw) (?:w|na))"
        r"|(?:запись|сообщение|пост|публикация) .+ (?:впервые появил[аи]?сь|появил[аи]?сь сначала) на"
        r"|inlägget .+ dök först upp på"
        r") .{1,200}",
        trigger=("appeared first", "erschien zuerst", "apparu en premier", "primero en", "proviene da",
                 "il primo su", "verscheen eerst", "apareceu primeiro", "pochodzi z", "pojawił si",
                 "pojawil si", "появил", "dök först"),
        gives_source=True,
        sample=ARTICLE + '<p>The post <a href="https://www.chesterton.org/cheese/">Cheese</a> appeared '
        'first on <a href="https://www.chesterton.org">Society of Gilbert Keith Chesterton</a>.</p>',
        keep=KEEP,
    ),
    LitterRule(
        "source-credit",
        line=r"(?:source|sources|via|quelle|fuente|fonte|source originale|источник|джерело|[zź]r[oó]d[lł]o"
        r"|bron|kilde|k[aä]lla|kaynak)\s*:\s*.{1,200}",
        trigger=("source", "via", "quelle", "fuente", "fonte", "zrodlo", "bron", "kilde", "kalla", "kaynak"),
        where="tail",
        needs_link=True,
        gives_source=True,
        sample=ARTICLE + '<p>Source: <a href="https://news.example.org/2020/06/lavrov-minsk/">Example '
        "News</a></p>",
        keep=KEEP,
    ),
    LitterRule(
        "original-article-link",
        line=r"(?:read (?:the )?(?:original|full) (?:article|story|post)|read more at"
        r"|(?:originally|first) (?:published|posted|appeared) (?:at|on|in)"
        r"|this (?:article|post|story) (?:was )?(?:originally|first) (?:published|appeared) (?:at|on|in)"
        r"|the original (?:article|post) (?:is )?(?:at|on|here)|original(?:e)? (?:article|artikel|post)"
        r"|artículo original|articolo originale|оригинал статьи).{0,200}",
        trigger=("read", "published", "posted", "appeared", "original"),
        where="tail",
        needs_link=True,
        gives_source=True,
        sample=ARTICLE + '<p><a href="https://news.example.org/2020/06/lavrov-minsk/">Read the original '
        "article</a></p>",
        keep=KEEP,
    ),
    # --- excerpt tails ---------------------------------------------------------------------------
    LitterRule(
        "more-link",
        selector=".more-link, .wp-block-read-more, a.read-more, .read-more-link",
        sample="<p>The council approved the new budget on Tuesday after a long debate. "
        '<a href="https://example.com/budget/#more-42" class="more-link">Continue reading '
        '<span class="meta-nav">&rarr;</span></a></p>',
        keep=KEEP,
    ),
    LitterRule(
        "slashdot-read-more",
        line=r"read more of this story at slashdot\.?",
        trigger=("slashdot",),
        where="tail",
        sample=ARTICLE + '<p><a href="https://yro.slashdot.org/story/24/03/02/071229/x">Read more of this '
        "story</a> at Slashdot.</p>",
        keep=KEEP,
    ),
    LitterRule(
        "continue-reading-line",
        line=rf"(?:…|\.\.\.)?\s*{_MORE}.{{0,150}}",
        trigger=_MORE_TRIGGERS,
        where="tail",
        needs_link=True,
        sample=ARTICLE + ' <a href="https://www.theguardian.com/world/2022/sep/23/budget">Continue '
        "reading...</a>",
        keep=KEEP,
    ),
    LitterRule(
        "continue-reading-text",
        line=rf"(?:…|\.\.\.)?\s*{_MORE}{_DECOR}",
        trigger=_MORE_TRIGGERS,
        where="tail",
        sample=ARTICLE + "<p>Continue reading →</p>",
        keep=KEEP,
    ),
    LitterRule(
        "excerpt-ellipsis",
        suffix=r"\s*[\[(]\s*(?:…|&hellip;|\.\s?\.\s?\.)\s*[\])]",
        trigger=("]", ")"),
        first=r"\s\[(",
        replace="…",
        sample="<p>The council approved the new budget on Tuesday after a long debate, setting [&#8230;]</p>",
        keep="after a long debate, setting…",
    ),
    LitterRule(
        "continue-reading-suffix",
        suffix=rf"{_MORE}{_DECOR}",
        trigger=_MORE_TRIGGERS,
        first="crkwmlsdч続",  # of each phrase in _MORE
        sample="<p>The council approved the new budget on Tuesday after a long debate. "
        '<a href="https://example.com/budget/">Read More &raquo;</a></p>',
        keep=KEEP,
    ),
    # --- share and related-post widgets -------------------------------------------------------
    LitterRule(
        "jetpack-sharedaddy",
        selector=".sharedaddy, .sd-sharing-enabled, .sd-block, .sd-like, #jp-post-flair, "
        ".jetpack-likes-widget-wrapper, .wp-block-jetpack-sharing-buttons",
        sample=ARTICLE + '<div class="sharedaddy sd-sharing-enabled"><div class="robots-nocontent sd-block '
        'sd-social sd-social-icon-text sd-sharing"><h3 class="sd-title">Share this:</h3><div '
        'class="sd-content"><ul><li class="share-twitter"><a rel="nofollow noopener noreferrer" '
        'class="share-twitter sd-button" href="https://example.com/budget/?share=twitter" '
        'target="_blank" title="Click to share on Twitter"><span>Twitter</span></a></li></ul></div>'
        "</div></div>",
        keep=KEEP,
    ),
    LitterRule(
        "jetpack-related-posts",
        selector="#jp-relatedposts, .jp-relatedposts, .jp-relatedposts-post",
        sample=ARTICLE + '<div id="jp-relatedposts" class="jp-relatedposts"><h3 '
        'class="jp-relatedposts-headline"><em>Related</em></h3><div class="jp-relatedposts-items">'
        '<div class="jp-relatedposts-post"><a href="https://example.com/older/">Older budget story</a>'
        "</div></div></div>",
        keep=KEEP,
    ),
    LitterRule(
        "addtoany",
        selector=".addtoany_share_save_container, .addtoany_content, .addtoany_list, .a2a_kit, "
        '.a2a_dd, [class*="a2a_button"], a[href*="addtoany.com/"]',
        sample=ARTICLE + '<p><a class="a2a_button_twitter" href="https://www.addtoany.com/add_to/twitter?'
        'linkurl=http%3A%2F%2Fexample.com%2Fbudget%2F" title="Twitter" rel="nofollow noopener" '
        'target="_blank"></a><a class="a2a_dd addtoany_share_save addtoany_share" '
        'href="https://www.addtoany.com/share#url=http%3A%2F%2Fexample.com%2Fbudget%2F">Share</a></p>',
        keep=KEEP,
    ),
    LitterRule(
        "social-share",
        selector=".share_submission, .synved-social-container, .synved-social-button, "
        ".shareaholic-canvas, .heateor_sss_sharing_container, .swp_social_panel, .social-share, "
        ".share-buttons, .sharethis, .ssba, .ssba-wrap, .shared-counts-wrap, .essb_links, "
        '.sharing-buttons, a[href*="facebook.com/sharer"], a[href*="twitter.com/intent/tweet"], '
        'a[href*="twitter.com/share"], a[href*="twitter.com/home?status="], a[href*="x.com/intent/"], '
        'a[href*="linkedin.com/shareArticle"], a[href*="pinterest.com/pin/create"], '
        'a[href*="reddit.com/submit"], a[href*="api.whatsapp.com/send"], a[href*="t.me/share"], '
        'a[href*="feeds.wordpress.com/1.0/go"], img[src*="feeds.wordpress.com/1.0/"]',
        sample=ARTICLE + '<div class="share_submission" style="position:relative;"><a class="slashpop" '
        'href="http://twitter.com/home?status=Budget+approved"><img '
        'src="https://a.fsdn.com/sd/twitter_icon_large.png"></a></div> <a rel="nofollow" '
        'href="http://feeds.wordpress.com/1.0/gocomments/example.wordpress.com/446154/"></a>',
        keep=KEEP,
    ),
    # --- feed services, ads and tracking pixels ------------------------------------------------
    LitterRule(
        "feedburner-flare",
        selector='.feedflare, a[href*="feeds.feedburner.com/~ff/"], a[href*="feedproxy.google.com/~ff/"], '
        'img[src*="feeds.feedburner.com/~ff/"]',
        sample=ARTICLE + '<div class="feedflare"><a href="http://feeds.feedburner.com/~ff/Techcrunch?'
        'a=kTeeGj4FnwU:ARydNZJ6SxI:2mJPEYqXBVI"><img src="http://feeds.feedburner.com/~ff/Techcrunch?'
        'd=2mJPEYqXBVI" border="0"></a></div>',
        keep=KEEP,
    ),
    LitterRule(
        "feed-ads",
        selector='a[href*="feedads.g.doubleclick.net"], img[src*="feedads.g.doubleclick.net"]',
        sample=ARTICLE + '<p><a href="http://feedads.g.doubleclick.net/~at/qv0C7ycnV3JrFMT7HnFWNXc9uEY/0/da">'
        '<img src="http://feedads.g.doubleclick.net/~at/qv0C7ycnV3JrFMT7HnFWNXc9uEY/0/di" border="0" '
        'ismap="true"></a></p>',
        keep=KEEP,
    ),
    LitterRule(
        "tracking-pixel",
        selector='img[width="1"], img[height="1"], img[width="0"], img[height="0"], img[width="1px"], '
        'img[height="1px"], img[src*="feeds.feedburner.com/~r/"], img[src*="feedproxy.google.com/~r/"], '
        'img[src*="pixel.wp.com/"], img[src*="stats.wordpress.com/"], img[src*="medium.com/_/stat"], '
        'img[src*="feedsportal.com"], img[src*="pixel.quantserve.com"], img[src*="/wf/open?"]',
        sample=ARTICLE + '<img alt="" border="0" src="https://pixel.wp.com/b.gif?host=indianexpress.com'
        '&#038;blog=53855017&#038;post=4463964&#038;feed=1" width="1" height="1" /><img '
        'src="http://feeds.feedburner.com/~r/Techcrunch/~4/kTeeGj4FnwU" height="1" width="1"/><img '
        'src="https://stats.wordpress.com/b.gif?host=example.com&amp;blog=1&amp;post=2">',
        keep=KEEP,
    ),
    LitterRule(
        "hidden",
        selector='[hidden], [style*="display:none"], [style*="display: none"], '
        '[style*="visibility:hidden"], [style*="visibility: hidden"]',
        sample=ARTICLE + '<div style="display: none;"><p>Subscribe to our newsletter!</p></div>',
        keep=KEEP,
    ),
)


MAX_LINE = 400  # longer lines are prose, never litter

LINE_RULES = tuple(rule for rule in RULES if rule.line)
SUFFIX_RULES = tuple(rule for rule in RULES if rule.suffix)
SOURCE_RULES = tuple(rule for rule in LINE_RULES if rule.gives_source)
WHOLE_LINE_RULES = frozenset(rule.name for rule in RULES if rule.whole_line)
SHORT_LINE = 120  # a `whole_line` selector match takes its line with it when the line is this short
# The whole-document line scan only runs when the lower-cased text holds one of these
# (None: some "anywhere" rule has no trigger, so always scan).
_ANYWHERE = [r for r in LINE_RULES if r.where == "anywhere"]
LINE_TRIGGERS: tuple[str, ...] | None = (
    tuple(t for r in _ANYWHERE for t in r.trigger) if all(r.trigger for r in _ANYWHERE) else None
)


def _fragments(rules: list[LitterRule] | tuple[LitterRule, ...]) -> tuple[str, ...] | None:
    """The longest space-free piece of each trigger of `rules` (None if one has no trigger): a
    line whose ASCII text holds a trigger sits in a block whose raw text holds its fragment
    (whitespace inside the trigger may be a newline or a run there)."""
    if not all(rule.trigger for rule in rules):
        return None
    return tuple(sorted({max(t.split(), key=len) for rule in rules for t in rule.trigger}))


# Blocks whose ASCII text holds none of these have no line an "anywhere" / a source rule matches.
ANYWHERE_FRAGMENTS = _fragments(_ANYWHERE)
SOURCE_FRAGMENTS = _fragments(SOURCE_RULES)


@dataclass(frozen=True, slots=True)
class _Simple:
    """A compound selector without combinators or pseudo-classes: tag, classes, id, attributes."""

    name: str
    tag: str | None
    classes: tuple[str, ...]
    ident: str | None
    attributes: tuple[tuple[str, str, str], ...]  # (name, operator, value)

    def test(self, element: etree._Element) -> bool:
        if self.tag is not None and element.tag != self.tag:
            return False
        if self.classes and not set(self.classes) <= set((element.get("class") or "").split()):
            return False
        if self.ident is not None and element.get("id") != self.ident:
            return False
        return all(_attribute_test(element.get(a), op, v) for a, op, v in self.attributes)


def _attribute_test(actual: str | None, operator: str, value: str) -> bool:
    if actual is None:
        return False
    if operator == "exists":
        return True
    if operator == "=":
        return actual == value
    if operator == "*=":
        return bool(value) and value in actual
    if operator == "^=":
        return bool(value) and actual.startswith(value)
    if operator == "$=":
        return bool(value) and actual.endswith(value)
    if operator == "~=":
        return value in actual.split()
    return actual == value or actual.startswith(value + "-")  # |=


def _simple(name: str, tree: object) -> _Simple | None:
    """Flatten a parsed cssselect tree into a `_Simple`, or None if it is not that simple."""
    classes: list[str] = []
    ident = None
    attributes: list[tuple[str, str, str]] = []
    while True:
        kind = type(tree).__name__
        if kind == "Class":
            classes.append(tree.class_name)  # type: ignore[attr-defined]
        elif kind == "Hash":
            ident = tree.id  # type: ignore[attr-defined]
        elif kind == "Attrib" and tree.namespace is None:  # type: ignore[attr-defined]
            value = tree.value.value if tree.value is not None else ""  # type: ignore[attr-defined]
            attributes.append((tree.attrib.lower(), tree.operator, value))  # type: ignore[attr-defined]
        elif kind == "Element" and tree.namespace is None:  # type: ignore[attr-defined]
            tag = tree.element.lower() if tree.element else None  # type: ignore[attr-defined]
            return _Simple(name, tag, tuple(classes), ident, tuple(attributes))
        else:
            return None
        tree = tree.selector  # type: ignore[attr-defined]


class SelectorMatcher:
    """All selector rules (plus per-feed `remove` selectors), indexed for one pass over a tree.

    Simple selectors (tag, classes, id, attribute tests) are looked up by class, id or
    attribute name while `ingest.clean` walks the tree once; anything else (combinators,
    pseudo-classes) runs as one XPath union.
    """

    def __init__(self, extra_selectors: tuple[str, ...] = ()) -> None:
        named = [(r.name, r.selector) for r in RULES if r.selector]
        named += [("feed-remove", s) for s in extra_selectors]
        self._by_class: dict[str, list[_Simple]] = {}
        self._by_id: dict[str, list[_Simple]] = {}
        self._by_attribute: dict[str, list[_Simple]] = {}
        self._by_tag: dict[str | None, list[_Simple]] = {}
        self._complex: list[tuple[str, etree.XPath]] = []
        translator = HTMLTranslator()
        for name, selector in named:
            try:
                parsed = cssselect.parse(selector)
                for one in parsed:
                    simple = None if one.pseudo_element else _simple(name, one.parsed_tree)
                    if simple is None:
                        self._complex.append((name, etree.XPath(translator.selector_to_xpath(one))))
                    elif simple.classes:
                        self._by_class.setdefault(simple.classes[0], []).append(simple)
                    elif simple.ident is not None:
                        self._by_id.setdefault(simple.ident, []).append(simple)
                    elif simple.attributes:
                        self._by_attribute.setdefault(simple.attributes[0][0], []).append(simple)
                    else:
                        self._by_tag.setdefault(simple.tag, []).append(simple)
            except (SelectorError, ExpressionError) as exc:
                raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from exc
        # Per attribute: (operator, value, rule) with the rule's test of that attribute first, so
        # only rules whose own condition holds get their full test. "*=" runs as `in`.
        self._attribute_rules: dict[str, tuple[tuple[str, str, _Simple], ...]] = {
            key: tuple(("in" if s.attributes[0][1] == "*=" and s.attributes[0][2] else s.attributes[0][1],
                        s.attributes[0][2], s) for s in simples)
            for key, simples in self._by_attribute.items()
        }
        # ... looked up by value where all of an attribute's rules ask for one ("=")
        self._attribute_values: dict[str, dict[str, tuple[tuple[str, str, _Simple], ...]]] = {
            key: {value: tuple(r for r in rules if r[1] == value) for _op, value, _s in rules}
            for key, rules in self._attribute_rules.items() if all(op == "=" for op, _v, _s in rules)
        }
        self._class_names = frozenset(self._by_class)
        self._inert_classes: set[str] = set()  # class values no rule can match through
        self._keys = frozenset({"class", "id", *self._by_attribute})
        # An element with none of these attributes matches nothing (None: tag rules look at all).
        self.attributes: frozenset[str] | None = None if self._by_tag else self._keys

    def match(self, element: etree._Element) -> str | None:
        """The name of the first simple selector rule `element` matches, if any."""
        if self._by_tag:
            for simple in (*self._by_tag.get(element.tag, ()), *self._by_tag.get(None, ())):
                if simple.test(element):
                    return simple.name
        for key in element.keys():  # noqa: SIM118 - lxml's keys() lists attribute names
            if key not in self._keys:
                continue
            value = element.get(key)
            live = False
            if key == "class":
                if value in self._inert_classes:  # pages repeat their class lists
                    continue
                tokens = value.split()
                live = not self._class_names.isdisjoint(tokens)
                if live:
                    for token in tokens:
                        for simple in self._by_class.get(token, ()):
                            if simple.test(element):
                                return simple.name
            elif key == "id":
                for simple in self._by_id.get(value, ()):
                    if simple.test(element):
                        return simple.name
            exact = self._attribute_values.get(key)
            rules = self._attribute_rules.get(key, ()) if exact is None else exact.get(value, ())
            for operator, expected, simple in rules:
                if expected in value if operator == "in" else _attribute_test(value, operator, expected):
                    live = True
                    if simple.test(element):
                        return simple.name
            if key == "class" and not live and len(self._inert_classes) < 4096:
                self._inert_classes.add(value)
        return None

    def complex_matches(self, body: etree._Element) -> list[tuple[etree._Element, str]]:
        """(element, rule name) for the selectors `match` cannot do, in document order."""
        return [(element, name) for name, xpath in self._complex for element in xpath(body)]


def describe(element: etree._Element) -> str:
    """The text of a removed element, or for a textless one (a pixel, an icon link) its URL."""
    text = " ".join(" ".join(element.itertext()).split())
    if text:
        return text
    for node in element.iter():
        url = node.get("src") or node.get("href")
        if url:
            return url
    return f"<{element.tag}>"

"""What "inert" means for cleaned HTML, checked the way a browser would read it.

`problems(html)` parses `html` as a body fragment with html5lib (an HTML5 parser, so namespace
and mis-nesting tricks resolve as in a browser) and lists everything that could execute or
load active content:

- an element outside the allowlist in `ALLOWED` (so no script, style, iframe-not-allowlisted,
  object, embed, applet, form, base, meta, link, noscript, template, svg, math …), or any
  element in a foreign (SVG/MathML) namespace;
- an HTML comment (conditional comments);
- any attribute named `on*`, `style`, `srcdoc`, `formaction`, `action`, `background`, `xmlns*`,
  or in a namespace (`xlink:href`);
- a URL attribute (`href`, `src`, `poster`, `cite`, `action`, `data`, `lowsrc`, `dynsrc`, every
  `srcset` candidate, …) whose value, after decoding character references (twice) and removing
  ASCII control characters, whitespace and Unicode spaces, starts with a scheme other than
  http, https or mailto — so `javascript:`, `vbscript:`, `data:` (any) and `jav&#x09;ascript:`
  all count;
- an iframe whose src is not https on an allowlisted embed host, or that lacks `sandbox`, or
  whose sandbox allows top navigation, forms or modals.

The lists are written out here on purpose, not imported from `ingest.sanitize`, so the tests
check the sanitizer against an independent statement of the policy.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import html5lib

ALLOWED = frozenset({
    "a", "abbr", "acronym", "address", "article", "aside", "audio", "b", "bdi", "bdo", "big", "blockquote", "br",
    "caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "iframe", "img", "ins", "kbd", "li", "mark", "ol", "p", "picture", "pre", "q", "rp", "rt",
    "ruby", "s", "samp", "small", "source", "span", "strike", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "track", "tt", "u", "ul", "var",
    "video", "wbr", "footer", "header", "hgroup", "main", "nav", "section",
})
FORBIDDEN_ATTRIBUTES = frozenset({"style", "srcdoc", "formaction", "action", "background", "dynsrc",
                                  "lowsrc", "data", "ping", "manifest", "codebase", "classid"})
URL_ATTRIBUTES = frozenset({"href", "src", "poster", "cite", "action", "formaction", "data",
                            "background", "lowsrc", "dynsrc", "longdesc", "usemap", "to", "from",
                            "values", "by"})
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
EMBED_HOSTS = frozenset({"www.youtube-nocookie.com", "player.vimeo.com", "www.dailymotion.com",
                         "geo.dailymotion.com", "w.soundcloud.com", "open.spotify.com", "bandcamp.com",
                         "embed.ted.com", "archive.org", "www.google.com", "player.twitch.tv",
                         "www.slideshare.net"})
_NOISE = re.compile(r"[\x00-\x20\x7f-\x9f\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff]+")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")


def url_scheme(value: str) -> str | None:
    """The scheme a browser would see in `value` (decoded, de-noised), lower-cased, or None."""
    probe = _NOISE.sub("", html.unescape(html.unescape(value)))
    match = _SCHEME.match(probe)
    return match.group(1).lower() if match else None


def problems(fragment: str) -> list[str]:
    """Everything executable or disallowed in `fragment`; empty means inert."""
    found = []
    tree = html5lib.parseFragment(fragment, treebuilder="etree", namespaceHTMLElements=False)
    for element in tree.iter():
        tag = element.tag
        if callable(tag):
            found.append("comment")
            continue
        if tag == "DOCUMENT_FRAGMENT":
            continue
        if tag.startswith("{") or tag not in ALLOWED:
            found.append(f"element <{tag}>")
        for name, value in element.attrib.items():
            found += _attribute_problems(tag, name, value)
        if tag == "iframe":
            found += _iframe_problems(element.attrib)
    return found


def _attribute_problems(tag: str, name: str, value: str) -> list[str]:
    lowered = name.lower()
    if lowered.startswith("{") or ":" in lowered:
        return [f"namespaced attribute {name} on <{tag}>"]
    if lowered.startswith("on") or lowered.startswith("xmlns") or lowered in FORBIDDEN_ATTRIBUTES:
        return [f"attribute {name} on <{tag}>"]
    values = []
    if lowered in ("srcset", "imagesrcset"):
        values = [candidate.strip().split(" ")[0] for candidate in value.split(",") if candidate.strip()]
        if re.search(r"(?i)data\s*:", value):
            return [f"data: in srcset on <{tag}>"]
    elif lowered in URL_ATTRIBUTES:
        values = [value]
    bad = []
    for url in values:
        scheme = url_scheme(url)
        if scheme is not None and scheme not in SAFE_SCHEMES:
            bad.append(f"{scheme}: URL in {name} on <{tag}>")
    return bad


def _iframe_problems(attributes: dict[str, str]) -> list[str]:
    bad = []
    try:
        parts = urlsplit(attributes.get("src", ""))
        host = parts.hostname
    except ValueError:
        return ["iframe with unparsable src"]
    if parts.scheme != "https" or host not in EMBED_HOSTS:
        bad.append(f"iframe src not allowlisted: {attributes.get('src')!r}")
    sandbox = attributes.get("sandbox")
    if sandbox is None:
        bad.append("iframe without sandbox")
    elif re.search(r"allow-(top-navigation|forms|modals|popups-to-escape)", sandbox):
        bad.append(f"iframe sandbox too permissive: {sandbox!r}")
    return bad

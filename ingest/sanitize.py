"""The last cleaning pass: nh3 (ammonia) allowlist sanitising, plus the URL and embed policy.

`sanitize(html)` is the security boundary. Whatever the structural pass in `ingest.clean` did,
its output goes through nh3 here, alone and last:

- only `ALLOWED_TAGS`, only the attributes in `ALLOWED_ATTRIBUTES` (no `style`, `class`, `id`
  or `on*`); `script`, `style`, `noscript`, `template` … are dropped with their content;
- every URL attribute (`href`, `src`, `srcset`, `poster`, `cite`) must be relative or use a
  scheme in `URL_SCHEMES`, checked after entity decoding and with control characters and
  Unicode spaces removed (so `jav&#x09;ascript:` and `\\u2028javascript:` are caught);
- links get `rel="noopener noreferrer"` and lose tracking parameters (`urls.strip_tracking`);
- an `iframe` keeps its `src` only if `embed_src` accepts it (HTTPS, allowlisted embed host),
  and always carries `sandbox` (nh3 sets it, whatever the input said).

The structural pass calls `safe_url`, `safe_srcset` and `embed_src` too, so it already drops
what nh3 would reject; and it parses `normalise(html)` (a permissive nh3 pass: HTML5 parse and
re-serialise) so its tree is the one nh3 will build. Both keep `clean(clean(x)) == clean(x)`.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit, urlunsplit

import nh3

from ingest.urls import TRACKING_PARAM, strip_tracking

URL_SCHEMES = frozenset({"http", "https", "mailto"})
URL_ATTRIBUTES = frozenset({"href", "src", "poster", "cite"})

ALLOWED_TAGS = frozenset({
    "a", "abbr", "acronym", "address", "article", "aside", "audio", "b", "bdi", "bdo", "big", "blockquote", "br",
    "caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div",
    "dl", "dt", "em", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hgroup", "hr", "i", "iframe", "img", "ins", "kbd", "li", "main", "mark", "nav", "ol", "p",
    "picture", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section", "small", "source", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "track", "tt", "u", "ul", "var", "video", "wbr",
})
# Dropped together with everything inside them (the rest of the non-allowed tags are unwrapped).
DROPPED_WITH_CONTENT = frozenset({
    "script", "style", "noscript", "template", "title", "head", "object", "embed", "applet",
    "frame", "frameset", "noembed", "noframes", "xmp", "plaintext", "textarea", "select",
    "button", "svg", "math", "canvas", "map", "dialog", "form", "iframe", "param",
}) - ALLOWED_TAGS

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "srcset", "sizes", "alt", "width", "height"},
    "source": {"src", "srcset", "sizes", "type", "media"},
    "video": {"src", "poster", "controls", "width", "height", "loop", "muted", "playsinline", "preload"},
    "audio": {"src", "controls", "loop", "muted", "preload"},
    "track": {"src", "kind", "srclang", "label", "default"},
    "iframe": {"src", "width", "height", "allowfullscreen"},
    "blockquote": {"cite"}, "q": {"cite"}, "del": {"cite", "datetime"}, "ins": {"cite", "datetime"},
    "time": {"datetime"}, "abbr": {"title"},
    "ol": {"start", "reversed", "type"}, "li": {"value"},
    "td": {"colspan", "rowspan", "headers"}, "th": {"colspan", "rowspan", "headers", "scope"},
    "col": {"span"}, "colgroup": {"span"}, "details": {"open"},
}
IFRAME_SANDBOX = "allow-scripts allow-same-origin allow-popups allow-presentation"

# host -> path prefixes an embed may use. YouTube is rewritten to its no-cookie host first.
EMBED_HOSTS: dict[str, tuple[str, ...]] = {
    "www.youtube-nocookie.com": ("/embed/",),
    "player.vimeo.com": ("/video/",),
    "www.dailymotion.com": ("/embed/",),
    "geo.dailymotion.com": ("/player",),
    "w.soundcloud.com": ("/player/",),
    "open.spotify.com": ("/embed/",),
    "bandcamp.com": ("/EmbeddedPlayer/",),
    "embed.ted.com": ("/talks/",),
    "archive.org": ("/embed/",),
    "www.google.com": ("/maps/embed",),
    "player.twitch.tv": ("/",),
    "www.slideshare.net": ("/slideshow/embed_code/",),
}
YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "youtube-nocookie.com"})

# Browsers ignore these anywhere in a URL's scheme: C0 controls, DEL/C1, and Unicode spaces.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f-\x9f\u00a0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff]+")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_SRCSET_CANDIDATE = re.compile(r"\s*([^\s,][^\s]*)([^,]*)")
# A quick look for a tracking parameter before the full parse in `strip_tracking`.
_TRACKING_HINT = re.compile(r"[?&;]" + TRACKING_PARAM.pattern.strip("^$") + r"(?:[=&#;]|$)", re.IGNORECASE)
_FILTERED = URL_ATTRIBUTES | {"srcset"}


def safe_url(value: str) -> str | None:
    """`value` trimmed, or None when its scheme (after decoding and de-noising) is not allowed."""
    value = value.strip(" \t\n\r\f\x00")
    if "\t" in value or "\n" in value or "\r" in value:
        value = _TAB_NEWLINE.sub("", value)
    if value[:6] == "https:" or value[:5] == "http:":  # the common case; the checks below agree
        return value
    if not value:
        return None
    probe = _URL_NOISE.sub("", value)
    if "&" in probe:
        probe = _URL_NOISE.sub("", html.unescape(probe))
    match = _SCHEME.match(probe)
    if match and match.group(1).lower() not in URL_SCHEMES:
        return None
    if not match and ":" in probe.split("/", 1)[0].split("?", 1)[0]:
        return None  # something scheme-like that the regex did not read: refuse it
    return value


def srcset_candidates(value: str) -> list[tuple[str, str]]:
    """The (url, descriptor) pairs of a `srcset` value, per the HTML parsing rules."""
    result = []
    for match in _SRCSET_CANDIDATE.finditer(value):
        url = match.group(1).rstrip(",")
        if url:
            result.append((url, match.group(2).strip()))
    return result


def safe_srcset(value: str) -> str | None:
    """`value` with unsafe candidates dropped; None when none is left."""
    kept = []
    for url, descriptor in srcset_candidates(value):
        url = safe_url(url)
        if url and "," not in url:
            kept.append(f"{url} {descriptor}".strip())
    return ", ".join(kept) or None


def embed_src(src: str) -> str | None:
    """The HTTPS URL an iframe may load, or None when its host is not an allowlisted embed.

    YouTube embeds move to www.youtube-nocookie.com; scheme-relative and http URLs become https.
    """
    src = safe_url(src) or ""
    if src.startswith("//"):
        src = "https:" + src
    try:
        parts = urlsplit(src)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or port not in (None, 443, 80) or parts.username:
        return None
    if host in YOUTUBE_HOSTS:
        host = "www.youtube-nocookie.com"
    prefixes = EMBED_HOSTS.get(host)
    if not prefixes or not parts.path.startswith(prefixes):
        return None
    return urlunsplit(("https", host, parts.path, parts.query, parts.fragment))


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute not in _FILTERED:
        return value
    if attribute == "srcset":
        return safe_srcset(value)
    if attribute in URL_ATTRIBUTES:
        if tag == "iframe" and attribute == "src":
            return embed_src(value)
        url = safe_url(value)
        if url and attribute == "href" and ("?" in url or "&" in url or ";" in url) and _TRACKING_HINT.search(url):
            return strip_tracking(url)
        return url
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel="noopener noreferrer",
    url_schemes=set(URL_SCHEMES),
    set_tag_attribute_values={"iframe": {"sandbox": IFRAME_SANDBOX}},
)


def sanitize(html_fragment: str) -> str:
    """The allowlist-sanitised form of an HTML body fragment (nh3 last, nothing after it)."""
    return _CLEANER.clean(html_fragment)


# <noscript> is settled (dropped or unwrapped) by the structural pass, so the normaliser keeps it.
STRUCTURAL_TAGS = frozenset({"noscript"})
_NORMALISER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS | STRUCTURAL_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT - STRUCTURAL_TAGS),
    attributes={
        "*": {"class", "id", "style", "hidden", "title", "lang", "dir", "width", "height"},
        **{tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items() if tag != "*"},
    },
    generic_attribute_prefixes={"data-"},
    strip_comments=True,
    link_rel=None,
    url_schemes=set(URL_SCHEMES),
)


def normalise(html_fragment: str) -> str:
    """`html_fragment` as an HTML5 parser reads it (the tree browsers and nh3 build: foster-parented
    table text, `<image>` as `<img>`, stray end tags ignored), re-serialised, with non-content
    elements, comments, unknown tags and event-handler attributes already gone. The structural
    pass parses this, so it works on the tree the final `sanitize` will see."""
    return _NORMALISER.clean(html_fragment)

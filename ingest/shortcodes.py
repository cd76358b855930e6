"""WordPress shortcodes left in syndicated HTML: `[caption]` made a figure, page-builder and
plugin shortcodes removed (their content kept), `[embed]URL[/embed]` made a link.

WordPress expands shortcodes when it renders a post, but copies made by auto-posting plugins,
excerpts and feeds of sites whose plugins are gone carry them raw: `[vc_row][vc_column]…`,
`[caption id="attachment_7" width="300"]<img …> A caption[/caption]`. A bracketed word is only
treated as a shortcode when WordPress would know it (core and common plugin names and prefixes)
or when its closing tag follows, so "[sic]", "[1]" or "[Updated]" stay. `[[tag]]`, WordPress's
escape for a literal `[tag]`, is left as written (unescaping it would let a second cleaning
remove it). Nothing inside <pre> or <code> is touched.
"""

from __future__ import annotations

import html
import re

CORE = frozenset({
    "caption", "wp_caption", "gallery", "playlist", "audio", "video", "embed", "contact-form-7",
    "contact-form", "wpforms", "gravityform", "ninja_form", "instagram-feed", "custom-twitter-feeds",
    "wpematico", "adinserter", "ad", "adsense", "tweet", "toc", "ez-toc", "table", "row", "column",
    "button", "tabs", "tab", "accordion", "spoiler", "dropcap", "highlight", "quote", "pullquote",
    "fusion_text", "googlemaps", "soundcloud", "youtube", "vimeo", "rev_slider", "layerslider",
})
PREFIXES = ("vc_", "et_pb_", "fusion_", "su_", "av_", "tie_", "td_", "mk_", "cs_", "themify_", "ult_",
            "tm_", "bs_", "wpb_", "elementor", "sc_", "shortcode")
REMOVED_WITH_CONTENT = frozenset({"gallery", "playlist", "audio", "video", "contact-form-7", "contact-form",
                                  "wpforms", "gravityform", "ninja_form", "rev_slider", "layerslider",
                                  "adinserter", "ad", "adsense", "instagram-feed", "custom-twitter-feeds"})

_TAG = re.compile(r"\[(\[?)(/?)([a-zA-Z][\w-]*)((?:\s+[^\]]*?)?)\s*(/?)\](\]?)")
_PROTECTED = re.compile(r"(<(pre|code)\b.*?</\2\s*>)", re.IGNORECASE | re.DOTALL)
_ATTR = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""")
_CAPTION = re.compile(r"\[(caption|wp_caption)\b([^\]]*)\](.*?)\[/\1\]", re.IGNORECASE | re.DOTALL)
_REMOVED_BLOCK = re.compile(r"\[(" + "|".join(re.escape(n) for n in sorted(REMOVED_WITH_CONTENT)) + r")\b[^\]]*\]"
                            r"(.*?)\[/\1\]", re.IGNORECASE | re.DOTALL)
_EMBED = re.compile(r"\[embed\b[^\]]*\]\s*(https?://[^\s\[<]+)\s*\[/embed\]", re.IGNORECASE)
_IMG_OR_LINKED_IMG = re.compile(r"^\s*((?:<a\b[^>]*>\s*)?<img\b[^>]*>(?:\s*</a>)?)(.*)$", re.IGNORECASE | re.DOTALL)


def expand(source: str) -> tuple[str, list[str]]:
    """`source` with its shortcodes resolved, and a note per shortcode removed ("shortcode: [name]")."""
    if "[" not in source:
        return source, []
    notes: list[str] = []
    parts = _PROTECTED.split(source)
    out = []
    for index in range(0, len(parts), 3):  # split() yields text, protected block, tag name, text, …
        out.append(_expand_text(parts[index], notes))
        if index + 1 < len(parts):
            out.append(parts[index + 1])
    return "".join(out), notes


def _is_shortcode(name: str, closed: bool) -> bool:
    # Shortcode names are lower case: "[Table]" or "[TOC]" in a sentence is the author's text.
    return closed or (name.islower() and (name in CORE or name.startswith(PREFIXES)))


def _expand_text(text: str, notes: list[str]) -> str:
    if "[" not in text:
        return text
    closing = {match.group(3) for match in _TAG.finditer(text) if match.group(2)}
    text = _captions(text, notes)
    text = _removed_blocks(text, notes)

    def replace(match: re.Match[str]) -> str:
        escape_open, slash, name, _, _, escape_close = match.groups()
        if escape_open and escape_close:  # [[tag]]: the author's text
            return match.group(0)
        if not _is_shortcode(name, name in closing):
            return match.group(0)
        if name.lower() == "embed" and not slash:
            return match.group(0)  # handled with its URL below
        notes.append(f"shortcode: [{slash}{name}]")
        return escape_open + escape_close

    text = _embeds(text, notes)
    return _TAG.sub(replace, text)


def _captions(text: str, notes: list[str]) -> str:
    """`[caption …]<img …> Text[/caption]` → `<figure><img …><figcaption>Text</figcaption></figure>`."""
    def figure(match: re.Match[str]) -> str:
        attributes = {m.group(1).lower(): next(v for v in m.groups()[1:] if v is not None)
                      for m in _ATTR.finditer(match.group(2))}
        body = match.group(3)
        picture = _IMG_OR_LINKED_IMG.match(body)
        notes.append(f"shortcode: [{match.group(1)}]")
        if picture is None:
            return body
        caption = picture.group(2).strip() or attributes.get("caption", "")  # HTML source either way
        figcaption = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f"<figure>{picture.group(1)}{figcaption}</figure>"

    return _CAPTION.sub(figure, text)


def _removed_blocks(text: str, notes: list[str]) -> str:
    """Shortcodes whose content means nothing without the plugin (forms, sliders, galleries
    of attachment ids, players) go with their content."""
    def drop(match: re.Match[str]) -> str:
        notes.append(f"shortcode: [{match.group(1)}]")
        return ""

    return _REMOVED_BLOCK.sub(drop, text)


def _embeds(text: str, notes: list[str]) -> str:
    """`[embed]https://…[/embed]` → a link to the URL (WordPress would have embedded it)."""
    def link(match: re.Match[str]) -> str:
        notes.append("shortcode: [embed]")
        url = html.escape(html.unescape(match.group(1)))
        return f'<a href="{url}">{url}</a>'

    return _EMBED.sub(link, text)

"""Attribution templates: a per-target / per-feed source credit applied to clean HTML.

A template is HTML with placeholders in braces (`{{` and `}}` are literal braces):

| placeholder      | value                                                                 |
|------------------|-----------------------------------------------------------------------|
| `{content}`      | the item's clean HTML, inserted as is                                  |
| `{title}`        | the item's title                                                      |
| `{link}`         | the item's permalink on the feed it came from                         |
| `{source_link}`  | the original article URL (the item's `source_link`), else `{link}`    |
| `{source_title}` | the source feed's title                                               |
| `{source_url}`   | the source feed's site URL                                            |
| `{author}`       | the item's authors, comma-separated                                   |
| `{published}`    | the item's date (published, else updated) as `YYYY-MM-DD`, UTC        |
| `{summary}`      | the item's plain-text summary                                         |

Every value except `{content}` is HTML-escaped (quotes too, so it is safe inside attributes).
URL values are empty unless they are absolute http(s) URLs, so `href="{link}"` can't become a
`javascript:` link. No format specs, conversions or attribute access: `{title!r}`,
`{title:>10}` and `{title.upper}` are errors, as is any unknown name.

A template without `{content}` is a footer (`apply_attribution` appends it to the content);
one with `{content}` wraps the content and replaces it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from string import Formatter

from feedrelay.items import Entry
from ingest.sanitize import safe_url

URL_PLACEHOLDERS = frozenset({"link", "source_link", "source_url"})
PLACEHOLDERS: dict[str, Callable[[Entry], str | None]] = {
    "content": lambda e: e.item.content_html,
    "title": lambda e: e.item.title,
    "link": lambda e: e.item.link,
    "source_link": lambda e: e.item.source_link or e.item.link,
    "source_title": lambda e: e.source_title,
    "source_url": lambda e: e.source_url,
    "author": lambda e: ", ".join(e.item.authors),
    "published": lambda e: e.item.date.date().isoformat() if e.item.date else "",
    "summary": lambda e: e.item.summary,
}


def validate_template(template: str) -> list[str]:
    """The placeholders `template` uses; ValueError naming the first bad one."""
    used = []
    try:
        pieces = list(Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"attribution template: {exc} (write {{{{ and }}}} for literal braces)") from exc
    for _literal, name, spec, conversion in pieces:
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(f"attribution template: unknown placeholder {shown} (known: {known})")
        if spec or conversion:
            raise ValueError(f"attribution template: placeholder {shown} takes no format spec or conversion")
        used.append(name)
    return used


def render_attribution(template: str, entry: Entry) -> str:
    """`template` with its placeholders filled from `entry` (values escaped, see module doc)."""
    validate_template(template)
    out = []
    for literal, name, _spec, _conversion in Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(_value(name, entry))
    return "".join(out)


def apply_attribution(template: str | None, entry: Entry) -> str:
    """The entry's published HTML: its clean content with the template appended (a footer) or
    wrapped around it (a template that uses `{content}`)."""
    content = entry.item.content_html
    if not template:
        return content
    rendered = render_attribution(template, entry)
    if "content" in validate_template(template):
        return rendered
    return f"{content}\n{rendered}" if rendered else content


def _value(name: str, entry: Entry) -> str:
    value = PLACEHOLDERS[name](entry) or ""
    if name == "content":
        return value
    if name in URL_PLACEHOLDERS:
        value = safe_url(value) or ""
        if not value.lower().startswith(("http://", "https://")):
            return ""
    return html.escape(value, quote=True)

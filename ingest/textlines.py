"""Lines of text in an lxml HTML tree: what litter line rules match and remove.

A *line* is the inline content of a container between two boundaries, where a boundary is a
`<br>`, a block child, or an inline child that wraps a block. `<p>a<br>b</p>` has the lines "a" and "b"; `<div>x<p>y</p>z</div>`
has "x" and "z" in the div and "y" in the p. In lxml a line starts with a text slot (the
container's `.text` or a boundary's `.tail`) followed by inline elements, each with its tail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lxml import etree

HtmlElement = etree._Element

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "col", "colgroup", "dd",
    "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "legend", "li", "listing", "main",
    "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
})
MEDIA_TAGS = frozenset({"img", "picture", "video", "audio", "iframe", "source", "track"})
# The end of the content is never looked for inside these: code and tables are not prose.
OPAQUE_TAGS = frozenset({"pre", "code", "table", "textarea"})
_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")
_INNER_BLOCKS = tuple(sorted(BLOCK_TAGS - {"body"}))
# An element's text (one C call; far cheaper than joining itertext()).
_tostring = etree.tostring


def _is_boundary(element: HtmlElement) -> bool:
    """A <br>, a block, or an inline element wrapping a block (`<a><p>…</p></a>`): lines end here."""
    tag = element.tag
    return tag == "br" or tag in BLOCK_TAGS or (len(element) > 0 and _holds_block(element))


def _holds_block(element: HtmlElement) -> bool:
    # A few descendants are looked at from Python; a bigger subtree is left to lxml's tag
    # matcher, which costs more to set up (48 tag names) but walks faster.
    for count, node in enumerate(element.iterdescendants()):
        if node.tag in BLOCK_TAGS:
            return True
        if count == 16:
            return next(element.iterdescendants(*_INNER_BLOCKS), None) is not None
    return False


def blocks_in(element: HtmlElement) -> list[HtmlElement]:
    """`element` (if a block) and its block descendants, in document order: `iter(*BLOCK_TAGS)`,
    which costs a few microseconds to set up; a small tree is filtered from Python instead."""
    found = []
    for count, node in enumerate(element.iter()):
        if count == 64:
            return list(element.iter(*BLOCK_TAGS))
        if node.tag in BLOCK_TAGS:
            found.append(node)
    return found


@dataclass(slots=True)
class Line:
    """One line: where its text starts, its inline elements, and the `<br>`s around it."""

    container: HtmlElement
    start: HtmlElement
    start_attr: Literal["text", "tail"]
    nodes: list[HtmlElement]
    before: HtmlElement | None  # the <br> that opens the line
    after: HtmlElement | None  # the <br> that closes it
    text: str
    has_link: bool


def block_text(element: HtmlElement) -> str:
    """All text inside `element` (not its tail)."""
    return _tostring(element, method="text", encoding=str, with_tail=False)


def has_text(element: HtmlElement) -> bool:
    """Whether `element` holds any non-blank text."""
    text = element.text
    if text and not text.isspace():
        return True
    if not len(element):
        return False
    text = _tostring(element, method="text", encoding=str, with_tail=False)
    return bool(text) and not text.isspace()


def _line(container: HtmlElement, start: HtmlElement, attr: Literal["text", "tail"],
          nodes: list[HtmlElement], before: HtmlElement | None, after: HtmlElement | None) -> Line | None:
    """The line, or None when it has no text."""
    first = start.text if attr == "text" else start.tail
    if not nodes and (not first or first.isspace()):
        return None
    pieces = [first] if first else []
    has_link = False
    for node in nodes:
        pieces.append(_tostring(node, method="text", encoding=str, with_tail=True))  # text and tail
        if not has_link and (node.tag == "a" or (len(node) and next(node.iterdescendants("a"), None) is not None)):
            has_link = True
    joined = "".join(pieces)
    if not joined.isascii():
        joined = _ZERO_WIDTH.sub("", joined)
    text = " ".join(joined.split())
    return Line(container, start, attr, nodes, before, after, text, has_link) if text else None


def lines_of(container: HtmlElement) -> list[Line]:
    """The non-empty lines directly inside `container`, in document order."""
    lines = []
    start, attr, before = container, "text", None
    nodes: list[HtmlElement] = []
    for child in container:
        if _is_boundary(child):
            after = child if child.tag == "br" else None
            line = _line(container, start, attr, nodes, before, after)
            if line is not None:
                lines.append(line)
            start, attr, nodes, before = child, "tail", [], after
        else:
            nodes.append(child)
    line = _line(container, start, attr, nodes, before, None)  # type: ignore[arg-type]
    if line is not None:
        lines.append(line)
    return lines


def last_line(container: HtmlElement) -> Line | None:
    """The last non-empty line of the content under `container` (None if it is in code/tables)."""
    nodes: list[HtmlElement] = []
    for child in reversed(container):
        tag = child.tag
        if _is_boundary(child):
            line = _line(container, child, "tail", nodes[::-1], child if tag == "br" else None, None)
            if line is not None:
                return line
            nodes = []
            if tag != "br" and has_text(child):
                return None if tag in OPAQUE_TAGS else last_line(child)
        else:
            nodes.append(child)
    return _line(container, container, "text", nodes[::-1], None, None)


def remove_line(line: Line) -> bool:
    """Remove a line's text and elements (media-bearing elements stay); True if it is gone."""
    setattr(line.start, line.start_attr, None)
    for node in line.nodes:
        if node.tag in MEDIA_TAGS or any(True for _ in node.iter(*MEDIA_TAGS)):
            node.tail = None
        else:
            line.container.remove(node)
    if line.before is not None:
        drop_tree(line.before)
    elif line.after is not None:
        drop_tree(line.after)  # its tail (the next line) moves back into place
    return not any(has_text(n) for n in line.nodes if n.getparent() is not None)


def drop_tree(element: HtmlElement) -> None:
    """Remove `element` and its insides, keeping its tail text in place."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


STOP = ("stop",)


def last_text_slot(element: HtmlElement, link: HtmlElement | None = None
                   ) -> tuple[HtmlElement, Literal["text", "tail"], HtmlElement | None] | None:
    """(element, "text"|"tail", enclosing link) holding the content's last non-blank text."""
    found = _last_slot(element, link)
    return None if found is None or found == STOP else found  # type: ignore[return-value]


def _last_slot(element: HtmlElement, link: HtmlElement | None):  # noqa: ANN202
    for child in reversed(element):
        if child.tail and child.tail.strip():
            return child, "tail", link
        if child.tag in OPAQUE_TAGS:
            if has_text(child):
                return STOP
            continue
        found = _last_slot(child, child if child.tag == "a" else link)
        if found is not None:
            return found
    if element.text and element.text.strip() and element.tag not in MEDIA_TAGS:
        return element, "text", link
    return None

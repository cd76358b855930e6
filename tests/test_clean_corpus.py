"""Every item of every real feed in ../shared/corpus/real: clean, inert, litter-free, faithful.

Faithful means: every sentence of the source's visible text is still in the clean text, unless
it is litter the cleaner removed and named (`CleanResult.litter`). The source text is read
independently of the cleaner (lxml.html, script/style/forms/embeds left out as not visible
article text), split into sentences, and compared as word sequences (so punctuation and
whitespace changes such as "[…]" → "…" don't count). The worst items are printed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from ingest.clean import clean_html
from tests.support.inert import problems

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"
NOT_TEXT = ("script", "style", "noscript", "template", "iframe", "object", "embed", "applet", "form",
            "textarea", "select", "button", "svg", "math", "head", "title", "noembed", "noframes")
BLOCKS = ("p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
          "pre", "ul", "ol", "table", "section", "article", "header", "footer", "figure", "figcaption",
          "dd", "dt", "dl", "br", "hr", "center", "aside", "nav", "main", "address", "details",
          "summary", "caption")
LITTER_LEFT = re.compile(
    r"appeared first on|erschien zuerst auf|wpematico|feeds\.feedburner\.com/~|feedproxy\.google\.com/~ff/"
    r"|pixel\.wp\.com|stats\.wordpress\.com|addtoany\.com|feedads\.g\.doubleclick|medium\.com/_/stat"
    r"|feeds\.wordpress\.com/1\.0/go|width=\"1\"|height=\"1\"|twitter\.com/intent/tweet|facebook\.com/sharer",
    re.IGNORECASE,
)
TAIL_LEFT = re.compile(r"(\[\s*(…|\.\.\.)\s*\]|(^|\n)\s*(continue reading|read more)\W*)\s*$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def _corpus_items() -> list[tuple[str, str | None, str]]:
    if not CORPUS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CORPUS} is missing (CI=true)")
        pytest.skip(f"{CORPUS} not present (shared real-feed corpus absent)")
    items = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix == ".xml":
            parsed = feedparser.parse(path.read_bytes(), sanitize_html=False, resolve_relative_uris=False)
            for entry in parsed.entries:
                contents = [c["value"] for c in entry.get("content", []) if c.get("value")]
                html = max(contents, key=len, default="") or entry.get("summary", "")
                items.append((f"{path.name}#{len(items)}", entry.get("link"), html))
        elif path.suffix == ".json":
            try:
                document = json.loads(path.read_bytes().decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue  # the truncated one
            for entry in document.get("items", []):
                html = entry.get("content_html") or entry.get("content_text") or ""
                items.append((f"{path.name}#{len(items)}", entry.get("url"), html))
    return items


@pytest.fixture(scope="module")
def cleaned() -> list[tuple[str, str, object]]:
    return [(name, html, clean_html(html, base_url=link)) for name, link, html in _corpus_items()]


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def source_sentences(html: str) -> list[str]:
    """The visible text of `html` as sentences, read without the cleaner."""
    if not html.strip():
        return []
    root = lxml.html.fromstring(f"<div>{html}</div>")
    etree.strip_elements(root, *NOT_TEXT, with_tail=False)
    for element in root.iter(*BLOCKS):
        element.tail = "\n" + (element.tail or "")
        if element.tag == "br":
            continue
        element.text = "\n" + (element.text or "")
    text = root.text_content()
    sentences = []
    for line in text.split("\n"):
        sentences += [s for s in _SENTENCE_END.split(line) if len(_words(s).split()) >= 3]
    return sentences


def test_corpus_is_there_and_big(cleaned: list) -> None:
    assert len(cleaned) > 1900


def test_no_executable_or_disallowed_markup(cleaned: list) -> None:
    bad = [(name, problems(result.html)) for name, _html, result in cleaned]
    bad = [(name, found) for name, found in bad if found]
    assert not bad, bad[:10]


def test_no_known_litter_left(cleaned: list) -> None:
    bad = []
    for name, _html, result in cleaned:
        match = LITTER_LEFT.search(result.html) or TAIL_LEFT.search(result.text)
        if match:
            bad.append((name, match.group(0)))
        again = clean_html(result.html)
        if again.litter:
            bad.append((name, again.litter))
    assert not bad, bad[:10]


def lost_sentences(html: str, text: str, litter: list[str]) -> list[str]:
    """Sentences of the source not in the clean text, and not explained by removed litter
    (a litter entry containing the sentence, or the sentence minus litter pieces, such as an
    embedded tweet's "Reply" link, being in the text)."""
    have = f" {_words(text)} "
    squashed_text = _squash(text)
    pieces = [_squash(entry.split(": ", 1)[-1]) for entry in litter]
    squashed_litter = "|".join(pieces)
    lost = []
    for sentence in source_sentences(html):
        if f" {_words(sentence)} " in have:
            continue
        squashed = _squash(sentence)
        if squashed in squashed_litter:
            continue
        for piece in pieces:
            if piece:
                squashed = squashed.replace(piece, "")
        if squashed not in squashed_text:
            lost.append(sentence)
    return lost


def _squash(text: str) -> str:
    return re.sub(r"\W+", "", text.lower())


def test_every_article_sentence_survives(cleaned: list, capsys: pytest.CaptureFixture[str]) -> None:
    report = []
    for name, html, result in cleaned:
        lost = lost_sentences(html, result.text, result.litter)
        if lost:
            report.append((sum(len(s) for s in lost), name, lost))
    report.sort(reverse=True)
    with capsys.disabled():
        print(f"\n{len(report)} of {len(cleaned)} items lost article text; worst:")
        for chars, name, lost in report[:10]:
            print(f"  {name}: {chars} chars, e.g. {lost[0][:150]!r}")
    assert not report, report[:5]


def test_litter_is_a_small_share_of_each_item(cleaned: list) -> None:
    """A guard against a litter rule eating articles: litter text is short next to the text kept."""
    bad = []
    for name, _html, result in cleaned:
        removed = sum(
            len(entry) for entry in result.litter
            if not entry.startswith(("hidden:", "blocked-iframe:")) and "http" not in entry
        )
        if removed > 600 and removed > len(result.text):
            bad.append((name, removed, len(result.text), result.litter[:3]))
    assert not bad, bad[:5]


def test_featured_image_and_summary(cleaned: list) -> None:
    with_images = [result for _name, _html, result in cleaned if '<img src="http' in result.html]
    assert len(with_images) > 400
    assert all(result.image for result in with_images)
    for _name, _html, result in cleaned:
        assert len(result.summary) <= 301
        if result.image:
            assert result.image.startswith(("http://", "https://"))

"""Attribution templates: placeholders filled and escaped, bad templates named clearly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedrelay.items import Entry, Item
from ingest.clean import clean_item
from publish.attribution import PLACEHOLDERS, apply_attribution, render_attribution, validate_template
from tests.support.inert import problems


def entry(**item_fields: object) -> Entry:
    fields = {
        "feed": "kyiv", "guid": "g1", "link": "https://copy.example/2020/06/lavrov/",
        "title": 'Lavrov & Makei: "smoothing" <corners>', "content_html": "<p>Body.</p>",
        "authors": ["Ann O'Neil", "Bob"], "published": datetime(2020, 6, 19, 23, 30, tzinfo=UTC),
        "source_link": "https://news.example/2020/06/lavrov-minsk/?id=1&x=2", "summary": "Body.",
    }
    fields.update(item_fields)
    return Entry(story_id=1, revision=1, entry_id="tag:feedrelay,2020:1", item=Item(**fields),  # type: ignore[arg-type]
                 source_title="Kyiv <Post> & Co", source_url="https://news.example/", updated=datetime.now(UTC))


def test_every_placeholder_is_filled_and_escaped() -> None:
    template = ("<p>{title} | {link} | {source_link} | {source_title} | {source_url} | {author} | "
                "{published} | {summary}</p>{content}")
    assert render_attribution(template, entry()) == (
        "<p>Lavrov &amp; Makei: &quot;smoothing&quot; &lt;corners&gt; | https://copy.example/2020/06/lavrov/ | "
        "https://news.example/2020/06/lavrov-minsk/?id=1&amp;x=2 | Kyiv &lt;Post&gt; &amp; Co | "
        "https://news.example/ | Ann O&#x27;Neil, Bob | 2020-06-19 | Body.</p><p>Body.</p>"
    )
    assert set(validate_template(template)) == set(PLACEHOLDERS)


def test_a_typical_footer_is_safe_html() -> None:
    footer = render_attribution('<p class="credit">Source: <a href="{source_link}">{source_title}</a></p>', entry())
    assert footer == ('<p class="credit">Source: <a href="https://news.example/2020/06/lavrov-minsk/?id=1&amp;x=2">'
                      "Kyiv &lt;Post&gt; &amp; Co</a></p>")


def test_url_placeholders_only_take_http_urls() -> None:
    hostile = entry(link="javascript:alert(1)", source_link=None)
    rendered = render_attribution('<a href="{link}">a</a><a href="{source_link}">b</a>', hostile)
    assert rendered == '<a href="">a</a><a href="">b</a>'
    assert not problems(rendered)
    quoted = entry(source_link='https://x.example/"onmouseover="alert(1)')
    assert 'href="https://x.example/&quot;onmouseover=&quot;alert(1)"' in render_attribution(
        '<a href="{source_link}">x</a>', quoted)


def test_source_link_falls_back_to_link_and_missing_values_are_empty() -> None:
    plain = entry(source_link=None, authors=[], published=None)
    assert render_attribution("{source_link}|{author}|{published}", plain) == "https://copy.example/2020/06/lavrov/||"


def test_literal_braces() -> None:
    assert render_attribution("{{title}} is {title}", entry(title="T")) == "{title} is T"


@pytest.mark.parametrize(("template", "message"), [
    ("{titel}", r"unknown placeholder \{titel\}"),
    ("{}", r"unknown placeholder \{\}"),
    ("{0}", r"unknown placeholder \{0\}"),
    ("{title.__class__}", r"unknown placeholder \{title.__class__\}"),
    ("{item[title]}", r"unknown placeholder \{item\[title\]\}"),
    ("{title!r}", r"\{title!r\} takes no format spec"),
    ("{published:%Y}", r"\{published:%Y\} takes no format spec"),
    ("credit {", "Single '{'"),
    ("credit }", "Single '}'"),
])
def test_bad_templates_are_named(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_template(template)
    with pytest.raises(ValueError, match=message):
        render_attribution(template, entry())


def test_footer_is_appended_and_content_templates_wrap() -> None:
    e = entry()
    assert apply_attribution(None, e) == "<p>Body.</p>"
    assert apply_attribution("<p>via {source_title}</p>", e) == "<p>Body.</p>\n<p>via Kyiv &lt;Post&gt; &amp; Co</p>"
    assert apply_attribution("<div>{content}</div><p>{title}</p>", e) == (
        '<div><p>Body.</p></div><p>Lavrov &amp; Makei: &quot;smoothing&quot; &lt;corners&gt;</p>')


def test_applied_after_cleaning() -> None:
    raw = Item(feed="f", guid="g", link="https://copy.example/p/", title="T",
               content_html='<p>Article.</p><p>The post <a href="https://orig.example/p/">T</a> appeared first on '
               '<a href="https://orig.example/">Orig</a>.</p>')
    cleaned = clean_item(raw)
    e = Entry(story_id=1, revision=1, entry_id="tag:x", item=cleaned, source_title="Orig",
              source_url="https://orig.example/", updated=datetime.now(UTC))
    assert apply_attribution('<p>First published at <a href="{source_link}">{source_title}</a>.</p>', e) == (
        '<p>Article.</p>\n<p>First published at <a href="https://orig.example/p/">Orig</a>.</p>')

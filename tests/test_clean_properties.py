"""Properties of the cleaner on arbitrary HTML (hypothesis): it never raises, its HTML output is
a fixed point (`clean(clean(x)) == clean(x)`), and the output is inert (tests/support/inert.py:
no disallowed tag, attribute or URL scheme)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.clean import CleanRules, clean_html
from tests.support.inert import problems

TAGS = ["p", "div", "span", "a", "img", "iframe", "script", "style", "svg", "math", "table", "tr", "td",
        "pre", "code", "br", "noscript", "template", "form", "b", "i", "li", "ul", "figure", "figcaption",
        "select", "option", "textarea", "title", "xmp", "image", "object", "embed", "base", "meta",
        "blockquote", "small", "section", "video", "source", "picture", "o:p", "x-custom", "plaintext",
        "h2", "hr", "mglyph", "malignmark", "frameset", "body", "html", "head"]
ATTRIBUTES = ["href", "src", "srcset", "style", "onclick", "onerror", "class", "id", "data-src",
              "data-lazy-src", "data-srcset", "width", "height", "hidden", "sandbox", "srcdoc",
              "xlink:href", "cite", "poster", "action", "formaction", "allowfullscreen", "title"]
VALUES = ["javascript:alert(1)", "jav&#x09;ascript:alert(1)", " \u2028javascript:x", "vbscript:x",
          "https://ok.example/a?utm_source=feed&id=1", "/relative/path", "rel.jpg 1x, big.jpg 2x",
          "data:text/html,<script>alert(1)</script>", "data:image/png;base64,AAAA",
          "https://www.youtube.com/embed/abc", "//player.vimeo.com/video/1", "https://evil.example/",
          "sharedaddy", "wpematico_credit", "more-link", "1", "0", "display:none",
          "expression(alert(1))", "x\" onmouseover=\"alert(1)", "", "&quot;&gt;&lt;script&gt;"]
WORDS = ["Powered by WPeMatico", "Continue reading →", "[…]", "[&#8230;]", "photo.jpg", "Read more",
         "The post <a href='https://a.example/p'>P</a> appeared first on <a href='https://a.example'>A</a>.",
         "Source: ", "&amp;", "&nbsp;", "&#0;", "&#x1;", "<!-- c -->", "<![CDATA[x]]>", "</p>", "</div>",
         "<", ">", "&", "\n", "  ", "\t", "\u00a0", "\u200b", "word", "Слово", "字", "\ufeff"]


@st.composite
def attributes(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(st.sampled_from(ATTRIBUTES), st.sampled_from(VALUES)), max_size=3))
    return "".join(f' {name}="{value}"' for name, value in pairs)


def fragments() -> st.SearchStrategy[str]:
    text = st.one_of(st.sampled_from(WORDS), st.text(max_size=12))

    def element(children: st.SearchStrategy[list[str]]) -> st.SearchStrategy[str]:
        return st.builds(
            lambda tag, attrs, inner, close: f"<{tag}{attrs}>{''.join(inner)}" + (f"</{tag}>" if close else ""),
            st.sampled_from(TAGS), attributes(), children, st.booleans(),
        )

    return st.recursive(text, lambda inner: element(st.lists(inner, max_size=4)), max_leaves=25)


SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _check(html: str, rules: CleanRules | None = None) -> None:
    first = clean_html(html, base_url="https://blog.example/2024/05/post/", rules=rules)
    assert not problems(first.html), (problems(first.html), first.html)
    second = clean_html(first.html, base_url="https://blog.example/2024/05/post/", rules=rules)
    assert second.html == first.html
    assert "\x00" not in first.text and len(first.summary) <= 301


@SETTINGS
@given(st.lists(fragments(), max_size=6).map("".join))
def test_generated_html(html: str) -> None:
    _check(html)


@SETTINGS
@given(st.lists(fragments(), max_size=4).map("".join), st.booleans(), st.booleans())
def test_generated_html_with_feed_rules(html: str, strip_links: bool, strip_images: bool) -> None:
    rules = CleanRules(remove=["div > span", ".x"], strip_links=strip_links,
                       images="strip" if strip_images else "keep", summary_chars=40)
    _check(html, rules)


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(max_size=200))
def test_arbitrary_text(html: str) -> None:
    _check(html)

"""Identity keys: per-feed keys, cross-feed exact keys, title normalisation (pure functions)."""

from __future__ import annotations

from feedrelay.items import Item
from store.identity import (
    exact_keys,
    numbered_titles_match,
    per_feed_keys,
    plain_title,
    text_hash,
    title_overlap,
    titles_conflict,
    url_key,
)

TEXT = " ".join(f"word{i}" for i in range(40))


def item(**values: object) -> Item:
    base: dict[str, object] = {"feed": "f", "guid": None, "link": None, "title": "T", "text": TEXT}
    base.update(values)
    return Item(**base)  # type: ignore[arg-type]


def test_guid_wins_then_link_then_hash() -> None:
    keys = per_feed_keys([item(guid="g1", link="https://a.example/1"), item(link="https://a.example/2"),
                          item(title="Only a title")])
    assert [k[:2] for k in keys] == ["g:", "l:", "h:"]


def test_repeated_guid_in_one_document_gives_distinct_keys() -> None:
    items = [item(guid="same", link=f"https://a.example/{n}") for n in range(10)]
    assert len(set(per_feed_keys(items))) == 10


def test_repeated_guid_without_links_is_told_apart_by_content() -> None:
    items = [item(guid="same", title=f"Post {n}", text=f"{TEXT} {n}") for n in range(4)]
    assert len(set(per_feed_keys(items))) == 4


def test_repeated_guid_keys_are_stable_across_fetches() -> None:
    first = per_feed_keys([item(guid="same", link=f"https://a.example/{n}") for n in range(3)])
    again = per_feed_keys([item(guid="same", link=f"https://a.example/{n}") for n in (2, 1, 0)])
    assert set(first) == set(again)


def test_link_mode_ignores_guid_and_tracking_parameters() -> None:
    one = per_feed_keys([item(guid="v1", link="https://a.example/p/?utm_source=rss")], "link")
    two = per_feed_keys([item(guid="v2", link="http://www.a.example/p")], "link")
    assert one == two


def test_hash_mode_ignores_whitespace_and_entities_in_title() -> None:
    one = per_feed_keys([item(guid="a", title="Say &quot;hi&quot;", text="x  y\n z")], "hash")
    two = per_feed_keys([item(guid="b", title='Say "hi"', text="x y z")], "hash")
    assert one == two


def test_url_key_normalises_scheme_host_port_tracking_fragment_slash() -> None:
    variants = ["https://Example.com/a/b/", "http://www.example.com:80/a/b", "https://example.com:443/a/b#top",
                "https://example.com/a/b?utm_source=x&fbclid=y"]
    assert len({url_key(v) for v in variants}) == 1
    assert url_key("https://example.com/a/c") != url_key(variants[0])


def test_exact_keys_include_source_link_and_text_hash_but_not_home_pages() -> None:
    copy = item(link="https://aggregator.example/123/", source_link="https://origin.example/post/")
    keys = dict(exact_keys(copy))
    assert keys[url_key("https://origin.example/post/")] == "source-link"
    assert keys[url_key("https://aggregator.example/123/")] == "canonical-url"
    assert "t:" + text_hash(TEXT) in keys
    credited_home = item(link="https://aggregator.example/9/", source_link="https://origin.example/")
    assert url_key("https://origin.example/") not in dict(exact_keys(credited_home))


def test_short_texts_have_no_text_hash() -> None:
    assert text_hash("too short to identify anything") is None


def test_text_hash_ignores_case_punctuation_whitespace() -> None:
    assert text_hash(TEXT.upper().replace(" ", " ,\n ")) == text_hash(TEXT)


def test_plain_title_decodes_entities_drops_source_prefix_and_whitespace() -> None:
    assert plain_title("[Origin Site]  Minister&#8217;s &amp;quot;no&amp;quot;\n to plan ") == "Minister’s \"no\" to plan"
    assert plain_title("(Reuters) Markets <b>rally</b>") == "Markets rally"
    assert plain_title("[Only brackets]") == "[Only brackets]"


def test_title_overlap_tolerates_prefix_and_suffix() -> None:
    assert title_overlap("Markets rally again", "[Wire] Markets rally again &#8211; Herald") == 1.0
    assert title_overlap("Markets rally again", "Something else entirely") == 0.0


def test_numbers_in_titles_mark_recurring_posts() -> None:
    assert titles_conflict("Daily briefing for 27 November", "Daily briefing for 28 November")
    assert titles_conflict("Ежедневная сводка за 3 декабря", "Ежедневная сводка за 4 декабря")
    assert not titles_conflict("Daily briefing for 27 November", "[Copy] Daily briefing for 27 November")
    assert not titles_conflict("Election results", "Election results 2026")


def test_numbered_titles_match_only_the_same_instance() -> None:
    assert numbered_titles_match("Daily briefing for 6 November", "[Site] Daily briefing for 6 November")
    assert not numbered_titles_match("Daily briefing for 6 November", "Daily briefing for 7 November")
    assert not numbered_titles_match("Weekly update", "Weekly update")

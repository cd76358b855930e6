"""WordPress REST API enrichment of feed items, against a loopback "WordPress" site."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from feedrelay.items import Item
from ingest.fetch import FetchState
from ingest.wpapi import api_site, apply_posts, enrich, looks_like_wordpress, posts_url
from tests.support.server import LocalServer, Request, Response

WP_FEED = b"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Site</title>
<link>https://site.example/</link><generator>https://wordpress.org/?v=6.6</generator></channel></rss>"""


def posts(base: str) -> list[dict]:
    return [
        {"id": 11, "link": f"{base}/2026/11/first/", "modified_gmt": "2026-11-27T09:30:00",
         "_embedded": {"wp:term": [[{"taxonomy": "category", "name": "News"}],
                                   [{"taxonomy": "post_tag", "name": "minsk"}, {"taxonomy": "post_tag", "name": "rail"}]],
                       "wp:featuredmedia": [{"source_url": f"{base}/wp-content/uploads/first.jpg"}]}},
        {"id": 12, "link": f"{base}/2026/11/second/", "modified_gmt": "2026-11-27T10:00:00",
         "_embedded": {"wp:term": [[{"taxonomy": "category", "name": "Sport"}], []]}},
    ]


def items(base: str) -> list[Item]:
    return [
        Item(feed="wp", guid=f"{base}/?p=11", link=f"{base}/2026/11/first/?utm_source=rss", title="First",
             categories=["News", "minsk", "rail"]),
        Item(feed="wp", guid="urn:uuid:x", link=f"{base}/2026/11/second/", title="Second", categories=["Sport"]),
        Item(feed="wp", guid="urn:uuid:y", link=f"{base}/2026/11/elsewhere/", title="Not in the API"),
    ]


@pytest.fixture
def site():
    with LocalServer() as server:
        yield server


def api(site: LocalServer, status: int = 200, body: bytes | None = None):
    def answer(request: Request) -> Response:
        query = parse_qs(urlsplit(request.path).query)
        if query.get("rest_route") != ["/wp/v2/posts"]:
            return Response(404)
        return Response(status, body if body is not None else json.dumps(posts(site.url("").rstrip("/"))).encode(),
                        {"Content-Type": "application/json"})
    site.route("/", answer)


def test_categories_tags_image_and_modified_from_one_request(site, fetcher):
    api(site)
    base = site.url("").rstrip("/")
    batch = items(base)
    assert enrich(fetcher, batch, mode="auto", site_url=site.url("/"), body=WP_FEED) == []
    first, second, third = batch
    assert first.categories == ["News"] and first.tags == ["minsk", "rail"] and first.wp_id == 11
    assert first.image == f"{base}/wp-content/uploads/first.jpg"
    assert first.updated.isoformat() == "2026-11-27T09:30:00+00:00"
    assert second.categories == ["Sport"] and second.tags == [] and second.image is None
    assert third.categories == [] and third.wp_id is None
    assert len(site.requests) == 1
    assert parse_qs(urlsplit(site.requests[0].path).query)["_embed"] == ["wp:term,wp:featuredmedia"]


def test_off_and_non_wordpress_auto_make_no_request(site, fetcher):
    api(site)
    batch = items(site.url("").rstrip("/"))
    assert enrich(fetcher, batch, mode="off", site_url=site.url("/"), body=WP_FEED) == []
    assert enrich(fetcher, batch, mode="auto", site_url=site.url("/"), body=b"<rss><channel/></rss>") == []
    assert site.requests == [] and batch[0].tags == []


def test_on_forces_the_request_and_link_header_enables_auto(site, fetcher):
    api(site)
    assert enrich(fetcher, items(site.url("").rstrip("/")), mode="on", site_url=site.url("/"), body=b"<rss/>") == []
    assert enrich(fetcher, items(site.url("").rstrip("/")), mode="auto", site_url=site.url("/"), body=b"<rss/>",
                  api_root=site.url("/wp-json/")) == []
    assert len(site.requests) == 2


@pytest.mark.parametrize("status,body", [(500, b"oops"), (200, b"<html>not json</html>"), (200, b'{"code": 1}'),
                                         (200, b'[{"id": 11, "_embedded": []}]')])
def test_failures_fall_back_to_the_feed(site, fetcher, status, body):
    api(site, status, body)
    batch = items(site.url("").rstrip("/"))
    warnings = enrich(fetcher, batch, mode="auto", site_url=site.url("/"), body=WP_FEED)
    assert len(warnings) == 1 and "WordPress API" in warnings[0]
    assert batch[0].categories == ["News", "minsk", "rail"] and batch[0].tags == []


def test_fetch_reports_the_api_root_from_the_link_header(site, fetcher):
    site.route("/feed/", Response(200, WP_FEED, {"Content-Type": "application/rss+xml",
                                                 "Link": '<https://site.example/wp-json/>; rel="https://api.w.org/"'}))
    result = fetcher.fetch(FetchState(site.url("/feed/")))
    assert result.api_root == "https://site.example/wp-json/"
    assert looks_like_wordpress(WP_FEED, None) and not looks_like_wordpress(b"<rss/>", None)


def test_posts_url_and_matching_by_link():
    assert posts_url("https://site.example/blog", 3).startswith("https://site.example/blog/?rest_route=%2Fwp%2Fv2%2Fposts")
    item = Item(feed="wp", guid=None, link="http://www.site.example/a/", title="A")
    assert apply_posts([item], [{"id": 5, "link": "https://site.example/a"}]) == 1 and item.wp_id == 5


def test_pipeline_stores_enriched_items(site, tmp_path):
    from sqlalchemy import select

    from feedrelay.config import load_config
    from feedrelay.pipeline import Relay
    from store import models

    base = site.url("").rstrip("/")
    feed = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Site</title>'
            f"<link>{base}/</link><generator>https://wordpress.org/?v=6.6</generator>"
            f"<item><title>First</title><link>{base}/2026/11/first/</link><guid>{base}/?p=11</guid>"
            f"<category>News</category><category>minsk</category><category>rail</category>"
            f"<description>The first story of the day, told at some length.</description></item>"
            f"</channel></rss>").encode()
    site.route("/feed/", Response(200, feed, {"Content-Type": "application/rss+xml"}))
    api(site)
    config = tmp_path / "config.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'relay.db'}\nhttp:\n  allow_private_networks: true\n"
                      f"feeds:\n  - name: wp\n    url: {site.url('/feed/')}\n")
    with Relay(load_config(config)) as relay:
        outcome = relay.poll("wp")
        assert outcome.new == 1 and not outcome.warnings
        with relay.sessions() as session:
            data = session.scalars(select(models.Item.data)).one()
    assert data["categories"] == ["News"] and data["tags"] == ["minsk", "rail"] and data["wp_id"] == 11
    assert data["image"] == f"{base}/wp-content/uploads/first.jpg"


def _wp_feed(base: str, posts_: list[tuple[int, str]], build: str) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{base}/2026/11/{title.lower()}/</link><guid>{base}/?p={wp_id}</guid>"
        f"<category>News</category><category>minsk</category>"
        f"<description>The {title.lower()} story of the day, told at some length.</description></item>"
        for wp_id, title in posts_)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Site</title>'
            f"<link>{base}/</link><lastBuildDate>{build}</lastBuildDate>"
            f"<generator>https://wordpress.org/?v=6.6</generator>{entries}</channel></rss>").encode()


def test_pipeline_asks_the_api_only_for_fetches_that_bring_new_items(site, tmp_path):
    """One API request per fetch with new or changed items, for those items only; a feed whose
    body changed around the same items (a new lastBuildDate) makes none, and keeps the
    categories the API gave when the items were first stored."""
    from sqlalchemy import select

    from feedrelay.config import load_config
    from feedrelay.pipeline import Relay
    from store import models

    base = site.url("").rstrip("/")
    api(site)
    config = tmp_path / "config.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'relay.db'}\nhttp:\n  allow_private_networks: true\n"
                      f"feeds:\n  - name: wp\n    url: {site.url('/feed/')}\n")

    def api_requests() -> list[dict[str, list[str]]]:
        return [parse_qs(urlsplit(r.path).query) for r in site.requests if "rest_route" in r.path]

    def serve(posts_: list[tuple[int, str]], build: str) -> None:
        site.route("/feed/", Response(200, _wp_feed(base, posts_, build), {"Content-Type": "application/rss+xml"}))

    with Relay(load_config(config)) as relay:
        serve([(11, "First")], "Fri, 27 Nov 2026 09:00:00 GMT")
        assert relay.poll("wp").new == 1 and len(api_requests()) == 1
        serve([(11, "First")], "Fri, 27 Nov 2026 09:05:00 GMT")
        outcome = relay.poll("wp")
        assert outcome.outcome == "ok" and outcome.new == 0 and not outcome.warnings
        assert len(api_requests()) == 1  # same items, new build date: no request
        serve([(12, "Second"), (11, "First")], "Fri, 27 Nov 2026 10:00:00 GMT")
        assert relay.poll("wp").new == 1
        assert len(api_requests()) == 2 and api_requests()[1]["per_page"] == ["10"]
        with relay.sessions() as session:
            data = {row.title: row.data for row in session.scalars(select(models.Item))}
    assert data["First"]["categories"] == ["News"] and data["First"]["tags"] == ["minsk", "rail"]
    assert data["Second"]["categories"] == ["Sport"] and data["Second"]["wp_id"] == 12


def test_a_feed_read_from_a_local_file_asks_no_api(tmp_path, monkeypatch):
    """The bundled samples are WordPress feeds of made-up sites: reading them must not look
    those sites up (it sent DNS queries off this machine from the quick start and the tests)."""
    import ingest.netguard
    from feedrelay.config import load_config
    from feedrelay.pipeline import Relay

    looked_up: list[str] = []
    monkeypatch.setattr(ingest.netguard, "system_resolver", lambda host, port: looked_up.append(host) or [])
    (tmp_path / "wp.xml").write_bytes(_wp_feed("https://made-up-site.example", [(11, "First")], "Fri, 27 Nov 2026"))
    config = tmp_path / "config.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'relay.db'}\nfeeds:\n  - name: wp\n    url: wp.xml\n"
                      "    wordpress_api: on\n")
    with Relay(load_config(config)) as relay:
        outcome = relay.poll("wp")
    assert outcome.new == 1 and not outcome.warnings and looked_up == []


@pytest.mark.parametrize(("mode", "feed_url", "link", "api_root", "asked"), [
    ("auto", "https://site.example/feed/", "https://site.example/", None, "https://site.example/"),
    ("auto", "http://127.0.0.1:8080/mirror.xml", "https://made-up.example/", None, None),  # another host
    ("auto", "https://cdn.example/feed", "https://site.example/", "https://site.example/wp-json/",
     "https://site.example/"),  # the answer advertised that site's API
    ("on", "https://cdn.example/feed", "https://site.example/", None, "https://site.example/"),
    ("on", "/srv/feeds/local.xml", "https://site.example/", None, None),  # a local file
    ("off", "https://site.example/feed/", "https://site.example/", None, None),
])
def test_which_site_is_asked(mode, feed_url, link, api_root, asked):
    assert api_site(mode, feed_url, link, api_root, WP_FEED) == asked

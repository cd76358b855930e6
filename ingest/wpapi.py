"""Enrich items of WordPress feeds from the site's REST API: true categories vs tags, featured image,
modified date.

WordPress's RSS lists tags as `<category>` too and carries no featured image. One request to
`/?rest_route=/wp/v2/posts` (with `_embed` for terms and media) per fetch that brought new or
changed items — never one per item, none when the feed only repeats what is stored — gives the
real taxonomy. Posts are matched to items by WordPress id (from a
`?p=123` guid) or by link. Any failure leaves the items as the feed gave them, with a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from feedrelay.items import Item
from ingest.fetch import Fetcher, FetchError
from ingest.urls import canonical_url

Mode = Literal["auto", "on", "off"]
MAX_RESPONSE = 5 * 1024 * 1024
_GENERATOR = re.compile(rb"<generator[^>]*>\s*https?://wordpress\.(?:org|com)/|generator\s+uri=[\"']https?://wordpress\.(?:org|com)/",
                        re.IGNORECASE)
_POST_ID = re.compile(r"[?&]p=(\d+)(?:&|$)")


def looks_like_wordpress(body: bytes | None, api_root: str | None) -> bool:
    """True when the site advertises the WordPress REST API or the feed names WordPress as generator."""
    return bool(api_root) or bool(body and _GENERATOR.search(body[:8192]))


def api_site(mode: Mode, feed_url: str, site_link: str | None, api_root: str | None,
             body: bytes | None = None) -> str | None:
    """The site whose REST API is asked about a fetched feed's items, or None (`wanted` says no).

    Only feeds fetched over HTTP(S) (a local file's links name no site of ours). With `auto`, only
    a WordPress feed (`body`), and only the host that served it, or the one its answer advertised
    as API root: a channel link to another host (a mirror, a made-up sample site) is not looked
    up. `on` asks the channel's site whatever its host."""
    if urlsplit(feed_url).scheme.lower() not in ("http", "https") or not wanted(mode, body, api_root):
        return None
    site = site_link or feed_url
    if mode == "on":
        return site
    trusted = {urlsplit(url).hostname for url in (feed_url, api_root) if url}
    return site if urlsplit(site).hostname in trusted else None


def posts_url(site_url: str, count: int) -> str:
    """`<site>/?rest_route=/wp/v2/posts&…`, which works with and without pretty permalinks."""
    parts = urlsplit(site_url)
    query = urlencode({"rest_route": "/wp/v2/posts", "per_page": max(10, min(count, 100)),
                       "_embed": "wp:term,wp:featuredmedia"})
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/", query, ""))


def _post_id(guid: str | None) -> int | None:
    match = _POST_ID.search(guid or "")
    return int(match.group(1)) if match else None


def _terms(post: dict[str, Any], taxonomy: str) -> list[str]:
    groups = post.get("_embedded", {}).get("wp:term") or []
    return [term["name"] for group in groups for term in group or []
            if isinstance(term, dict) and term.get("taxonomy") == taxonomy and term.get("name")]


def _featured_image(post: dict[str, Any]) -> str | None:
    media = post.get("_embedded", {}).get("wp:featuredmedia") or []
    first = media[0] if media and isinstance(media[0], dict) else {}
    return first.get("source_url") or None


def _modified(post: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(post["modified_gmt"]).replace(tzinfo=UTC)
    except (KeyError, TypeError, ValueError):
        return None


def apply_posts(items: Iterable[Item], posts: list[dict[str, Any]]) -> int:
    """Copy taxonomy, image and modified date from matching posts onto items; returns how many matched."""
    by_id = {post["id"]: post for post in posts if isinstance(post.get("id"), int)}
    by_link = {canonical_url(post.get("link")): post for post in posts if post.get("link")}
    matched = 0
    for item in items:
        post = by_id.get(item.wp_id or _post_id(item.guid)) or by_link.get(canonical_url(item.link))
        if post is None:
            continue
        matched += 1
        item.wp_id = post.get("id") if isinstance(post.get("id"), int) else item.wp_id
        categories, tags = _terms(post, "category"), _terms(post, "post_tag")
        if categories or tags:
            item.categories, item.tags = categories, tags
        item.image = item.image or _featured_image(post)
        item.updated = _modified(post) or item.updated
    return matched


def wanted(mode: Mode, body: bytes | None, api_root: str | None) -> bool:
    """Whether `mode` asks for the API for a feed with this body and advertised API root."""
    return mode == "on" or (mode == "auto" and looks_like_wordpress(body, api_root))


def enrich(fetcher: Fetcher, items: list[Item], *, mode: Mode, site_url: str | None, body: bytes | None,
           api_root: str | None = None) -> list[str]:
    """Enrich `items` in place from the site's REST API when `mode` asks for it; returns warnings."""
    if not items or not site_url or not wanted(mode, body, api_root):
        return []
    url = posts_url(site_url, len(items))
    try:
        data, _ = fetcher.get_bytes(url, max_bytes=MAX_RESPONSE, accept="application/json")
        posts = json.loads(data)
    except (FetchError, ValueError) as exc:
        return [f"WordPress API not used ({exc}); items kept as the feed gave them"]
    if not isinstance(posts, list):
        return ["WordPress API answered something other than a list of posts; items kept as the feed gave them"]
    try:
        matched = apply_posts(items, [p for p in posts if isinstance(p, dict)])
    except (AttributeError, KeyError, TypeError) as exc:  # an unexpected shape: keep what we have
        return [f"WordPress API answer not understood ({type(exc).__name__}: {exc})"]
    return [] if matched or mode == "auto" else ["WordPress API matched none of the feed's items"]

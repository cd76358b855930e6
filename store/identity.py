"""Identity keys: which stored item an incoming item is (per feed), and which story (across feeds).

Pure functions; `store.stories` uses them against the database.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from urllib.parse import urlsplit

from feedrelay.items import Item
from ingest.urls import canonical_url

MIN_TEXT_WORDS = 25
_WORD = re.compile(r"\w+", re.UNICODE)
# Diacritic blocks only (é→e, ё→е, й→и): vowel signs of other scripts are letters and stay.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_TAG = re.compile(r"<[^>]+>")
_TITLE_PREFIX = re.compile(r"^\s*(\[[^\]]{1,60}\]|\([^)]{1,60}\)|【[^】]{1,60}】)\s*")
_DIGITS = re.compile(r"\d+")


def digest(value: str) -> str:
    """A short stable hash (40 hex chars of SHA-1) of `value`."""
    return hashlib.sha1(value.encode("utf-8", "surrogatepass")).hexdigest()


def words(text: str) -> list[str]:
    """Lower-cased, accent-folded word tokens of `text` (any script)."""
    folded = _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))
    return _WORD.findall(folded)


@lru_cache(maxsize=512)
def text_words(text: str) -> tuple[str, ...]:
    """`words` of a text, remembered: storing an item tokenises its text for its text key, its
    fingerprint and its comparisons, and copies compare against the same stored texts."""
    return tuple(words(text))


@lru_cache(maxsize=256)
def text_hash(text: str) -> str | None:
    """Hash of the normalised clean text, or None when too short to identify an article.

    Cached: storing an item asks for it several times (row, keys)."""
    tokens = text_words(text)
    if len(tokens) < MIN_TEXT_WORDS:
        return None
    return digest(" ".join(tokens))


def plain_title(title: str) -> str:
    """A title as a reader sees it: entities decoded (also double-encoded ones), tags removed,
    a bracketed source prefix ("[Source] ", "(Site) ") dropped, whitespace collapsed."""
    value = title
    for _ in range(3):
        decoded = html.unescape(value)
        if decoded == value:
            break
        value = decoded
    value = _TAG.sub(" ", value)
    value = unicodedata.normalize("NFKC", value)
    stripped = _TITLE_PREFIX.sub("", value)
    return " ".join((stripped if stripped.strip() else value).split())


def title_words(title: str) -> list[str]:
    """Comparison tokens of a title (see `plain_title` and `words`)."""
    return words(plain_title(title))


def title_overlap(a: str, b: str) -> float:
    """Share of the shorter title's words found in the other (robust to prefixes/suffixes)."""
    left, right = set(title_words(a)), set(title_words(b))
    if not left or not right:
        return 0.0
    return len(left & right) / min(len(left), len(right))


def titles_conflict(a: str, b: str) -> bool:
    """True when two titles carry different numbers ("Briefing for 27 November" vs "… 28 …",
    "Episode 41" vs "Episode 42"): a recurring post, never the same article. Numbers one title
    adds to the other's ("3 villages evacuated | News 24", "… 2026") are a suffix, no conflict."""
    left = set(_DIGITS.findall(plain_title(a)))
    right = set(_DIGITS.findall(plain_title(b)))
    return bool(left) and bool(right) and not (left <= right or right <= left)


BOILERPLATE_WORDS = 120  # a text this short may be boilerplate repeated under other titles
BOILERPLATE_TITLE_OVERLAP = 0.2


def titles_agree(a: str, b: str, *, length: int) -> bool:
    """Whether two titles allow their items' texts (`length` words, the shorter one) to be one
    article: no other numbers, and, for a text as short as boilerplate (show notes, a paywall
    stub), some words in common."""
    return not titles_conflict(a, b) and (
        length >= BOILERPLATE_WORDS or title_overlap(a, b) >= BOILERPLATE_TITLE_OVERLAP)


def numbered_titles_match(a: str, b: str) -> bool:
    """True when both titles carry the same numbers and one's words all appear in the other
    ("Daily briefing for 6 November" and "[Site] Daily briefing for 6 November")."""
    numbers = set(_DIGITS.findall(plain_title(a)))
    return bool(numbers) and numbers == set(_DIGITS.findall(plain_title(b))) and title_overlap(a, b) == 1.0


def raw_hash(item: Item, salt: str) -> str:
    """Hash of an item as parsed, before cleaning, with `salt` naming what cleans it (rules, version)."""
    return digest(salt + "\x1f" + json.dumps(item.to_json(), sort_keys=True, ensure_ascii=False))


def content_hash(item: Item) -> str:
    """Hash of what a revision is made of: title, clean content, enclosures and deletion."""
    parts = [item.title, item.content_html, "|".join(e.url for e in item.enclosures), str(item.deleted)]
    return digest("\x1f".join(parts))


def per_feed_keys(items: list[Item], guid_mode: str = "guid") -> list[str]:
    """The per-feed identity key of each item: GUID, else link, else title+content hash.

    A GUID (or link) repeated inside one document is disambiguated with the item's link or
    content, so ten items sharing one GUID stay ten items. `guid_mode` "link" or "hash" is
    the per-feed fallback for feeds whose GUIDs are unusable.
    """
    raw = [_raw_key(item, guid_mode) for item in items]
    counts = Counter(raw)
    keys = []
    for item, key in zip(items, raw, strict=True):
        if counts[key] > 1:
            extra = item.link if key.startswith("g:") and item.link else _hash_basis(item)
            key = key[:2] + digest(key + "\x1f" + extra)
        keys.append(key[:80])
    return keys


def _raw_key(item: Item, guid_mode: str) -> str:
    if guid_mode == "guid" and item.guid:
        return "g:" + digest(item.guid)
    if guid_mode in ("guid", "link") and item.link:
        return "l:" + digest(canonical_url(item.link) or item.link)
    return "h:" + digest(_hash_basis(item))


def _hash_basis(item: Item) -> str:
    body = " ".join(text_words(item.text)) if item.text else item.content_html
    return f"{' '.join(title_words(item.title))}\x1f{body}"


@lru_cache(maxsize=4096)
def url_key(url: str | None) -> str | None:
    """The cross-feed key of a URL (canonical form hashed), or None.

    Cached: storing an item asks for its link's and source link's keys several times."""
    canonical = canonical_url(url)
    return "u:" + digest(canonical) if canonical else None


def is_site_root(url: str | None) -> bool:
    """True for a bare site address (no path, no query): a home page, never one article."""
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.path.strip("/") == "" and not parts.query


def exact_keys(item: Item) -> list[tuple[str, str]]:
    """Cross-feed exact keys of an item with the reason each stands for.

    The item's own canonical link, the original permalink a copy carries (`source_link`), and
    the hash of its normalised text. The same `u:` namespace for link and source link means a
    copy that credits the original's URL lands on the original's story. Home-page URLs are no
    article's identity and give no key.
    """
    keys: list[tuple[str, str]] = []
    for url, reason in ((item.source_link, "source-link"), (item.link, "canonical-url")):
        key = None if is_site_root(url) else url_key(url)
        if key and key not in (k for k, _ in keys):
            keys.append((key, reason))
    hashed = text_hash(item.text)
    if hashed:
        keys.append(("t:" + hashed, "text-hash"))
    return keys

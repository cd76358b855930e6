"""The small typed values that flow between the stages: ingest → store → publish.

`Item` is one normalized feed entry after cleaning. `Entry` is what a target receives: one
revision of one story (its representative item plus story bookkeeping). Stages depend on these
values only, never on each other's internals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A media attachment (podcast audio, image, video)."""

    url: str
    type: str | None = None
    length: int | None = None


@dataclass(slots=True)
class Item:
    """One normalized entry of a source feed.

    `content_html` is clean (sanitised) HTML; `text` is its plain text, used for dedup and
    summaries. Datetimes are timezone-aware UTC. `source_link` is the original permalink a
    syndicated copy carries (a "appeared first on" footer, a WPeMatico source link), if any.
    """

    feed: str
    guid: str | None
    link: str | None
    title: str
    content_html: str = ""
    text: str = ""
    summary: str = ""
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    updated: datetime | None = None
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    enclosures: list[Enclosure] = field(default_factory=list)
    image: str | None = None
    language: str | None = None
    source_link: str | None = None
    deleted: bool = False
    litter: list[str] = field(default_factory=list)
    wp_id: int | None = None
    base: str | None = None  # an Atom xml:base for the content's relative links (else they follow `link`)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (datetimes as ISO 8601) that `from_json` reads back."""
        data = {name: getattr(self, name) for name in _ITEM_FIELDS}  # a shallow copy: lists below
        for key in ("authors", "categories", "tags", "litter"):
            data[key] = list(data[key])
        data["enclosures"] = [{"url": e.url, "type": e.type, "length": e.length} for e in self.enclosures]
        for key in ("published", "updated"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        """Rebuild an item stored with `to_json`; unknown keys are ignored."""
        values = {k: v for k, v in data.items() if k in _ITEM_FIELD_SET}
        for key in ("published", "updated"):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        values["enclosures"] = [Enclosure(**e) for e in values.get("enclosures") or []]
        return cls(**values)

    @property
    def date(self) -> datetime | None:
        """The best date the source gave: published, else updated."""
        return self.published or self.updated


_ITEM_FIELDS = tuple(f.name for f in dataclasses.fields(Item))
_ITEM_FIELD_SET = frozenset(_ITEM_FIELDS)


@dataclass(slots=True)
class Entry:
    """One revision of one story, as a target receives it.

    `entry_id` is stable across revisions (a `tag:` URI); `updated` moves on every revision.
    A retracted story (deleted at its source) arrives with `retracted=True`.
    """

    story_id: int
    revision: int
    entry_id: str
    item: Item
    source_title: str
    source_url: str | None
    updated: datetime
    retracted: bool = False
    copies: int = 1


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)

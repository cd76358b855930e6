"""Building `Entry` values and an in-memory `Archive` for target tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from feedrelay.items import Enclosure, Entry, Item

BASE_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_entry(story_id: int, *, revision: int = 1, title: str | None = None, **item_fields: object) -> Entry:
    """An entry of story `story_id` with a full item (categories, tags, enclosure, image)."""
    values: dict[str, object] = {
        "feed": "source-blog",
        "guid": f"https://source.example/?p={story_id}",
        "link": f"https://source.example/story-{story_id}/",
        "title": title or f"Story {story_id}",
        "content_html": f"<p>Body of story {story_id} with <a href=\"https://x.example/\">a link</a>.</p>",
        "text": f"Body of story {story_id} with a link.",
        "summary": f"Body of story {story_id}",
        "authors": ["Ada Writer"],
        "published": BASE_TIME + timedelta(minutes=story_id % 100_000),
        "categories": ["News"],
        "tags": ["python", "feeds"],
        "enclosures": [Enclosure(f"https://cdn.example/{story_id}.mp3", "audio/mpeg", 1234)],
        "image": f"https://cdn.example/{story_id}.jpg",
        "source_link": f"https://origin.example/original-{story_id}/",
    }
    values.update(item_fields)
    item = Item(**values)  # type: ignore[arg-type]
    return Entry(
        story_id=story_id,
        revision=revision,
        entry_id=f"tag:feedrelay.invalid,2026:story/{story_id}",
        item=item,
        source_title="Source Blog",
        source_url="https://source.example/",
        updated=BASE_TIME + timedelta(minutes=story_id % 100_000, seconds=revision),
    )


def revise(entry: Entry, **item_fields: object) -> Entry:
    """The next revision of `entry` with changed item fields and a later `updated`."""
    return replace(entry, revision=entry.revision + 1, item=replace(entry.item, **item_fields),
                   updated=entry.updated + timedelta(days=1))


class ListArchive:
    """An `Archive` over a dict of entries by story id (retracted ones are not live)."""

    def __init__(self, entries: list[Entry] | None = None) -> None:
        self.stories: dict[int, Entry] = {e.story_id: e for e in entries or []}

    def put(self, entry: Entry) -> None:
        self.stories[entry.story_id] = entry

    def _live(self) -> list[Entry]:
        live = [e for e in self.stories.values() if not e.retracted]
        return sorted(live, key=lambda e: (e.updated, e.story_id), reverse=True)

    def count(self) -> int:
        return len(self._live())

    def entries(self, limit: int, offset: int = 0) -> list[Entry]:
        return self._live()[offset:offset + limit]

    def versions(self, limit: int, offset: int = 0) -> list[tuple[int, int]]:
        return [(e.story_id, e.revision) for e in self._live()[offset:offset + limit]]

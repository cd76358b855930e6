"""Pieces several targets share: dates, media types, source details, the JSON Feed item shape and
atomic file writes."""

from __future__ import annotations

import mimetypes
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from feedrelay.items import Entry
from publish.attribution import apply_attribution


def published_at(entry: Entry) -> datetime:
    """When the story was first published: the source's date, else this revision's time."""
    return entry.item.date or entry.updated


def mime_type(url: str, declared: str | None) -> str:
    """The declared media type of an enclosure, else a guess from its URL."""
    return declared or mimetypes.guess_type(url.split("?")[0])[0] or "application/octet-stream"


def source_info(entry: Entry) -> dict[str, Any]:
    """Where the story comes from: source feed title and URL, and the original article link."""
    return {
        "title": entry.source_title,
        "url": entry.source_url,
        "link": entry.item.source_link or entry.item.link,
    }


def json_feed_item(entry: Entry, attribution: str | None) -> dict[str, Any]:
    """A JSON Feed 1.1 item for the entry, with feedrelay's `_feedrelay` extension object."""
    item = entry.item
    data: dict[str, Any] = {"id": entry.entry_id}
    if item.link:
        data["url"] = item.link
    if item.source_link and item.source_link != item.link:
        data["external_url"] = item.source_link
    data["title"] = item.title
    data["content_html"] = apply_attribution(attribution, entry)
    if item.summary:
        data["summary"] = item.summary
    if item.image:
        data["image"] = item.image
    data["date_published"] = published_at(entry).isoformat()
    data["date_modified"] = entry.updated.isoformat()
    if item.authors:
        data["authors"] = [{"name": name} for name in item.authors]
    tags = list(dict.fromkeys([*item.categories, *item.tags]))
    if tags:
        data["tags"] = tags
    if item.language:
        data["language"] = item.language
    if item.enclosures:
        data["attachments"] = [
            {"url": e.url, "mime_type": mime_type(e.url, e.type),
             **({"size_in_bytes": e.length} if e.length else {})}
            for e in item.enclosures
        ]
    data["_feedrelay"] = {
        "story_id": entry.story_id,
        "revision": entry.revision,
        "retracted": entry.retracted,
        "source": source_info(entry),
    }
    return data


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` via a temp file and rename; False (no write) if unchanged.

    Each new version gets a modification time at least one whole second after the previous
    one's: HTTP's Last-Modified has whole seconds, and two versions within one second would
    look the same to a client revalidating with If-Modified-Since."""
    try:
        if path.read_bytes() == data:
            return False
        previous: float | None = path.stat().st_mtime
    except FileNotFoundError:
        previous = None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        if previous is not None and int(os.stat(temp).st_mtime) <= int(previous):
            later = int(previous) + 1
            os.utime(temp, (later, later))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True

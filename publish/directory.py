"""The `directory` target: one Markdown file with YAML front matter per story, for static sites.

The file is named `YYYY-MM-DD-title-slug-ID.md` on first delivery (Jekyll/Hugo friendly); that
name is the remote reference, so revisions rewrite the same file even when the title changes.
The body is the story's clean HTML, which Markdown carries as is. A retracted story's file is
removed.
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from feedrelay.config import DirectoryTargetConfig
from feedrelay.items import Entry
from publish.attribution import apply_attribution
from publish.base import Archive, TargetError
from publish.render import published_at, source_info, write_atomic

_SAFE_NAME = re.compile(r"^[\w.-]+\.md$")


def slugify(text: str, limit: int = 60) -> str:
    """A lowercase ASCII slug of `text` (`story` when nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "story"


class DirectoryTarget:
    """Writes and rewrites one Markdown file per story in `directory`."""

    local = True  # no remote side effect: deliveries are batched (see feedrelay.publishing)

    def __init__(self, config: DirectoryTargetConfig, directory: Path) -> None:
        self.name = config.name
        self.config = config
        self.directory = directory
        self.yaml = YAML(typ="safe", pure=True)
        self.yaml.default_flow_style = False
        self.yaml.allow_unicode = True

    def file_name(self, entry: Entry) -> str:
        """The name a story's file gets on its first delivery."""
        return f"{published_at(entry):%Y-%m-%d}-{slugify(entry.item.title)}-{entry.story_id}.md"

    def deliver(self, entry: Entry, remote_ref: str | None) -> str | None:
        """Write (or remove, when retracted) the story's file; returns its name."""
        name = remote_ref or self.file_name(entry)
        if not _SAFE_NAME.match(name):
            raise TargetError(f"refusing to write outside {self.directory}: {name!r}", retry=False)
        path = self.directory / name
        if entry.retracted:
            path.unlink(missing_ok=True)
            return name
        try:
            write_atomic(path, self.render(entry).encode("utf-8", "replace"))
        except OSError as exc:
            raise TargetError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return name

    def render(self, entry: Entry) -> str:
        """The file's text: `---` front matter `---` then the HTML body."""
        item = entry.item
        front: dict[str, Any] = {
            "title": item.title,
            "date": published_at(entry).isoformat(),
            "updated": entry.updated.isoformat(),
            "id": entry.entry_id,
            "revision": entry.revision,
            "link": item.link,
            "source": {k: v for k, v in source_info(entry).items() if v},
            "tags": list(dict.fromkeys([*item.categories, *item.tags])),
        }
        if item.categories:
            front["categories"] = list(item.categories)
        if item.authors:
            front["authors"] = list(item.authors)
        if item.image:
            front["image"] = item.image
        if item.summary:
            front["summary"] = item.summary
        buffer = io.StringIO()
        self.yaml.dump({k: v for k, v in front.items() if v is not None}, buffer)
        return f"---\n{buffer.getvalue()}---\n\n{apply_attribution(self.config.attribution, entry)}\n"

    def flush(self, archive: Archive) -> None:
        """Nothing to do: every delivery wrote its file."""

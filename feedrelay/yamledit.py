"""Editing `config.yaml` in place: ruamel.yaml round-trip that keeps comments, order and layout.

A change is dumped to a temporary file beside the config, validated with the same loader the
daemon uses, and only then moved over the original (atomic rename), so a bad edit never
reaches the file the daemon watches. Commands editing one config take turns (a lock file beside
it), and an edit made by hand in the meantime is never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from feedrelay.config import Config, ConfigError, parse_config

# (mapping indent, sequence indent, dash offset) layouts tried in order to reproduce a file.
_LAYOUTS = [(m, o + d, o) for m in (2, 4, 3) for o, d in ((2, 2), (0, 2), (4, 2), (0, 4), (4, 4), (2, 4), (1, 2))]


class ConfigDocument:
    """A config file loaded for round-trip editing."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()  # a symlinked config is edited where it lives, and stays a symlink
        self._lock = _edit_lock(self.path)  # held until `save` (or the process ends)
        try:
            self.on_disk = self.path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{path}: cannot read config: {getattr(exc, 'strerror', None) or exc}"]) from exc
        self.newline = "\r\n" if "\r\n" in self.on_disk else "\n"  # a CRLF file stays CRLF
        self.original = self.on_disk.replace("\r\n", "\n")
        self.yaml, self.data = _load_round_trip(self.original)
        self.exact = self.dump() == self.original

    def dump(self) -> str:
        """The document as text, in the file's own layout."""
        out = io.StringIO()
        self.yaml.dump(self.data, out)
        return out.getvalue()

    @property
    def feeds(self) -> CommentedSeq:
        """The `feeds:` sequence (created, in block style, if the file has none)."""
        feeds = self.data.get("feeds")
        if feeds is None:
            feeds = CommentedSeq()
            self.data["feeds"] = feeds
        if not isinstance(feeds, CommentedSeq):
            raise ConfigError([f"{self.path.name}: feeds: must be a list"])
        feeds.fa.set_block_style()
        return feeds

    def add_feed(self, node: CommentedMap) -> None:
        """Append a feed; the lines that followed the list (the next section's comment) still follow it."""
        feeds = self.feeds
        after = ""
        if not len(feeds):  # an empty list's following lines are kept on its key (`remove_feed`)
            comments = self.data.ca.items.get("feeds")
            if comments and len(comments) > 2 and comments[2] is not None:
                own, _, after = comments[2].value.partition("\n")  # its own line's comment stays there
                if own.strip():
                    comments[2].value = own + "\n"
                else:
                    comments[2] = None
        append_item(feeds, node)
        give_trailing(feeds, after)

    def remove_feed(self, node: CommentedMap) -> None:
        """Remove a feed; when it was the last one, the lines that followed it stay, after `feeds: []`."""
        feeds = self.feeds
        after = remove_item(feeds, node)
        if not len(feeds):
            feeds.fa.set_flow_style()
        if after:  # an empty list prints no end comment: they are kept on its key
            comments = self.data.ca.items.setdefault("feeds", [None, None, None, None])
            if comments[2] is None:
                comments[2] = CommentToken("\n" + after, CommentMark(0), None)
            else:  # `feeds:  # …`: that comment stays on its line
                comments[2].value = comments[2].value.partition("\n")[0] + "\n" + after

    def feed(self, name: str) -> CommentedMap:
        """The mapping of the feed called `name` (ConfigError if there is none)."""
        for node in self.feeds:
            if isinstance(node, dict) and node.get("name") == name:
                return node
        raise ConfigError([f"{self.path.name}: no feed named {name!r}"])

    def save(self) -> Config:
        """Validate the edited document and atomically replace the file; returns the new config.

        Refused (ConfigError, nothing written) if the file changed since it was read: an edit
        made meanwhile by hand must not be overwritten. Other feedrelay commands wait for the
        lock this document holds, so they never race it."""
        text = self.dump()
        handle, temp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline=self.newline) as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())  # the new text is on disk before the name points at it
            config = self._validate(text)
            if self.path.read_bytes().decode("utf-8", "replace") != self.on_disk:
                raise ConfigError([f"{self.path.name}: changed by someone else while this command edited it; "
                                   "nothing written (run the command again)"])
            _copy_owner_and_mode(self.path, temp)
            os.replace(temp, self.path)
        finally:
            temp.unlink(missing_ok=True)
            self._lock.close()
        return config

    def _validate(self, text: str) -> Config:
        """The config the edited `text` gives; its errors cite lines of that text, which was not
        written, so they say so."""
        try:
            return parse_config(text, self.path)
        except ConfigError as exc:
            name = self.path.name
            prefix = re.compile(rf"^{re.escape(name)}:(\d+):")
            raise ConfigError([f"{name}: the edit would make it invalid; nothing written",
                               *(prefix.sub(rf"{name} (as edited):\1:", error) for error in exc.errors)]) from exc


EDIT_LOCK_WAIT = 30.0  # seconds a command waits for another one editing the same config


def _edit_lock(path: Path) -> IO[str]:
    """An exclusive lock on edits of `path` (a lock file beside it), held while the handle is open."""
    handle = (path.parent / f".{path.name}-edit.lock").open("a+")
    deadline = time.monotonic() + EDIT_LOCK_WAIT
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise ConfigError([f"{path.name}: another feedrelay command has been editing it for "
                                   f"{EDIT_LOCK_WAIT:.0f}s; try again"]) from None
            time.sleep(0.05)


def _copy_owner_and_mode(original: Path, replacement: Path) -> None:
    shutil.copymode(original, replacement)
    stat = original.stat()
    with contextlib.suppress(PermissionError):  # not root: ours, as any editor would leave it
        os.chown(replacement, stat.st_uid, stat.st_gid)


def append_item(seq: CommentedSeq, node: Any) -> None:
    """Append to a block sequence; blank lines and comments that followed the old last item follow
    the new one (so the next section keeps its spacing)."""
    after = take_trailing(seq)
    seq.append(node)
    give_trailing(seq, after)


def remove_item(seq: CommentedSeq, node: Any) -> str:
    """Remove `node` with its own comments; lines that followed it stay where they were. When the
    list is left empty, which prints none, they are returned for its owner to keep."""
    last = seq[-1] is node
    after = take_trailing(seq) if last else ""
    seq.remove(node)
    if len(seq):
        give_trailing(seq, after)
        return ""
    return after


def set_key(mapping: CommentedMap, key: str, value: Any) -> None:
    """Set `key` (appended after the last key if new, keeping the lines that followed)."""
    if key in mapping:
        mapping[key] = value
        return
    after = take_trailing(mapping)
    mapping[key] = value
    give_trailing(mapping, after)


def delete_key(mapping: CommentedMap, key: str) -> None:
    """Delete `key`; lines that followed it (blank lines, the next section's comment) stay."""
    if key not in mapping:
        return
    last = list(mapping)[-1] == key
    after = take_trailing(mapping) if last else ""
    del mapping[key]
    mapping.ca.items.pop(key, None)
    if last and mapping:
        give_trailing(mapping, after)


def take_trailing(node: Any) -> str:
    """Detach the whole lines (blank lines, comments) that follow `node`'s last value; returns them.

    ruamel.yaml keeps them in different places depending on what the last value is: the post
    comment of the last key or item (after its inline comment), or the collection's end.
    """
    after = ""
    if isinstance(node, CommentedMap | CommentedSeq) and len(node):
        last = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        child = node[last]
        if _is_block(child):
            after += take_trailing(child)
        else:
            slot = 2 if isinstance(node, CommentedMap) else 0
            comments = node.ca.items.get(last)
            token = comments[slot] if comments and len(comments) > slot else None
            if token is not None:
                first, _, rest = token.value.partition("\n")
                after += rest
                if first.strip():
                    token.value = first + "\n"
                else:
                    comments[slot] = None
    if isinstance(node, CommentedMap | CommentedSeq) and node.ca.end:
        after += "".join(t.value for t in node.ca.end if t is not None)
        node.ca.end = []
    return after


def give_trailing(node: Any, after: str) -> None:
    """Attach whole lines `after` (as `take_trailing` returned them) after `node`'s last value."""
    if not after or not isinstance(node, CommentedMap | CommentedSeq) or not len(node):
        return
    last = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
    child = node[last]
    if _is_block(child):
        give_trailing(child, after)
        return
    slot = 2 if isinstance(node, CommentedMap) else 0
    comments = node.ca.items.setdefault(last, [None, None, None, None])
    token = comments[slot]
    if token is None:
        comments[slot] = CommentToken("\n" + after, CommentMark(0), None)
    else:
        token.value += after


def _is_block(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq) and len(value) > 0 and not value.fa.flow_style()


def flow_list(values: list[str]) -> CommentedSeq:
    """A list written inline (`[a, b]`), the way config.yaml spells tags."""
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def _load_round_trip(text: str) -> tuple[YAML, Any]:
    """Load `text`, choosing the indentation layout that dumps it back unchanged (if any)."""
    fallback: tuple[YAML, Any] | None = None
    for mapping, sequence, offset in _LAYOUTS:
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        data = yaml.load(text)
        if data is None:
            data = CommentedMap()
        if not isinstance(data, CommentedMap):
            raise ConfigError(["config: the config must be a mapping of keys (database, feeds, …)"])
        out = io.StringIO()
        yaml.dump(data, out)
        if out.getvalue() == text:
            return yaml, data
        fallback = fallback or (yaml, data)
    assert fallback is not None
    return fallback

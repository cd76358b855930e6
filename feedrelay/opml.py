"""`feedrelay opml import FILE` and `feedrelay opml export`: feed lists from and for feed readers.

Folders become tags: a feed in folder "Tech" › "Python" gets `tags: [Tech, Python]`, and export
nests each feed in the folders its tags name, in order — so a reader's export round-trips.
A feed listed in several folders is imported once with the tags of all of them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree
from ruamel.yaml.comments import CommentedMap

from feedrelay import __version__
from feedrelay.config import Config, load_config
from feedrelay.feeds_cli import feed_identity, slug, unique_name
from feedrelay.progress import progress_for
from feedrelay.tables import terminal_text
from feedrelay.yamledit import ConfigDocument, flow_list


@dataclass
class OpmlFeed:
    """One subscription of an OPML file."""

    url: str
    title: str
    tags: list[str] = field(default_factory=list)
    enabled: bool = True


def read_opml(data: bytes) -> list[OpmlFeed]:
    """The subscriptions of an OPML document, folder titles as tags, duplicates merged."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not a valid OPML (XML) document: {exc}") from exc
    if etree.QName(root).localname.lower() != "opml":
        raise ValueError(f"not an OPML document (root element <{etree.QName(root).localname}>)")
    body = root.find("body")
    found: dict[str, OpmlFeed] = {}
    for feed in _walk(body if body is not None else root, []):
        known = found.get(feed.url)
        if known is None:
            found[feed.url] = feed
        else:
            known.tags += [t for t in feed.tags if t not in known.tags]
    return list(found.values())


def _walk(node: etree._Element, folders: list[str]) -> list[OpmlFeed]:
    feeds = []
    for outline in node.findall("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        label = (outline.get("title") or outline.get("text") or "").strip()
        if url:
            categories = [c.strip(" /") for c in (outline.get("category") or "").split(",")]
            tags = folders + [c for c in categories if c and c not in folders]
            disabled = (outline.get("isDisabled") or "").strip().lower() in ("true", "1", "yes")
            feeds.append(OpmlFeed(url, label or url, tags, enabled=not disabled))
        feeds += _walk(outline, folders + [label] if label and not url else folders)
    return feeds


def write_opml(config: Config) -> bytes:
    """The configured feeds as OPML 2.0, nested in folders named by their tags."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"feedrelay feeds ({config.path.name if config.path else 'config'})"
    etree.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC), usegmt=True)
    etree.SubElement(head, "docs").text = "https://opml.org/spec2.opml"
    etree.SubElement(head, "ownerName").text = f"feedrelay {__version__}"
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {(): body}
    for feed in config.feeds:
        parent = body
        for depth in range(1, len(feed.tags) + 1):
            path = tuple(feed.tags[:depth])
            if path not in folders:
                folders[path] = etree.SubElement(parent, "outline", text=path[-1], title=path[-1])
            parent = folders[path]
        attributes = {"text": feed.name, "title": feed.name, "type": "rss", "xmlUrl": feed.url}
        if not feed.enabled:
            attributes["isDisabled"] = "true"
        etree.SubElement(parent, "outline", attributes)
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@dataclass
class ImportReport:
    """What an import added and skipped."""

    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def import_opml(path: Path, feeds: list[OpmlFeed]) -> ImportReport:
    """Append the OPML feeds not already configured (same URL after normalisation) to the config."""
    config = load_config(path)
    document = ConfigDocument(path)
    report = ImportReport()
    known = {feed_identity(config, f.url): f.name for f in config.feeds}
    names = {f.name for f in config.feeds}
    with progress_for(len(feeds), "importing") as advance:
        for feed in feeds:
            advance()
            if urlsplit(feed.url).scheme.lower() not in ("http", "https"):
                # A third party's OPML must not make the daemon read (and republish) local files.
                report.skipped.append((feed.url, "not an http(s) URL (add local feeds with `feeds add`)"))
                continue
            identity = feed_identity(config, feed.url)
            if identity in known:
                report.skipped.append((feed.url, f"already configured as {known[identity]!r}"))
                continue
            name = unique_name(slug(feed.title), names)
            node = CommentedMap()
            node["name"] = name
            node["url"] = feed.url
            if feed.tags:
                node["tags"] = flow_list(feed.tags)
            if not feed.enabled:
                node["enabled"] = False
            document.add_feed(node)
            known[identity] = name
            names.add(name)
            report.added.append(name)
    if report.added:
        document.save()
    return report


def cmd_opml_import(args: argparse.Namespace) -> int:
    """Import an OPML file's subscriptions into config.yaml."""
    from feedrelay.cli import config_path

    try:
        feeds = read_opml(Path(args.file).read_bytes())
    except (OSError, ValueError) as exc:
        print(f"feedrelay: {args.file}: {exc}", file=sys.stderr)
        return 1
    path = config_path(args)
    report = import_opml(path, feeds)
    for url, reason in report.skipped:
        print(terminal_text(f"  skipped {url}: {reason}"))
    print(f"imported {len(report.added)} feeds into {path}; skipped {len(report.skipped)}")
    return 0


def cmd_opml_export(args: argparse.Namespace) -> int:
    """Write the configured feeds as OPML to stdout or `-o FILE`."""
    from feedrelay.cli import config_path

    data = write_opml(load_config(config_path(args)))
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0


def register_opml(sub: argparse._SubParsersAction) -> None:
    """`feedrelay opml import FILE | export [-o FILE]`."""
    opml = sub.add_parser("opml", help="import or export the feed list as OPML")
    actions = opml.add_subparsers(dest="opml_command", required=True, metavar="ACTION")
    importing = actions.add_parser("import", help="add an OPML file's feeds (folders become tags)")
    importing.add_argument("file", help="OPML file exported by a feed reader")
    importing.set_defaults(func=cmd_opml_import)
    exporting = actions.add_parser("export", help="write the feeds as OPML (tags become folders)")
    exporting.add_argument("-o", "--output", help="file to write (default: stdout)")
    exporting.set_defaults(func=cmd_opml_export)


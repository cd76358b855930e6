"""`feedrelay feeds list | add | remove | enable | disable`: the feed list in config.yaml.

Edits keep the operator's comments, order and layout (see `feedrelay.yamledit`), are validated
before the file is replaced, and refuse a second feed with the same URL after normalisation.
`add` probes the URL first (fetch + parse, following an HTML page's advertised feed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedrelay.config import Config, ConfigError, load_config
from feedrelay.durations import format_duration
from feedrelay.tables import print_table, terminal_text
from feedrelay.yamledit import ConfigDocument, delete_key, flow_list, set_key
from ingest.discover import discover_feed_url, looks_like_html
from ingest.fetch import Fetcher, FetchError, FetchResult, FetchState
from ingest.parse import ParseError, parse_feed
from ingest.urls import canonical_url


@dataclass
class Probe:
    """What probing a URL found: the feed URL to store (maybe discovered), its title and items."""

    url: str
    title: str | None
    items: int
    discovered_from: str | None = None


class ProbeError(Exception):
    """The URL is not a readable feed and advertises none."""


def fetch_feed(fetcher: Fetcher, url: str) -> tuple[FetchResult, str | None]:
    """Fetch `url` unconditionally; an HTML page is followed to the feed its `<link rel="alternate">`
    names. Returns the result and the page the feed was discovered from (None if `url` is the feed).
    Raises ProbeError when neither gives a feed document."""
    result = fetcher.fetch(FetchState(url=url))
    if result.outcome == "ok" and result.body is not None:
        return result, None
    if not re.match(r"^https?://", url):
        raise ProbeError(f"{url}: {result.error or result.outcome}")
    try:
        page, content_type = fetcher.get_bytes(url, accept="text/html,application/xhtml+xml,*/*;q=0.8")
    except FetchError as exc:
        raise ProbeError(f"{url}: {result.error or exc}") from exc
    found = discover_feed_url(page, url) if looks_like_html(page, content_type) else None
    if found is None:
        raise ProbeError(f"{url}: {result.error or result.outcome}")
    result = fetcher.fetch(FetchState(url=found))
    if result.outcome != "ok" or result.body is None:
        raise ProbeError(f"{found} (advertised by {url}): {result.error or result.outcome}")
    return result, url


def probe_feed(config: Config, url: str) -> Probe:
    """Fetch and parse `url` (or the feed an HTML page at `url` advertises)."""
    from feedrelay.pipeline import http_settings

    fetcher = Fetcher(http_settings(config))
    try:
        result, discovered_from = fetch_feed(fetcher, url)
        try:
            parsed = parse_feed(result.body or b"", feed_name="probe", base_url=result.url,
                                content_type=result.content_type)
        except ParseError as exc:
            raise ProbeError(f"{result.url}: {exc}") from exc
        return Probe(result.url, parsed.title, len(parsed.items), discovered_from)
    finally:
        fetcher.close()


def feed_identity(config: Config, url: str) -> str:
    """What makes two feed URLs the same feed: the canonical URL, or the resolved local path."""
    resolved = _resolved(config, url)
    return canonical_url(resolved) or resolved


def slug(text: str) -> str:
    """A feed name from a title or host: lower-case words joined by hyphens."""
    words = re.findall(r"\w+", text.casefold())
    return "-".join(words)[:60].strip("-") or "feed"


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`, … — the first not in `taken`."""
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _default_name(config: Config, url: str, title: str | None) -> str:
    host = re.sub(r"^www\.", "", re.sub(r"^[a-z]+://", "", url).split("/")[0].split(":")[0])
    return unique_name(slug(title or host or Path(url).stem), {f.name for f in config.feeds})


def _config_path(args: argparse.Namespace) -> Path:
    from feedrelay.cli import config_path

    return config_path(args)


def _open(path: Path) -> ConfigDocument:
    document = ConfigDocument(path)
    if not document.exact:
        print(f"warning: {path} uses a layout ruamel.yaml cannot reproduce exactly; "
              "indentation outside the edited feed may change", file=sys.stderr)
    return document


def cmd_feeds_list(args: argparse.Namespace) -> int:
    """The configured feeds (name, URL, enabled, interval, tags)."""
    config = load_config(_config_path(args))
    if args.json:
        print(json.dumps({"feeds": [f.model_dump(mode="json", exclude_defaults=True) for f in config.feeds]},
                         indent=2, ensure_ascii=False))
        return 0
    rows, styles = [], []
    for feed in config.feeds:
        interval = feed.interval or config.defaults.interval
        rows.append([feed.name, feed.url, "yes" if feed.enabled else "no", format_duration(interval),
                     ", ".join(feed.tags), str(feed.priority)])
        styles.append({2: "green" if feed.enabled else "red"})
    print_table("feeds", ["name", "url", "enabled", "interval", "tags", "priority"], rows, styles)
    return 0


def cmd_feeds_add(args: argparse.Namespace) -> int:
    """Append a feed to config.yaml (probed unless --no-probe)."""
    path = _config_path(args)
    config = load_config(path)
    url = args.url.strip()
    title = None
    if not args.no_probe:
        try:
            probe = probe_feed(config, _resolved(config, url))
        except ProbeError as exc:
            print(f"feedrelay: probe failed: {exc} (use --no-probe to add it anyway)", file=sys.stderr)
            return 1
        if probe.discovered_from:
            print(terminal_text(f"found feed {probe.url} advertised by {probe.discovered_from}"))
            url = probe.url
        title = probe.title
        print(terminal_text(f"probe ok: {probe.title or '(untitled)'}, {probe.items} items"))
    _refuse_duplicate(config, url)
    document = _open(path)
    name = args.name or _default_name(config, url, title)
    node = CommentedMap()
    node["name"] = name
    node["url"] = url
    if args.interval:
        node["interval"] = args.interval
    if args.tag:
        node["tags"] = flow_list(args.tag)
    if args.priority is not None:
        node["priority"] = args.priority
    document.add_feed(node)
    document.save()
    print(terminal_text(f"added feed {name!r} ({url}) to {path}"))
    return 0


def _resolved(config: Config, url: str) -> str:
    """A URL as is; a local path made absolute against the config's directory."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        return url
    return str((config.base_dir / url).resolve())


def _refuse_duplicate(config: Config, url: str) -> None:
    identity = feed_identity(config, url)
    for feed in config.feeds:
        if feed_identity(config, feed.url) == identity:
            raise ConfigError([f"{config.path.name if config.path else 'config'}: feed {feed.name!r} "
                               f"already has this URL ({feed.url})"])


def cmd_feeds_remove(args: argparse.Namespace) -> int:
    """Remove a feed (by name or URL) from config.yaml; its stored items stay in the database."""
    path = _config_path(args)
    document = _open(path)
    config = load_config(path)
    name = _name_for(config, args.name)
    node = document.feed(name)
    document.remove_feed(node)
    document.save()
    print(f"removed feed {name!r} from {path} (its stored items and stories stay in the database)")
    return 0


def cmd_feeds_enable(args: argparse.Namespace) -> int:
    """Enable a feed in config.yaml and clear a database-side disable (e.g. after HTTP 410 Gone)."""
    path = _config_path(args)
    document = _open(path)
    config = load_config(path)
    name = _name_for(config, args.name)
    node = document.feed(name)
    # The database first: if it can't be reached, the config is left as it was.
    cleared = clear_database_disable(config, name)
    delete_key(node, "enabled")
    document.save()
    print(f"enabled feed {name!r}" + (f" (cleared database state: {cleared})" if cleared else ""))
    return 0


def cmd_feeds_disable(args: argparse.Namespace) -> int:
    """Disable a feed in config.yaml (`enabled: false`); it keeps its stored items."""
    path = _config_path(args)
    document = _open(path)
    name = _name_for(load_config(path), args.name)
    set_key(document.feed(name), "enabled", False)
    document.save()
    print(f"disabled feed {name!r}")
    return 0


def clear_database_disable(config: Config, name: str) -> str | None:
    """Re-enable a feed the daemon disabled (gone) and reset its error backoff; the old reason, if any."""
    from store import models
    from store.db import open_database
    from store.retry import run_transaction

    url = config.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine, sessions = open_database(url)

    def enable(session: Session) -> str | None:
        row = session.scalars(select(models.Feed).where(models.Feed.name == name)).one_or_none()
        if row is None or (row.enabled and not row.error_count):
            return None
        reason = row.disabled_reason or ("disabled" if not row.enabled else f"{row.error_count} errors")
        row.enabled, row.disabled_reason = True, None
        row.error_count, row.next_check_at = 0, None
        return reason

    try:  # in turn with a running daemon's transactions (see store.retry)
        return run_transaction(sessions, enable)
    finally:
        engine.dispose()


def _name_for(config: Config, name_or_url: str) -> str:
    for feed in config.feeds:
        if feed.name == name_or_url:
            return feed.name
    identity = feed_identity(config, name_or_url)
    for feed in config.feeds:
        if feed_identity(config, feed.url) == identity:
            return feed.name
    raise ConfigError([f"{config.path.name if config.path else 'config'}: no feed named {name_or_url!r}"])


def register_feeds(sub: argparse._SubParsersAction) -> None:
    """`feedrelay feeds …`."""
    feeds = sub.add_parser("feeds", help="list, add, remove, enable or disable feeds in config.yaml")
    actions = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the configured feeds")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_feeds_list)
    add = actions.add_parser("add", help="add a feed (probes it first)")
    add.add_argument("url", help="feed URL, a page that advertises one, or a local file")
    add.add_argument("--name", help="feed name (default: from the feed title or host)")
    add.add_argument("--interval", help="polling interval, e.g. 30m, 2h")
    add.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    add.add_argument("--priority", type=int, help="priority when choosing a story's representative")
    add.add_argument("--no-probe", action="store_true", help="do not fetch the URL first")
    add.set_defaults(func=cmd_feeds_add)
    for action, func, text in (("remove", cmd_feeds_remove, "remove a feed"),
                               ("enable", cmd_feeds_enable, "enable a feed (also after 410 Gone)"),
                               ("disable", cmd_feeds_disable, "disable a feed")):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("name", metavar="NAME", help="feed name (or its URL)")
        parser.set_defaults(func=func)

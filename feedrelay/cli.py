"""`feedrelay [-c CONFIG] COMMAND`: the command-line interface.

Exit codes: 0 done (a pass that ran, even if some feeds failed), 1 fatal error, 2 bad config or
usage. Each command is a function taking the parsed arguments; `COMMANDS` registers them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from feedrelay import __version__
from feedrelay.config import Config, ConfigError, load_config
from feedrelay.explain import register_explain
from feedrelay.feeds_cli import register_feeds
from feedrelay.logs import register_config_secrets, setup_logging
from feedrelay.opml import register_opml
from feedrelay.preview import register_preview
from feedrelay.serve import register_serve
from feedrelay.tables import terminal_text

log = logging.getLogger("feedrelay")
EXIT_OK, EXIT_FATAL, EXIT_CONFIG = 0, 1, 2


def config_path(args: argparse.Namespace) -> Path:
    """`-c`, else `$FEEDRELAY_CONFIG`, else `./config.yaml`."""
    return Path(args.config or os.environ.get("FEEDRELAY_CONFIG") or "config.yaml")


def load(args: argparse.Namespace) -> Config:
    """The config named by the arguments (raises ConfigError), read once per command line:
    `main` reads it for the log settings, and the command gets the same object."""
    config: Config | None = getattr(args, "loaded_config", None)
    if config is None:
        config = args.loaded_config = load_config(config_path(args))
    return config


def shown(text: str) -> str:
    """Feed or server text for a rich console line: no escape sequences, no markup of its own."""
    from rich.markup import escape

    return escape(terminal_text(text))


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config; print every problem with its line."""
    config = load(args)
    for warning in config.missing_secrets():
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{config_path(args)}: ok ({len(config.feeds)} feeds, {len(config.targets)} targets)")
    return EXIT_OK


def cmd_fetch(args: argparse.Namespace) -> int:
    """One full pass now over every enabled feed, then publish; print a summary."""
    from rich.console import Console

    from feedrelay.pipeline import Relay
    from feedrelay.progress import progress_for

    config = load(args)
    with Relay(config) as relay:
        names = relay.enabled_feeds()
        with progress_for(len(names), "fetching") as advance:
            report = relay.run_once(progress=lambda outcome: advance())
    console = Console(highlight=False, soft_wrap=True)
    for outcome in report.feeds:
        feed = shown(outcome.feed)
        if outcome.outcome == "skipped":
            console.print(f"  skipped {feed}: {shown('; '.join(outcome.warnings))}")
            continue
        if outcome.ok:
            console.print(f"  ok      {feed}: {outcome.outcome}, {outcome.new} new, "
                          f"{outcome.duplicates} duplicates, {outcome.updated} updated, {outcome.filtered} filtered")
        else:
            console.print(f"  [red]failed[/red]  {feed}: {shown(outcome.error or '')}")
        for warning in outcome.warnings:
            console.print(f"          [yellow]warning[/yellow]: {shown(warning)}")
    total = lambda attr: sum(getattr(o, attr) for o in report.feeds)  # noqa: E731
    ok = len(report.feeds) - len(report.failed) - len(report.skipped)
    skipped = f", {len(report.skipped)} skipped (another worker was polling them)" if report.skipped else ""
    console.print(
        f"feeds: {ok} ok, {len(report.failed)} failed{skipped}; "
        f"items: {total('new')} new, {total('duplicates')} duplicates skipped, {total('updated')} updated, "
        f"{total('filtered')} filtered; published: {report.published.delivered()} deliveries"
    )
    for target, reason in report.published.paused.items():
        console.print(f"  [red]target {shown(target)} paused[/red]: {shown(reason)}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """A table of feeds (or `--json`)."""
    from feedrelay.items import utcnow
    from feedrelay.status import feed_statuses, print_statuses
    from store.db import open_existing_database

    config = load(args)
    engine, sessions = open_existing_database(config.database_url)
    with sessions() as session:
        statuses = feed_statuses(session, config)
    engine.dispose()
    if args.json:
        print(json.dumps({"feeds": [s.to_json() for s in statuses]}, indent=2, ensure_ascii=False))
        return EXIT_OK
    print_statuses(statuses, utcnow())
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the scheduling daemon until SIGTERM/SIGINT."""
    from feedrelay.daemon import run_daemon

    return run_daemon(config_path(args), load(args))


def _add_fetch(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("fetch", help="one full pass now over every enabled feed, then publish").set_defaults(
        func=cmd_fetch)


def _add_status(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="feed health table")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_status)


def _add_basic(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("check", help="validate the config (exit 2 on error)").set_defaults(func=cmd_check)
    _add_fetch(sub)
    sub.add_parser("run", help="run the scheduling daemon").set_defaults(func=cmd_run)
    _add_status(sub)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_basic, register_feeds, register_opml,
                                                                register_serve, register_preview, register_explain]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="feedrelay", description="Pull syndicated feeds, clean and de-duplicate them, republish each story once.")
    parser.add_argument("-c", "--config", help="config file (default: $FEEDRELAY_CONFIG or ./config.yaml)")
    parser.add_argument("--log-format", choices=("text", "json"), help="log format (overrides config)")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--version", action="version", version=f"feedrelay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `feedrelay` console script."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format or "text", args.log_level or "WARNING")
    try:
        try:
            config = load(args)
            register_config_secrets(config)
            if args.log_format is None or args.log_level is None:
                setup_logging(args.log_format or config.log.format,
                              args.log_level or (config.log.level if args.command in ("run", "serve") else "WARNING"))
        except ConfigError:
            pass
        return args.func(args)
    except ConfigError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        problem = _usage_problem(exc)
        if problem is not None:  # the machine's state, not a bug: a message, no traceback
            log.debug("%s", problem, exc_info=True)
            print(f"feedrelay: {problem}", file=sys.stderr)
            return EXIT_FATAL
        log.exception("fatal: %s", exc)
        print(f"feedrelay: fatal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FATAL


def _usage_problem(exc: Exception) -> str | None:
    """What to tell the operator for an error of the environment (a file, the database), or None."""
    from sqlalchemy.exc import DBAPIError

    from store.db import StoreUnavailable

    if isinstance(exc, StoreUnavailable):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    if isinstance(exc, DBAPIError):
        return f"database error: {exc.orig}"
    return None


if __name__ == "__main__":
    sys.exit(main())

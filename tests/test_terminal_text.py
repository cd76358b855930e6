"""Feed and server text printed by the commands carries no escape sequence and no rich markup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedrelay.cli import main
from feedrelay.tables import print_table, terminal_text
from tests.support.server import LocalServer, Response

# An OSC 52 clipboard write, a screen clear, a colour, and the one-byte CSI.
HOSTILE = "Title \x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x1b[31mRED\x9b31m [bold red]BOLD[/bold red] [link=http://evil.test/]x[/link]"


def test_terminal_text_drops_controls_and_keeps_text() -> None:
    assert terminal_text("a\x1bb\x07c\x9bd\x7fe\tf\ng — ё") == "abcde\tf\ng — ё"


def test_tables_print_no_escape_sequences(capsys: pytest.CaptureFixture[str]) -> None:
    print_table("feeds", ["name", "last error"], [["a", HOSTILE]])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out and "RED" in out


def test_preview_and_fetch_print_feed_and_server_text_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": HOSTILE,
            "items": [{"id": "1", "url": "https://site.example/1", "title": HOSTILE,
                       "content_html": "<p>A body with enough words to be stored as an ordinary item.</p>"}]}
    with LocalServer() as server:
        server.route("/feed.json", Response(200, json.dumps(feed).encode(), {"Content-Type": "application/feed+json"}))
        rss = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Новости</title><item><title>Т</title>'
               "<guid>g</guid><description>Обычный текст</description></item></channel></rss>").encode()
        server.route("/odd.xml", Response(200, rss, {"Content-Type": "application/rss+xml; charset=[bold red]BOLD[/bold red]"}))
        config = tmp_path / "config.yaml"
        config.write_text(f"database: sqlite:///{tmp_path / 'relay.db'}\nhttp:\n  allow_private_networks: true\n"
                          f"feeds:\n  - name: hostile\n    url: {server.url('/feed.json')}\n"
                          f"  - name: odd\n    url: {server.url('/odd.xml')}\n")
        assert main(["-c", str(config), "preview", "hostile"]) == 0
        preview = capsys.readouterr().out
        main(["-c", str(config), "fetch"])
        fetched = capsys.readouterr().out
    for out in (preview, fetched):
        assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out
    assert "title: Title ]52;c;ZWNobyBwd25lZA==[2J[31mRED31m [bold red]BOLD[/bold red]" in preview
    assert "HTTP charset says [bold red]BOLD[/bold red]" in fetched  # a server's text shown, not interpreted

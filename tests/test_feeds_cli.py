"""`feedrelay feeds …` edits config.yaml in place, keeping the operator's file as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from feedrelay.cli import main
from feedrelay.config import load_config
from store import models
from store.db import open_database
from tests.support.server import LocalServer, Response

ROOT = Path(__file__).resolve().parent.parent
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Probe Blog</title>
<link>http://probe.example/</link>
<item><title>One</title><link>http://probe.example/1</link><guid>p1</guid><description>a</description></item>
<item><title>Two</title><link>http://probe.example/2</link><guid>p2</guid><description>b</description></item>
</channel></rss>"""

LAYOUTS = {
    "flow tags last": "feeds:\n  - name: a\n    url: samples/minsk-chronicle.xml\n    tags: [x]\n\n# next\ntargets: []\n",
    "block map last": "feeds:\n  - name: a\n    url: samples/minsk-chronicle.xml\n    clean:\n      remove: [x]\n\n"
                      "# next\ntargets: []\n",
    "scalar with comment": "feeds:\n  - name: a\n    url: samples/minsk-chronicle.xml  # c\n\n# next\ntargets: []\n",
    "feeds at end, no indent": "feeds:\n- name: a\n  url: samples/minsk-chronicle.xml  # c\n# tail\n",
    "four spaces": "log:\n    level: INFO\nfeeds:\n    -   name: a\n        url: samples/minsk-chronicle.xml\n\n"
                   "    # between\n    -   name: b   # b\n        url: samples/field-notes-atom.xml\n"
                   "        enabled: false\n\nserve:\n    port: 1\n",
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    return tmp_path


def feeds(config: Path, *args: str) -> int:
    return main(["-c", str(config), "feeds", *args])


def test_add_then_remove_leaves_the_commented_example_byte_identical(workdir: Path) -> None:
    config = workdir / "config.yaml"
    before = config.read_bytes()
    assert feeds(config, "add", "https://news.example.org/feed/", "--no-probe", "--name", "news-org",
                 "--interval", "2h", "--tag", "news", "--tag", "world", "--priority", "3") == 0
    added = config.read_text()
    assert "  - name: news-org\n    url: https://news.example.org/feed/\n    interval: 2h\n" \
           "    tags: [news, world]\n    priority: 3\n\ntargets:" in added
    assert "# a WPeMatico aggregator republishing it" in added
    loaded = load_config(config)
    assert [f.name for f in loaded.feeds][-1] == "news-org"
    assert loaded.feeds[-1].tags == ["news", "world"]
    assert feeds(config, "remove", "news-org") == 0
    assert config.read_bytes() == before


@pytest.mark.parametrize("layout", LAYOUTS)
def test_add_disable_enable_remove_round_trip_in_other_layouts(workdir: Path, layout: str) -> None:
    config = workdir / "config.yaml"
    config.write_text(LAYOUTS[layout])
    assert feeds(config, "add", "https://example.org/feed/", "--no-probe", "--name", "new", "--tag", "t") == 0
    added = config.read_text()
    assert feeds(config, "disable", "new") == 0
    assert load_config(config).feeds[-1].enabled is False
    assert feeds(config, "enable", "new") == 0
    assert config.read_text() == added
    assert feeds(config, "remove", "new") == 0
    assert config.read_text() == LAYOUTS[layout]


def test_disable_and_enable_an_existing_feed_keep_its_comment(workdir: Path) -> None:
    config = workdir / "config.yaml"
    before = config.read_text()
    assert feeds(config, "disable", "belnews-digest") == 0
    text = config.read_text()
    assert "  - name: belnews-digest           # a WPeMatico aggregator republishing it" in text
    assert not {f.name: f for f in load_config(config).feeds}["belnews-digest"].enabled
    assert feeds(config, "enable", "belnews-digest") == 0
    assert config.read_text() == before


def test_duplicates_after_normalisation_are_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    assert feeds(config, "add", "https://www.example.org/feed/", "--no-probe", "--name", "ex") == 0
    before = config.read_bytes()
    assert feeds(config, "add", "http://EXAMPLE.org/feed?utm_source=rss", "--no-probe", "--name", "ex2") == 2
    assert "'ex' already has this URL" in capsys.readouterr().err
    assert feeds(config, "add", "./samples/../samples/minsk-chronicle.xml", "--no-probe") == 2
    assert config.read_bytes() == before


def test_invalid_feeds_are_not_written(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    before = config.read_bytes()
    assert feeds(config, "add", "https://other.example/feed", "--no-probe", "--name", "field-notes") == 2
    assert "duplicate feed name 'field-notes'" in capsys.readouterr().err
    assert feeds(config, "add", "https://other.example/feed", "--no-probe", "--interval", "soon") == 2
    assert "'soon' is not a duration" in capsys.readouterr().err
    assert feeds(config, "add", "https://other.example/feed", "--no-probe", "--interval", "0s") == 2
    err = capsys.readouterr().err  # the line cited is one of the text not written: it says so
    assert err.startswith("config.yaml: the edit would make it invalid; nothing written\nconfig.yaml (as edited):")
    assert "interval: '0s' is not longer than zero" in err
    assert config.read_bytes() == before
    assert list(workdir.glob(".config.yaml.*")) == []  # no temporary file left behind


def test_removing_every_feed_keeps_the_lines_that_followed_the_list(workdir: Path) -> None:
    """The last feed gone, `feeds: []` is followed by the next section's comment as before; adding
    a feed again gives back the file as it was."""
    config = workdir / "config.yaml"
    config.write_text("database: sqlite:///relay.db\nfeeds:\n  - name: only\n    url: https://a.example/feed\n"
                      "\n# Where the stories go\ntargets: []\n")
    before = config.read_text()
    assert feeds(config, "remove", "only") == 0
    assert config.read_text() == "database: sqlite:///relay.db\nfeeds: []\n\n# Where the stories go\ntargets: []\n"
    assert load_config(config).feeds == []
    assert feeds(config, "add", "https://a.example/feed", "--no-probe", "--name", "only") == 0
    assert config.read_text() == before
    # a comment on the `feeds:` line itself stays on that line, both ways
    config.write_text(before.replace("feeds:\n", "feeds:  # the sites we follow\n"))
    assert feeds(config, "remove", "only") == 0
    assert config.read_text() == ("database: sqlite:///relay.db\nfeeds: [] # the sites we follow\n"
                                  "\n# Where the stories go\ntargets: []\n")
    assert feeds(config, "add", "https://a.example/feed", "--no-probe", "--name", "only") == 0
    lines = config.read_text().splitlines()
    assert lines[1].split() == ["feeds:", "#", "the", "sites", "we", "follow"] and lines[2] == "  - name: only"
    assert "\n\n# Where the stories go\ntargets: []\n" in config.read_text()


def test_remove_by_url_and_unknown_name(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    assert feeds(config, "remove", "samples/field-notes-atom.xml") == 0
    assert [f.name for f in load_config(config).feeds] == ["minsk-chronicle", "belnews-digest"]
    assert feeds(config, "remove", "nope") == 2
    assert "no feed named 'nope'" in capsys.readouterr().err


def test_list_is_plain_text_when_piped(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert feeds(workdir / "config.yaml", "list") == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "┃" not in out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "url", "enabled", "interval", "tags", "priority"]
    assert lines[2].split()[:4] == ["belnews-digest", "samples/belnews-aggregator.xml", "yes", "1h"]


def test_enable_clears_a_database_side_gone(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    engine, sessions = open_database(load_config(config).database_url)
    with sessions.begin() as session:
        session.add(models.Feed(name="field-notes", url="x", config_url="x", enabled=False,
                                disabled_reason="gone", error_count=4, last_new_items=0, guid_mode="guid"))
    assert feeds(config, "enable", "field-notes") == 0
    assert "cleared database state: gone" in capsys.readouterr().out
    with sessions() as session:
        row = session.scalars(select(models.Feed).where(models.Feed.name == "field-notes")).one()
        assert (row.enabled, row.disabled_reason, row.error_count) == (True, None, 0)
    engine.dispose()


def allow_loopback(config: Path) -> None:
    config.write_text(config.read_text().replace("allow_private_networks: false", "allow_private_networks: true"))


def test_add_probes_and_names_the_feed_from_its_title(workdir: Path, server: LocalServer,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    allow_loopback(config)
    server.route("/feed.xml", Response(200, RSS, {"Content-Type": "application/rss+xml"}))
    assert feeds(config, "add", server.url("/feed.xml")) == 0
    assert "probe ok: Probe Blog, 2 items" in capsys.readouterr().out
    added = load_config(config).feeds[-1]
    assert (added.name, added.url) == ("probe-blog", server.url("/feed.xml"))


def test_add_discovers_the_feed_an_html_page_advertises(workdir: Path, server: LocalServer,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    allow_loopback(config)
    page = (b'<!doctype html><html><head><title>Blog</title>'
            b'<link rel="alternate" type="application/rss+xml" href="/feed/"></head><body>hi</body></html>')
    server.route("/", Response(200, page, {"Content-Type": "text/html; charset=utf-8"}))
    server.route("/feed/", Response(200, RSS, {"Content-Type": "application/rss+xml"}))
    assert feeds(config, "add", server.url("/"), "--name", "blog") == 0
    assert f"found feed {server.url('/feed/')}" in capsys.readouterr().out
    assert load_config(config).feeds[-1].url == server.url("/feed/")


def test_a_failing_probe_writes_nothing(workdir: Path, server: LocalServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    allow_loopback(config)
    before = config.read_bytes()
    server.route("/", Response(200, b"<html><body>no feed here</body></html>", {"Content-Type": "text/html"}))
    assert feeds(config, "add", server.url("/")) == 1
    assert "probe failed" in capsys.readouterr().err
    assert feeds(config, "add", server.url("/missing.xml")) == 1
    assert config.read_bytes() == before


def test_a_symlinked_config_stays_a_symlink(workdir: Path) -> None:
    real = workdir / "etc" / "config.yaml"
    real.parent.mkdir()
    (workdir / "config.yaml").rename(real)
    shutil.copytree(workdir / "samples", real.parent / "samples")
    link = workdir / "config.yaml"
    link.symlink_to(real)
    real.chmod(0o640)
    assert feeds(link, "add", "https://example.org/feed/", "--no-probe", "--name", "ex") == 0
    assert link.is_symlink() and load_config(real).feeds[-1].name == "ex"
    assert real.stat().st_mode & 0o777 == 0o640


def test_commands_editing_at_once_all_land(workdir: Path) -> None:
    """Each command edits the file as the one before it left it (none is lost)."""
    import subprocess
    import sys

    config = workdir / "config.yaml"
    adds = [subprocess.Popen([sys.executable, "-m", "feedrelay.cli", "-c", str(config), "feeds", "add",
                              f"https://site{n}.example/feed/", "--no-probe", "--name", f"site-{n}"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for n in range(8)]
    outputs = [(process.wait(60), process.stdout.read().decode()) for process in adds]  # type: ignore[union-attr]
    assert all(code == 0 for code, _ in outputs), outputs
    names = {f.name for f in load_config(config).feeds}
    assert {f"site-{n}" for n in range(8)} <= names


def test_an_edit_made_by_hand_meanwhile_is_never_overwritten(workdir: Path) -> None:
    from feedrelay.config import ConfigError
    from feedrelay.yamledit import ConfigDocument

    config = workdir / "config.yaml"
    document = ConfigDocument(config)
    document.feeds.append({"name": "mine", "url": "https://mine.example/feed/"})
    by_hand = config.read_text() + "# added in an editor meanwhile\n"
    config.write_text(by_hand)
    with pytest.raises(ConfigError, match="changed by someone else"):
        document.save()
    assert config.read_text() == by_hand


def test_a_crlf_config_stays_crlf(workdir: Path) -> None:
    config = workdir / "config.yaml"
    config.write_bytes(config.read_bytes().replace(b"\n", b"\r\n"))
    assert feeds(config, "add", "https://crlf.example/feed/", "--no-probe", "--name", "crlf") == 0
    data = config.read_bytes()
    assert b"name: crlf\r\n" in data and data.count(b"\n") == data.count(b"\r\n")


def test_enable_leaves_the_config_alone_when_the_database_is_unusable(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    assert feeds(config, "disable", "field-notes") == 0
    (workdir / load_config(config).database_url.rpartition("/")[2]).write_bytes(b"not a database" * 100)
    before = config.read_bytes()
    assert feeds(config, "enable", "field-notes") == 1
    err = capsys.readouterr().err
    assert "database error: file is not a database" in err and "Traceback" not in err
    assert config.read_bytes() == before


def test_reading_commands_neither_create_a_database_nor_print_tracebacks(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workdir / "config.yaml"
    config.write_text(config.read_text().replace("database: sqlite:///feedrelay.db", "database: sqlite:///typo.db"))
    for command in (["status"], ["explain", "1"]):
        assert main(["-c", str(config), *command]) == 1
        err = capsys.readouterr().err
        assert "no database at" in err and "feedrelay fetch" in err and "Traceback" not in err
    assert not (workdir / "typo.db").exists()
    assert main(["-c", str(config), "opml", "export", "-o", str(workdir / "missing" / "feeds.opml")]) == 1
    err = capsys.readouterr().err
    assert "No such file or directory" in err and "Traceback" not in err

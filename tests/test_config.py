"""Config validation: every problem reported with file, line and field path."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from feedrelay.config import ConfigError, load_config, parse_config

BAD = """\
database: sqlite:///x.db
http:
  workers: lots
feeds:
  - name: a
    url: http://a.example/feed
  - name: b
    url: http://b.example/feed
    colour: red
  - name: c
    url: http://c.example/feed
    interval: 15 minutes
"""


def test_all_errors_reported_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [
        "config.yaml:3: http.workers: 'lots': input should be a valid integer, unable to parse string as an integer",
        "config.yaml:9: feeds[1].colour: unknown key 'colour'",
        "config.yaml:12: feeds[2].interval: '15 minutes' is not a duration (use 15m, 2h, 1d)",
    ]


def test_check_command_exit_2_and_prints_each_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BAD)
    done = subprocess.run([sys.executable, "-m", "feedrelay.cli", "-c", str(path), "check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "config.yaml:3: http.workers" in done.stderr
    assert "config.yaml:9: feeds[1].colour: unknown key" in done.stderr
    assert "config.yaml:12: feeds[2].interval: '15 minutes' is not a duration" in done.stderr


def test_target_errors_name_the_target_field(tmp_path: Path) -> None:
    text = "targets:\n  - name: out\n    type: feed\n    dir: out\n    max_items: 0\n  - name: x\n    type: ftp\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "c.yaml")
    assert info.value.errors[0] == "c.yaml:5: targets[0].max_items: 0: input should be greater than or equal to 1"
    assert info.value.errors[1].startswith("c.yaml:6: targets[1]:")
    assert "feed" in info.value.errors[1] and "wordpress" in info.value.errors[1]


def test_zero_durations_and_crossed_interval_bounds_are_rejected(tmp_path: Path) -> None:
    """A 0s interval polled a feed continuously and a 0s max_backoff retried errors at once."""
    text = ("http:\n  deadline: 0\ndefaults:\n  interval: 0s\n  max_backoff: 0m\n"
            "  min_interval: 2h\n  max_interval: 1h\nfeeds:\n  - {name: a, url: http://a.example/, interval: 0.0h}\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "c.yaml")
    assert info.value.errors == [
        "c.yaml:2: http.deadline: 0 is not longer than zero (use 15m, 2h, 1d)",
        "c.yaml:4: defaults.interval: '0s' is not longer than zero (use 15m, 2h, 1d)",
        "c.yaml:5: defaults.max_backoff: '0m' is not longer than zero (use 15m, 2h, 1d)",
        "c.yaml:9: feeds[0].interval: '0.0h' is not longer than zero (use 15m, 2h, 1d)",
    ]
    crossed = "defaults:\n  min_interval: 2h\n  max_interval: 1h\n"
    with pytest.raises(ConfigError) as info:
        parse_config(crossed, tmp_path / "c.yaml")
    assert info.value.errors == ["c.yaml:1: defaults: min_interval (2h) is longer than max_interval (1h)"]


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("feeds:\n  - name: a\n   url: [\n", tmp_path / "c.yaml")
    assert info.value.errors[0].startswith("c.yaml:")
    assert "invalid YAML" in info.value.errors[0]


def test_duplicate_feed_names_rejected(tmp_path: Path) -> None:
    text = "feeds:\n  - {name: a, url: http://a.example/}\n  - {name: a, url: http://b.example/}\n"
    with pytest.raises(ConfigError, match="duplicate feed name 'a'"):
        parse_config(text, tmp_path / "c.yaml")


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = parse_config("feeds:\n  - {name: s, url: samples/a.xml, interval: 2h}\n", tmp_path / "c.yaml")
    assert config.database_url == f"sqlite:///{tmp_path}/feedrelay.db"
    assert config.feed_url(config.feeds[0]) == str(tmp_path / "samples" / "a.xml")
    assert config.feed_interval(config.feeds[0]) == timedelta(hours=2)
    assert config.http.allow_private_networks is False
    assert config.http.max_body == 15 * 1024 * 1024


def test_secrets_come_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("targets:\n  - name: wp\n    type: wordpress\n    url: http://wp.example\n"
            "    username: admin\n    password_env: FEEDRELAY_TEST_WP_PW\n")
    monkeypatch.delenv("FEEDRELAY_TEST_WP_PW", raising=False)
    config = parse_config(text, tmp_path / "c.yaml")
    assert config.missing_secrets() == ["targets: wp: environment variable FEEDRELAY_TEST_WP_PW is not set"]
    with pytest.raises(ConfigError, match="unknown key 'password'"):
        parse_config(text.replace("password_env: FEEDRELAY_TEST_WP_PW", "password: hunter2"), tmp_path / "c.yaml")


def test_bundled_example_config_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config.yaml")
    assert [f.name for f in config.feeds] == ["minsk-chronicle", "belnews-digest", "field-notes"]
    for feed in config.feeds:
        assert Path(config.feed_url(feed)).is_file()

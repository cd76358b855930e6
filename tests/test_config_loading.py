"""How config.yaml is read: the plain YAML loader for the normal path, the line-keeping round-trip
parse only for the messages of a config that fails validation, and one read per command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

import feedrelay.cli
from feedrelay.config import Config, ConfigError, _plain, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def round_trip_config(text: str, path: Path) -> Config:
    """The config as the round-trip loader (the one that keeps lines) reads it."""
    document = YAML(typ="rt").load(text)
    return Config.model_validate({**_plain(document), "path": path.resolve()})


def test_example_config_reads_the_same_as_with_the_round_trip_loader() -> None:
    path = ROOT / "config.yaml"
    text = path.read_text(encoding="utf-8")
    assert parse_config(text, path) == round_trip_config(text, path)


def test_anchors_merge_keys_and_block_scalars_read_the_same(tmp_path: Path) -> None:
    text = (
        "defaults:\n  clean: &rules\n    remove: ['.ad', '.share']\n    summary_chars: 200\n"
        "feeds:\n  - name: a\n    url: http://a.example/feed\n    interval: 2h\n"
        "    clean:\n      <<: *rules\n      strip_links: true\n"
        "    tags: [on, off, yes]\n"
        "targets:\n  - name: out\n    type: feed\n    dir: out\n    description: |\n      two\n      lines\n"
    )
    config = parse_config(text, tmp_path / "c.yaml")
    assert config == round_trip_config(text, tmp_path / "c.yaml")
    assert config.feeds[0].tags == ["on", "off", "yes"]  # YAML 1.2: no yes/no booleans
    assert config.feeds[0].clean is not None and config.feeds[0].clean.remove == [".ad", ".share"]


def test_error_lines_in_a_long_config(tmp_path: Path) -> None:
    feeds = [f"  - name: feed-{n}\n    url: http://feeds.example/{n}.xml\n" for n in range(500)]
    feeds[321] += "    interval: soon\n"
    feeds[400] += "    colour: red\n"
    path = tmp_path / "config.yaml"
    path.write_text("database: sqlite:///x.db\nfeeds:\n" + "".join(feeds))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [
        "config.yaml:647: feeds[321].interval: 'soon' is not a duration (use 15m, 2h, 1d)",
        "config.yaml:806: feeds[400].colour: unknown key 'colour'",
    ]


def test_unknown_tag_is_a_yaml_error_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("feeds:\n  - name: a\n    url: !env FEED_URL\n", tmp_path / "c.yaml")
    assert info.value.errors == ["c.yaml:3: invalid YAML: could not determine a constructor for the tag '!env'"]


def test_a_command_line_reads_the_config_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("feeds:\n  - name: a\n    url: http://a.example/feed\n")
    reads: list[Path] = []

    def counting_load(config_path: Path) -> Config:
        reads.append(config_path)
        return load_config(config_path)

    monkeypatch.setattr(feedrelay.cli, "load_config", counting_load)
    assert feedrelay.cli.main(["-c", str(path), "check"]) == 0
    assert reads == [path]
    assert "ok (1 feeds, 0 targets)" in capsys.readouterr().out

"""`feedrelay status`: a coloured table in a terminal, plain columns when piped, JSON on request."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedrelay.config import load_config
from feedrelay.pipeline import Relay
from feedrelay.status import relative

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    path = tmp_path / "config.yaml"
    path.write_text("""database: sqlite:///relay.db
feeds:
  - name: field-notes
    url: samples/field-notes-atom.xml
  - name: broken
    url: samples/missing.xml
  - name: later
    url: samples/minsk-chronicle.xml
    enabled: false
targets: []
""")
    with Relay(load_config(path)) as relay:
        relay.run_once()
    return path


def run_status(config: Path, *args: str, tty: bool = False) -> str:
    command = [sys.executable, "-m", "feedrelay.cli", "-c", str(config), "status", *args]
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    if not tty:
        return subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=60).stdout
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_piped_status_is_plain_columns(config: Path) -> None:
    out = run_status(config)
    assert "\x1b[" not in out and "┃" not in out and "│" not in out
    lines = out.splitlines()
    assert lines[0].split() == ["feed", "health", "last", "fetch", "result", "next", "check", "errors", "last",
                                "error", "items", "stories"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["field-notes"].split()[1:3] == ["ok", "now"]
    assert " error " in rows["broken"] and "cannot read" in rows["broken"]
    assert rows["later"].split()[1] == "disabled"


def test_status_in_a_terminal_has_colours(config: Path) -> None:
    out = run_status(config, tty=True)
    assert "\x1b[" in out  # ANSI colours
    assert "┃" in out or "│" in out  # a drawn table
    assert "field-notes" in out and "broken" in out


def test_status_json(config: Path) -> None:
    feeds = {f["name"]: f for f in json.loads(run_status(config, "--json"))["feeds"]}
    assert feeds["field-notes"]["health"] == "ok" and feeds["field-notes"]["items"] == 2
    assert feeds["broken"]["error_count"] == 1 and "cannot read" in feeds["broken"]["last_error"]
    assert datetime.fromisoformat(feeds["field-notes"]["last_fetch"]).tzinfo is not None
    assert feeds["later"]["health"] == "disabled"


def test_relative_times() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert relative(None, now) == "—"
    assert relative(now + timedelta(seconds=20), now) == "now"
    assert relative(now - timedelta(minutes=5), now) == "5m ago"
    assert relative(now + timedelta(hours=1, minutes=4), now) == "in 1h 4m"
    assert relative(now - timedelta(days=2, hours=3, minutes=9), now) == "2d 3h ago"

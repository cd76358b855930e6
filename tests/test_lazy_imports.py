"""What `feedrelay run` loads: the CLI with every command registered, and the daemon, without the
libraries only other commands use (rich for terminal output, jinja2/granian/waitress for `serve`),
nor alembic and numpy, which load when a migration or a fingerprint needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OTHER_COMMANDS_ONLY = ("rich", "jinja2", "granian", "waitress", "alembic", "mako", "numpy")


def test_daemon_imports_leave_out_other_commands_libraries() -> None:
    code = ("import sys; from feedrelay.cli import build_parser; build_parser(); import feedrelay.daemon; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({OTHER_COMMANDS_ONLY!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

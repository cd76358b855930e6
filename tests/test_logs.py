"""Logs: readable text or one JSON object per line, and secrets never appear in either, even at DEBUG."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from feedrelay.logs import JsonFormatter, redact, register_secret, setup_logging
from tests.support.server import LocalServer, Request, Response

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"  # the shape of a WordPress application password
WEBHOOK_SECRET = "whsec-4f1b8c0e9d"
USER = "relay-bot"


def forms(secret: str, user: str | None = None) -> list[str]:
    """The ways a secret could leak: itself, URL-encoded, and inside Basic auth."""
    found = [secret, secret.replace(" ", "%20"), secret.replace(" ", "+")]
    if user:
        found.append(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return found


def echo_headers(request: Request) -> Response:
    """A misbehaving proxy that puts the request's headers (credentials included) into its error page."""
    body = json.dumps({"code": "bad_gateway", "message": f"upstream failed; request was {request.headers}",
                       "debug": f"user={USER} password={PASSWORD}"})
    return Response(502, body.encode(), {"Content-Type": "application/json"})


@pytest.fixture
def relay_dir(tmp_path: Path) -> tuple[Path, LocalServer]:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    server = LocalServer().start()
    for route in ("/", "/wp-json/wp/v2", "/wp-json/wp/v2/users/me", "/wp-json/wp/v2/posts"):
        server.route(route, echo_headers)
    server.route("/hook", echo_headers)
    (tmp_path / "config.yaml").write_text(f"""database: sqlite:///relay.db
http:
  allow_private_networks: true
feeds:
  - name: field-notes
    url: samples/field-notes-atom.xml
targets:
  - name: wp
    type: wordpress
    url: {server.url("")}
    username: {USER}
    password_env: FEEDRELAY_TEST_WP_PASSWORD
  - name: hook
    type: webhook
    url: {server.url("/hook")}
    secret_env: FEEDRELAY_TEST_WEBHOOK_SECRET
""")
    yield tmp_path, server
    server.stop()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_failing_wordpress_run_at_debug_never_logs_the_password(relay_dir: tuple[Path, LocalServer],
                                                                  fmt: str) -> None:
    directory, server = relay_dir
    env = {**os.environ, "FEEDRELAY_TEST_WP_PASSWORD": PASSWORD, "FEEDRELAY_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET}
    run = subprocess.run([sys.executable, "-m", "feedrelay.cli", "-c", str(directory / "config.yaml"),
                          "--log-level", "DEBUG", "--log-format", fmt, "fetch"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert any(r.path.startswith("/wp-json") for r in server.requests)  # the target did try, with credentials
    assert any("Authorization" in r.headers for r in server.requests)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert any("wp" in line and "502" in line for line in lines), output  # the failure itself is logged
    if fmt == "json":
        for line in lines:
            json.loads(line)
    assert "***" in output  # the echoed credentials reached a log line, masked
    for secret in forms(PASSWORD, USER) + forms(WEBHOOK_SECRET):
        assert secret not in output


def test_registered_secrets_are_masked_in_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    register_secret("s3cr3t value-123", user="alice")
    basic = base64.b64encode(b"alice:s3cr3t value-123").decode()
    for fmt in ("text", "json"):
        setup_logging(fmt, "DEBUG")
        logging.getLogger("feedrelay.test").debug("token s3cr3t value-123 and header Basic %s", basic)
        try:
            raise RuntimeError("failed with s3cr3t value-123")
        except RuntimeError:
            logging.getLogger("feedrelay.test").exception("boom")
    err = capsys.readouterr().err
    assert "s3cr3t" not in err and basic not in err
    assert err.count("***") >= 4


def test_pattern_redaction_of_unregistered_credentials() -> None:
    assert redact("GET https://bob:hunter2@example.org/feed") == "GET https://bob:***@example.org/feed"
    assert "hunter2" not in redact("Authorization: Basic aHVudGVyMg==")
    assert "hunter2" not in redact("password=hunter2&x=1")


def test_json_lines_have_time_level_logger_message() -> None:
    record = logging.LogRecord("feedrelay.pipeline", logging.WARNING, __file__, 1, "feed %s: %s", ("a", "b"), None)
    document = json.loads(JsonFormatter().format(record))
    assert document["level"] == "warning" and document["logger"] == "feedrelay.pipeline"
    assert document["message"] == "feed a: b" and document["time"].endswith("+00:00")

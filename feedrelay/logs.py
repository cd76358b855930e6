"""Logging: human-readable by default, one JSON object per line for log shippers."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from feedrelay.config import Config

_CREDENTIAL = re.compile(r"(?i)(authorization:\s*(?:basic|bearer)\s+|password[=:]\s*|secret[=:]\s*|token[=:]\s*)"
                         r"([^\s,;\"'&]+)")
_URL_PASSWORD = re.compile(r"(://[^/:@\s]+:)([^\s/@]+)(?=@)")


_known_secrets: set[str] = set()


def register_secret(value: str | None, *, user: str | None = None) -> None:
    """Mask this exact value in every log line from now on: as is, URL-encoded, and inside an HTTP
    Basic credential with `user`. Values shorter than 4 characters are ignored."""
    if not value or len(value) < 4:
        return
    forms = {value, quote(value, safe=""), quote_plus(value)}
    if user:
        forms.add(base64.b64encode(f"{user}:{value}".encode()).decode())
    _known_secrets.update(forms)


def register_config_secrets(config: Config) -> None:
    """Register the values of every secret the config names by environment variable."""
    for target in config.targets:
        for key in ("password_env", "secret_env"):
            env = getattr(target, key, None)
            if env:
                register_secret(os.environ.get(env), user=getattr(target, "username", None))
    if config.serve.token_env:
        register_secret(os.environ.get(config.serve.token_env))


def redact(text: str) -> str:
    """Mask credentials in a message: registered secret values, and by pattern basic auth,
    password=…/secret=… and user:pass@ in URLs."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern in (_CREDENTIAL, _URL_PASSWORD):
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON document per record: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            document["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(document, ensure_ascii=False)


def current_logging() -> tuple[str, str]:
    """The root logger's (format, level) as `setup_logging` takes them, for a worker process."""
    root = logging.getLogger()
    json = any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers)
    return ("json" if json else "text", logging.getLevelName(root.level))


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Configure the root logger once for the process (stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else _Redacting(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "apscheduler", "alembic", "waitress"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

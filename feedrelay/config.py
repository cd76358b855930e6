"""`config.yaml`: pydantic models, loading, and errors that name the file, line and field."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from feedrelay.durations import Duration, Size, format_duration


class ConfigError(Exception):
    """An invalid config file; `errors` holds one `file:line: path: message` string per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpConfig(Strict):
    """How feeds (and images) are fetched."""

    user_agent: str | None = None
    connect_timeout: Duration = timedelta(seconds=10)
    read_timeout: Duration = timedelta(seconds=30)
    deadline: Duration = timedelta(seconds=60)
    workers: int = Field(16, ge=1, le=512)
    per_host: int = Field(2, ge=1, le=64)
    max_body: Size = 15 * 1024 * 1024
    max_redirects: int = Field(5, ge=0, le=20)
    allow_private_networks: bool = False


class RewriteConfig(Strict):
    """A regex rewrite applied to the title and/or content (like WPeMatico's rewrites)."""

    pattern: str
    replace: str = ""
    field: Literal["title", "content", "both"] = "content"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression ({exc})") from exc
        return value


class CleanConfig(Strict):
    """Per-feed cleaning and filtering rules, on top of the built-in litter rules."""

    remove: list[str] = []
    rewrite: list[RewriteConfig] = []
    strip_links: bool = False
    images: Literal["keep", "strip"] = "keep"
    include: list[str] = []
    exclude: list[str] = []
    summary_chars: int = Field(300, ge=20, le=5000)


class DefaultsConfig(Strict):
    """Defaults every feed inherits."""

    interval: Duration = timedelta(minutes=30)
    min_interval: Duration = timedelta(minutes=5)
    max_interval: Duration = timedelta(days=1)
    max_backoff: Duration = timedelta(hours=24)
    max_items: int = Field(200, ge=1, le=100_000)
    clean: CleanConfig = CleanConfig()

    @model_validator(mode="after")
    def _bounds_in_order(self) -> DefaultsConfig:
        if self.min_interval > self.max_interval:
            raise ValueError(f"min_interval ({format_duration(self.min_interval)}) is longer than "
                             f"max_interval ({format_duration(self.max_interval)})")
        return self


class DedupConfig(Strict):
    """How copies of one article become one story."""

    representative: Literal["earliest", "priority"] = "earliest"
    near_duplicates: bool = True
    similarity: float = Field(0.9, ge=0.5, le=1.0)  # containment a near-duplicate merge needs
    retention: Duration = timedelta(days=180)


class FeedConfig(Strict):
    """One source feed."""

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1)
    interval: Duration | None = None
    enabled: bool = True
    tags: list[str] = []
    priority: int = 0
    complete: bool = False
    verify_tls: bool = True
    wordpress_api: Literal["auto", "on", "off"] = "auto"
    clean: CleanConfig | None = None


class FilterConfig(Strict):
    """Which stories a target takes: all lists empty means every story."""

    feeds: list[str] = []
    tags: list[str] = []
    categories: list[str] = []
    keywords: list[str] = []
    exclude_keywords: list[str] = []

    @property
    def selective(self) -> bool:
        """Whether the target takes only stories some copy qualifies for (by feed, tag, category
        or keyword), so that a copy joining later can bring it a story."""
        return any((self.feeds, self.tags, self.categories, self.keywords))


class TargetBase(Strict):
    """Keys every target has."""

    name: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    filters: FilterConfig = FilterConfig()
    attribution: str | None = None


class FeedTargetConfig(TargetBase):
    """Atom/RSS/JSON Feed files in a directory."""

    type: Literal["feed"]
    dir: Path
    formats: list[Literal["atom", "rss", "json"]] = ["atom", "rss", "json"]
    title: str = "feedrelay"
    description: str = "Stories republished by feedrelay"
    base_url: str | None = None
    max_items: int = Field(50, ge=1, le=10_000)


class WordPressTargetConfig(TargetBase):
    """A WordPress site written through its REST API with an Application Password."""

    type: Literal["wordpress"]
    url: str
    username: str
    password_env: str
    status: Literal["draft", "publish", "pending"] = "draft"
    author: int | None = None
    featured_image: Literal["off", "featured", "all"] = "featured"
    on_retract: Literal["draft", "trash", "keep"] = "draft"
    recreate_deleted: bool = False
    timeout: Duration = timedelta(seconds=30)


class WebhookTargetConfig(TargetBase):
    """POST a signed JSON document per story revision."""

    type: Literal["webhook"]
    url: str
    secret_env: str
    timeout: Duration = timedelta(seconds=15)


class DirectoryTargetConfig(TargetBase):
    """One Markdown file with YAML front matter per story, for static sites."""

    type: Literal["directory"]
    dir: Path


TargetConfig = Annotated[
    FeedTargetConfig | WordPressTargetConfig | WebhookTargetConfig | DirectoryTargetConfig,
    Field(discriminator="type"),
]
TARGET_TYPES = ("feed", "wordpress", "webhook", "directory")


class ServeConfig(Strict):
    """`feedrelay serve`: the read-only feed server and dashboard."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    token_env: str | None = None
    threads: int = Field(8, ge=1, le=128)
    engine: Literal["granian", "waitress"] = "granian"
    workers: int = Field(1, ge=1, le=64)


class WorkerConfig(Strict):
    """This daemon's identity and leases when several share one database."""

    id: str | None = None
    processes: int = Field(1, ge=1, le=64)  # processes polling feeds (the GIL keeps each on one core)
    lease: Duration = timedelta(minutes=5)
    delivery_lease: Duration = timedelta(minutes=2)


class LogConfig(Strict):
    """Logging."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Config(Strict):
    """The whole `config.yaml`."""

    database: str | None = None
    http: HttpConfig = HttpConfig()
    defaults: DefaultsConfig = DefaultsConfig()
    dedup: DedupConfig = DedupConfig()
    feeds: list[FeedConfig] = []
    targets: list[TargetConfig] = []
    serve: ServeConfig = ServeConfig()
    worker: WorkerConfig = WorkerConfig()
    metrics_port: int | None = Field(None, ge=0, le=65535)
    log: LogConfig = LogConfig()
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for kind, names in (("feed", [f.name for f in self.feeds]), ("target", [t.name for t in self.targets])):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"duplicate {kind} name {name!r}")
                seen.add(name)
        return self

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the config are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; default and relative SQLite paths sit next to the config file."""
        url = self.database or "sqlite:///feedrelay.db"
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
            return f"sqlite:///{self.base_dir / url.removeprefix('sqlite:///')}"
        return url

    def feed_url(self, feed: FeedConfig) -> str:
        """The feed's URL, with a relative local path resolved against the config's directory."""
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", feed.url):
            return feed.url
        return str((self.base_dir / feed.url).resolve())

    def resolve_path(self, path: Path) -> Path:
        """A config path made absolute against the config's directory."""
        return path if path.is_absolute() else (self.base_dir / path)

    def feed_interval(self, feed: FeedConfig) -> timedelta:
        """The feed's interval, or the default."""
        return feed.interval or self.defaults.interval

    def feed_clean(self, feed: FeedConfig) -> CleanConfig:
        """The feed's cleaning rules, or the default ones."""
        return feed.clean or self.defaults.clean

    def missing_secrets(self) -> list[str]:
        """Environment variables named by targets that are not set."""
        missing = []
        for target in self.targets:
            for key in ("password_env", "secret_env"):
                env = getattr(target, key, None)
                if env and not os.environ.get(env):
                    missing.append(f"targets: {target.name}: environment variable {env} is not set")
        return missing


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; raises ConfigError listing every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror}"]) from exc
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Validate config `text` read from `path` (used for messages and relative paths).

    The text is parsed with the plain (safe) YAML loader: a round-trip parse, which remembers every
    node's line, costs twice the time and memory on a config with thousands of feeds. Only when
    validation fails is the text parsed again round-trip, to name each failing field's line.
    """
    try:
        # pure: the C loader (ruamel.yaml.clib, used when installed) is YAML 1.1 and rejects what
        # the round-trip loader accepts, e.g. `{url: http://a.example/}` in a flow mapping.
        document = YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigError([f"{path.name}:{line}: invalid YAML: {exc.problem or exc}"]) from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError([f"{path.name}:1: the config must be a mapping of keys (database, feeds, …)"])
    try:
        return Config.model_validate({**_plain(document), "path": path.resolve()})
    except ValidationError as exc:
        located = YAML(typ="rt").load(text)
        raise ConfigError([_describe(error, located, path) for error in exc.errors()]) from exc


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _describe(error: Any, document: Any, path: Path) -> str:
    loc = _without_union_tags(error["loc"])
    line = _line_of(document, loc, error["type"] == "extra_forbidden")
    where = _format_loc(loc)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] not in ("value_error", "assertion_error") and "input" in error:
        value = error["input"]
        if not isinstance(value, dict | list):
            message = f"{value!r}: {message[0].lower()}{message[1:]}"
    return f"{path.name}:{line}: {where}: {message}" if where else f"{path.name}:{line}: {message}"


def _without_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    parts: list[Any] = []
    for i, part in enumerate(loc):
        if i >= 2 and loc[0] == "targets" and i == 2 and part in TARGET_TYPES:
            continue
        parts.append(part)
    return tuple(parts)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(document: Any, loc: tuple[Any, ...], is_key: bool) -> int:
    """The 1-based line of the deepest node of `loc` present in the YAML document."""
    node, line = document, 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            key_line, _, value_line, _ = node.lc.data[part]
            scalar = not isinstance(node[part], dict | list)
            line = value_line + 1 if scalar and not is_key else key_line + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line

"""Polite, guarded HTTP fetching of feeds: conditional GET, redirects, limits, SSRF guard.

`Fetcher.fetch` turns one feed's stored state into a `FetchResult` the pipeline and scheduler act
on; it never raises for network or server trouble (the result says what went wrong, in words an
operator can read). Redirects are followed by hand so every hop passes the SSRF guard and
permanent moves (301/308) are told apart from temporary ones. One pooled `requests.Session`
(keep-alive) is shared by all worker threads; a per-host semaphore caps concurrency per site.

Limits: the total deadline holds from the first connect to the last body byte. Before the
headers are in, each read is bounded by min(read timeout, time left) and a watchdog cuts the
connection when the deadline passes (`ingest.watchdog`: a server trickling its headers byte by
byte cannot hold a worker); while the body streams it is checked after every read, the socket
timeout lowered to the time left. The SSRF guard checks and pins every connection's address (see
`ingest.netguard`); keep-alive connections are reused only for the host they were checked for.
"""

from __future__ import annotations

import hashlib
import http
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

import requests
import urllib3

from feedrelay import __version__
from ingest.bodyreader import SUPPORTED_ENCODINGS, BodyError, Deadline, read_body, size_text
from ingest.discover import discover_feed_url, looks_like_html
from ingest.encoding import normalize_encoding
from ingest.netguard import AddressGuard, BlockedAddress, GuardedAdapter, Resolver
from ingest.watchdog import ConnectionWatch

__all__ = ["FetchError", "FetchResult", "FetchState", "Fetcher", "HttpSettings", "discover_feed_url"]

Outcome = Literal["ok", "not_modified", "unchanged", "error", "gone", "retry_later"]
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
REDIRECTS = {301, 302, 303, 307, 308}
PERMANENT = {301, 308}
DRAIN_LIMIT = 64 * 1024
MAX_RETRY_AFTER_SECONDS = 10 * 365 * 86400  # far beyond any schedule, far below datetime.max


@dataclass
class HttpSettings:
    """The `http:` section of the configuration."""

    user_agent: str = f"feedrelay/{__version__} (+https://github.com/feedrelay/feedrelay)"
    connect_timeout: float = 10
    read_timeout: float = 30
    deadline: float = 60
    max_body: int = 15 * 1024 * 1024
    max_redirects: int = 5
    allow_private_networks: bool = False
    per_host: int = 2


@dataclass
class FetchState:
    """What is remembered about a feed between fetches."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    verify_tls: bool = True


@dataclass
class FetchResult:
    """The outcome of one fetch; `body` is set only for "ok".

    `body` is decompressed and converted to UTF-8 (its XML declaration says so);
    `content_type` is the media type without parameters.
    """

    outcome: Outcome
    url: str
    moved_from: str | None = None
    http_status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    max_age: float | None = None
    retry_after: datetime | None = None
    error: str | None = None
    elapsed: float = 0.0
    warnings: list[str] = field(default_factory=list)
    api_root: str | None = None  # the WordPress REST API root a `Link: rel="https://api.w.org/"` names


class FetchError(Exception):
    """A download failed; the message is meant for an operator."""


@dataclass
class _Answer:
    status: int
    reason: str
    headers: requests.structures.CaseInsensitiveDict
    body: bytes | None
    url: str
    stored_url: str


def _status_text(status: int, reason: str | None) -> str:
    if not reason:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"HTTP {status} {reason}".rstrip()


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """Retry-After as an absolute time: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():  # bounded: an absurd number of seconds must not overflow the datetime
        return now + timedelta(seconds=min(int(value), MAX_RETRY_AFTER_SECONDS))
    return _http_date(value)


def parse_max_age(headers: requests.structures.CaseInsensitiveDict, now: datetime) -> float | None:
    """Freshness lifetime in seconds from Cache-Control (max-age, no-store, no-cache) or Expires."""
    directives = {}
    for part in headers.get("Cache-Control", "").split(","):
        name, _, value = part.strip().partition("=")
        directives[name.lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    if directives.get("max-age", "").isdigit():
        return float(directives["max-age"])
    if "Expires" in headers:
        expires = _http_date(headers["Expires"])
        if expires is None:
            return 0.0
        base = _http_date(headers.get("Date")) or now
        return max(0.0, (expires - base).total_seconds())
    return None


def _describe(error: requests.RequestException, settings: HttpSettings, deadline: Deadline) -> str:
    """An operator-readable sentence for a requests/urllib3 failure."""
    if deadline.remaining() < 0.05 and isinstance(error, requests.Timeout):
        return deadline.message()
    host = urlsplit(error.request.url).netloc if error.request is not None else "server"
    if isinstance(error, requests.ConnectTimeout):
        return f"connect timeout after {settings.connect_timeout:g}s ({host})"
    if isinstance(error, requests.ReadTimeout):
        return f"read timeout after {settings.read_timeout:g}s ({host})"
    if isinstance(error, requests.exceptions.SSLError):
        return f"TLS error ({host}): {_root_cause(error)}"
    cause = _root_cause(error)
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return f"DNS lookup failed for {host}"
    if "refused" in str(cause).lower():
        return f"connection refused by {host}"
    return f"connection failed ({host}): {cause}"


def _root_cause(error: BaseException) -> BaseException:
    seen = error
    while True:
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException):
            seen = reason
            continue
        if seen.args and isinstance(seen.args[0], BaseException):
            seen = seen.args[0]
            continue
        return seen


def _api_root(link_header: str | None) -> str | None:
    if not link_header or "api.w.org" not in link_header:
        return None
    for link in requests.utils.parse_header_links(link_header):
        if link.get("rel") == "https://api.w.org/" and link.get("url"):
            return link["url"]
    return None


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    if url.startswith("/"):
        return Path(url)
    return None


class Fetcher:
    """Fetches feeds and other resources; safe to share between worker threads."""

    def __init__(self, settings: HttpSettings, *, resolver: Resolver | None = None,
                 guard: AddressGuard | None = None) -> None:
        """`resolver` ((host, port) → addresses) replaces DNS and `guard` the address policy (tests)."""
        self.settings = settings
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update({
            "User-Agent": settings.user_agent,
            "Accept-Encoding": ", ".join(SUPPORTED_ENCODINGS),
        })
        self.watch = ConnectionWatch()
        adapter = GuardedAdapter(
            guard or AddressGuard(settings.allow_private_networks, resolver), self.watch,
            pool_connections=128, pool_maxsize=max(settings.per_host, 2),
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    @contextmanager
    def _host_slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._slots_lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = self._slots[host] = threading.BoundedSemaphore(self.settings.per_host)
        with slot:
            yield

    def fetch(self, state: FetchState) -> FetchResult:
        """Fetch `state.url` conditionally; never raises for network or server trouble."""
        started = time.monotonic()
        path = _local_path(state.url)
        result = self._fetch_file(state, path) if path else self._fetch_http(state)
        result.elapsed = time.monotonic() - started
        return result

    def get_bytes(self, url: str, *, max_bytes: int | None = None, accept: str = "*/*") -> tuple[bytes, str | None]:
        """Download `url` under the same guards; returns (body, content type); raises FetchError."""
        deadline = Deadline(self.settings.deadline)
        answer = self._request(url, {"Accept": accept}, deadline, True, max_bytes or self.settings.max_body)
        if answer.status != 200 or answer.body is None:
            raise FetchError(f"{_status_text(answer.status, answer.reason)} ({answer.url})")
        return answer.body, answer.headers.get("Content-Type")

    def _fetch_file(self, state: FetchState, path: Path) -> FetchResult:
        try:
            with path.open("rb") as handle:
                body = handle.read(self.settings.max_body + 1)
        except OSError as e:
            return self._error(state, f"cannot read {path}: {e.strerror or e}")
        if len(body) > self.settings.max_body:
            return self._error(state, f"body exceeds {size_text(self.settings.max_body)}")
        return self._accept_body(state, state.url, None, body, None, requests.structures.CaseInsensitiveDict())

    def _fetch_http(self, state: FetchState) -> FetchResult:
        headers = {"Accept": FEED_ACCEPT}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        deadline = Deadline(self.settings.deadline)
        try:
            answer = self._request(state.url, headers, deadline, state.verify_tls, self.settings.max_body)
        except FetchError as e:
            return self._error(state, str(e))
        now = datetime.now(UTC)
        moved = answer.stored_url if answer.stored_url != state.url else None
        base = FetchResult(
            outcome="error", url=answer.stored_url, moved_from=state.url if moved else None,
            http_status=answer.status, etag=state.etag, last_modified=state.last_modified,
            body_hash=state.body_hash, max_age=parse_max_age(answer.headers, now),
        )
        if not state.verify_tls and state.url.startswith("https:"):
            base.warnings.append("TLS certificate verification is disabled for this feed")
        status = answer.status
        if status == 304:
            base.outcome = "not_modified"
            base.etag = answer.headers.get("ETag") or state.etag
            base.last_modified = answer.headers.get("Last-Modified") or state.last_modified
            return base
        if status == 410:
            base.outcome, base.error = "gone", _status_text(status, answer.reason)
            return base
        retry_after = parse_retry_after(answer.headers.get("Retry-After"), now)
        if status == 429 or (status == 503 and retry_after):
            base.outcome, base.retry_after = "retry_later", retry_after
            base.error = _status_text(status, answer.reason)
            return base
        if not 200 <= status < 300 or answer.body is None:
            base.error = _status_text(status, answer.reason)
            return base
        return self._accept_body(state, answer.stored_url, base, answer.body, answer.url, answer.headers)

    def _accept_body(self, state: FetchState, url: str, base: FetchResult | None, body: bytes,
                     page_url: str | None, headers: requests.structures.CaseInsensitiveDict) -> FetchResult:
        result = base or FetchResult(outcome="error", url=url, etag=state.etag,
                                     last_modified=state.last_modified, body_hash=state.body_hash)
        content_type = headers.get("Content-Type")
        media_type = content_type.split(";")[0].strip().lower() if content_type else None
        result.content_type = media_type
        if not body or body.isspace():
            result.error = "empty response body"
            return result
        if looks_like_html(body, media_type):
            feed = discover_feed_url(body, page_url or url)
            result.error = "HTML page, not a feed" + (f" (alternate feed: {feed})" if feed else "")
            return result
        result.etag = headers.get("ETag")
        result.last_modified = headers.get("Last-Modified")
        result.api_root = _api_root(headers.get("Link"))
        result.body_hash = hashlib.sha256(body).hexdigest()
        if result.body_hash == state.body_hash:
            result.outcome = "unchanged"
            return result
        charset = requests.utils.get_encoding_from_headers({"content-type": content_type}) if content_type else None
        if charset == "ISO-8859-1" and "charset" not in content_type.lower():
            charset = None  # requests' text/* default, not something the server said
        result.body, notes = normalize_encoding(body, charset)
        result.warnings.extend(notes)
        result.outcome = "ok"
        return result

    def _error(self, state: FetchState, message: str) -> FetchResult:
        return FetchResult(outcome="error", url=state.url, etag=state.etag, last_modified=state.last_modified,
                           body_hash=state.body_hash, error=message)

    def _request(self, url: str, headers: dict[str, str], deadline: Deadline, verify: bool,
                 max_bytes: int) -> _Answer:
        """GET `url`, following redirects by hand; the body is read only for 2xx answers."""
        stored_url, permanent_chain = url, True
        for _ in range(self.settings.max_redirects + 1):
            scheme = urlsplit(url).scheme.lower()
            if scheme not in ("http", "https"):
                raise FetchError(f"refused: {scheme or 'relative'} URL {url!r} (only http and https)")
            with self._host_slot(url):
                response = self._send(url, headers, deadline, verify)
                try:
                    location = response.headers.get("Location")
                    if response.status_code in REDIRECTS and location:
                        self._discard(response, deadline)
                        next_url = urljoin(url, location.strip())
                        if permanent_chain and response.status_code in PERMANENT:
                            stored_url = next_url
                        else:
                            permanent_chain = False
                        url = next_url
                        continue
                    body = None
                    if 200 <= response.status_code < 300:
                        body = read_body(response, max_bytes=max_bytes, deadline=deadline,
                                         read_timeout=self.settings.read_timeout)
                    else:
                        self._discard(response, deadline)
                except BodyError as e:
                    response.close()
                    raise FetchError(str(e)) from e
                else:
                    response.raw.release_conn()
                return _Answer(response.status_code, response.reason, response.headers, body, url, stored_url)
        raise FetchError(f"too many redirects (more than {self.settings.max_redirects})")

    def _send(self, url: str, headers: dict[str, str], deadline: Deadline, verify: bool) -> requests.Response:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise FetchError(deadline.message())
        timeout = (min(self.settings.connect_timeout, remaining), min(self.settings.read_timeout, remaining))
        if not verify:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        with self.watch.deadline(remaining) as watched:
            try:
                return self.session.send(self._prepare(url, headers), timeout=timeout, verify=verify,
                                         allow_redirects=False, stream=True, proxies={}, cert=None)
            except BlockedAddress as e:
                raise FetchError(str(e)) from e
            except requests.RequestException as e:
                raise FetchError(deadline.message() if watched.cut else _describe(e, self.settings, deadline)) from e
            except ValueError as e:  # malformed URL that requests rejects late
                raise FetchError(f"invalid URL {url!r}: {e}") from e

    def _prepare(self, url: str, headers: dict[str, str]) -> requests.PreparedRequest:
        """The GET `Session.get` would send (session headers, cookies, auth from the URL), built
        without its per-call merging of settings, a quarter of a 304 poll's CPU."""
        merged = requests.structures.CaseInsensitiveDict(self.session.headers)
        merged.update(headers)
        request = requests.PreparedRequest()
        request.prepare(method="GET", url=url, headers=merged, cookies=self.session.cookies, hooks=self.session.hooks)
        return request

    def _discard(self, response: requests.Response, deadline: Deadline) -> None:
        """Drain a small unwanted body so the connection can be reused; close it otherwise."""
        try:
            read_body(response, max_bytes=DRAIN_LIMIT, deadline=deadline,
                      read_timeout=min(self.settings.read_timeout, 5))
        except BodyError:
            response.close()
        else:
            response.raw.release_conn()

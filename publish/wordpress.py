"""The `wordpress` target: posts written to any WordPress over its REST API.

Authentication is an Application Password (HTTP basic auth). Each story becomes one post; the
post's id is the remote reference, and later revisions update that post. Every post we create
carries an invisible key (`<!-- feedrelay:KEY -->` in its content), so a delivery interrupted
between WordPress's answer and our database commit finds the post instead of creating another.
Images are downloaded through the guarded fetcher and uploaded once (media slug = image key).
A retracted story's post is drafted (marked, so that a later revision republishes it), trashed or
kept; a post an editor deleted or trashed is not recreated unless `recreate_deleted` is set.
"""

from __future__ import annotations

import hashlib
import html
import logging
import mimetypes
import os
from datetime import UTC
from typing import Any, Protocol

import requests

from feedrelay.config import WordPressTargetConfig
from feedrelay.items import Entry
from ingest.urls import display_url, redact_url
from publish.attribution import apply_attribution
from publish.base import Archive, TargetError, retry_after_seconds

log = logging.getLogger("feedrelay.publish.wordpress")

DEFAULT_ATTRIBUTION = '{content}\n<p class="feedrelay-source">Source: <a href="{source_link}">{source_title}</a></p>'
LIVE_STATUSES = "publish,future,draft,pending,private"
LOOKUP_STATUSES = LIVE_STATUSES + ",trash"
IMAGE_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8"
IMAGE_MAX_BYTES = 20 * 1024 * 1024
OUTAGE_PAUSE = 60.0  # seconds a target waits after a 429/5xx without Retry-After


class ImageFetcher(Protocol):
    """What the target needs from `ingest.fetch.Fetcher`: guarded downloads."""

    def get_bytes(self, url: str, *, max_bytes: int | None = None, accept: str = "*/*") -> tuple[bytes, str | None]: ...


class WordPressTarget:
    """Creates and updates posts on one WordPress site."""

    def __init__(self, config: WordPressTargetConfig, fetcher: ImageFetcher | None) -> None:
        self.name = config.name
        self.config = config
        self.fetcher = fetcher
        self.site = config.url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["User-Agent"] = "feedrelay (WordPress target)"
        self._pretty: bool | None = None
        self._authenticated = False
        self._terms: dict[tuple[str, str], int | None] = {}
        self._media: dict[str, tuple[int, str]] = {}

    # -- the Target interface ------------------------------------------------------------------

    def deliver(self, entry: Entry, remote_ref: str | None) -> str | None:
        """Create, update or take down the story's post; returns the post id."""
        if not self._authenticated:
            self._check_credentials()
        post = self._post_by_id(remote_ref) if remote_ref else self._post_by_key(entry, LOOKUP_STATUSES)
        if entry.retracted:
            return self._retract(post, entry) if post else remote_ref
        if post is not None and (post["status"] != "trash" or self._retracted_by_us(post, entry)):
            self._update(post, entry)  # a post we took down ourselves comes back with the story
            return str(post["id"])
        if (remote_ref or post) and not self.config.recreate_deleted:
            where = "deleted" if post is None else "moved to the trash"
            raise TargetError(f"post {remote_ref or post['id']} was {where} in WordPress; not recreating it "
                              "(with recreate_deleted: true the story's next revision is posted again)",
                              retry=False, gone=True)
        # A copy recreated by an attempt that crashed before recording it counts as ours.
        live = self._post_by_key(entry, LIVE_STATUSES) if (remote_ref or post) else None
        if live is not None:
            self._update(live, entry)
            return str(live["id"])
        return str(self._create(entry))

    def flush(self, archive: Archive) -> None:
        """Nothing to do: every delivery went straight to WordPress."""

    # -- posts -------------------------------------------------------------------------------

    def post_key(self, entry: Entry) -> str:
        """The search key hidden in our posts' content, unique per target and story."""
        digest = hashlib.sha1(f"{self.name}\n{entry.entry_id}".encode()).hexdigest()[:24]
        return f"feedrelay{digest}"

    def _post_by_id(self, post_id: str) -> dict[str, Any] | None:
        """The post with our stored id as WordPress has it, or None if it was deleted."""
        response = self._call("GET", f"/wp/v2/posts/{post_id}",
                              params={"context": "edit", "_fields": "id,status,content"}, ok=(200, 404, 410))
        return _json(response) if response.status_code == 200 else None

    def _post_by_key(self, entry: Entry, statuses: str) -> dict[str, Any] | None:
        """Our post for this story found by the key in its content (in one of `statuses`)."""
        key = self.post_key(entry)
        response = self._call("GET", "/wp/v2/posts", params={
            "search": key, "status": statuses, "context": "edit", "per_page": 10,
            "_fields": "id,status,content",
        })
        marker = f"feedrelay:{key}"
        for post in _json(response):
            if marker in _raw_content(post):
                return post
        return None

    def _create(self, entry: Entry) -> int:
        body = self._post_body(entry)
        body["status"] = self.config.status
        if self.config.author is not None:
            body["author"] = self.config.author
        response = self._call("POST", "/wp/v2/posts", json=body, ok=(200, 201))
        post_id = int(_json(response)["id"])
        log.info("target %s: story %s → new post %s", self.name, entry.story_id, post_id)
        return post_id

    def _update(self, post: dict[str, Any], entry: Entry) -> None:
        """Rewrite the post; one we drafted on a retraction gets its configured status back."""
        body = self._post_body(entry)
        if post["status"] in ("draft", "trash") and self._retracted_by_us(post, entry):
            body["status"] = self.config.status
        self._call("POST", f"/wp/v2/posts/{post['id']}", json=body)

    def _retract(self, post: dict[str, Any], entry: Entry) -> str:
        """Take the post down per `on_retract`; a draft is marked so a later revision restores it."""
        post_id = post["id"]
        content = _raw_content(post).replace(self._marker(entry), self._marker(entry, retracted=True))
        if self.config.on_retract == "draft" and post["status"] not in ("draft", "trash"):
            self._call("POST", f"/wp/v2/posts/{post_id}", json={"status": "draft", "content": content})
        elif self.config.on_retract == "trash" and post["status"] != "trash":
            # Marked first, so that the story coming back takes its post out of the trash (one an
            # editor trashed carries no mark and stays there).
            self._call("POST", f"/wp/v2/posts/{post_id}", json={"content": content})
            self._call("DELETE", f"/wp/v2/posts/{post_id}", ok=(200, 404, 410))
        return str(post_id)

    def _retracted_by_us(self, post: dict[str, Any], entry: Entry) -> bool:
        return self._marker(entry, retracted=True) in _raw_content(post)

    def _marker(self, entry: Entry, *, retracted: bool = False) -> str:
        """The HTML comment carrying our key at the end of the post's content."""
        return f"<!-- feedrelay:{self.post_key(entry)}{' retracted' if retracted else ''} -->"

    def _post_body(self, entry: Entry) -> dict[str, Any]:
        item = entry.item
        content = apply_attribution(self.config.attribution or DEFAULT_ATTRIBUTION, entry)
        # WordPress stores a title as HTML (themes print it as is), ours is plain text: escaped, or a
        # title "Why <img onerror=…> tags…" would run in every reader's browser.
        body: dict[str, Any] = {"title": html.escape(item.title, quote=False), "excerpt": self._excerpt(entry)}
        if self.config.featured_image != "off":
            featured, content = self._images(entry, content)
            if featured is not None:
                body["featured_media"] = featured
        body["content"] = f"{content}\n{self._marker(entry)}"
        for taxonomy, names in (("categories", item.categories), ("tags", item.tags)):
            body[taxonomy] = [term for name in dict.fromkeys(names) if (term := self._term(taxonomy, name)) is not None]
        if item.published:
            body["date_gmt"] = item.published.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        return body

    def _excerpt(self, entry: Entry) -> str:
        """The summary, then the canonical source link (themes and feeds show excerpts)."""
        summary = html.escape(entry.item.summary or entry.item.text[:300])
        link = entry.item.source_link or entry.item.link
        if not link:
            return summary
        return f'{summary}\n<a class="feedrelay-source" href="{html.escape(link)}">{html.escape(entry.source_title)}</a>'

    # -- terms -------------------------------------------------------------------------------

    def _term(self, taxonomy: str, name: str) -> int | None:
        """The id of category/tag `name`: looked up, created when missing (None when this user
        may not create terms: the post goes without it); cached per target."""
        cache_key = (taxonomy, name.casefold())
        if cache_key not in self._terms:
            self._terms[cache_key] = self._find_term(taxonomy, name) or self._create_term(taxonomy, name)
        return self._terms[cache_key]

    def _find_term(self, taxonomy: str, name: str) -> int | None:
        """An existing term's id (names compared as WordPress shows them, unescaped, any case)."""
        found = _json(self._call("GET", f"/wp/v2/{taxonomy}", params={"search": name, "per_page": 100,
                                                                       "_fields": "id,name"}))
        wanted = name.strip().casefold()
        return next((int(term["id"]) for term in found if isinstance(term, dict)
                     and html.unescape(str(term.get("name", ""))).strip().casefold() == wanted), None)

    def _create_term(self, taxonomy: str, name: str) -> int | None:
        response = self._call("POST", f"/wp/v2/{taxonomy}", json={"name": name}, ok=(200, 201, 400, 403))
        data = _json(response)
        if response.status_code == 403:  # an Author may post but not add categories or tags
            log.warning("target %s: WordPress user %r may not create %s %r; posts go without it",
                        self.name, self.config.username, taxonomy, name)
            return None
        if response.status_code == 400:
            if data.get("code") != "term_exists":
                raise TargetError(f"WordPress refused {taxonomy} {name!r}: {data.get('message')}", retry=False)
            return int(data["data"]["term_id"])
        return int(data["id"])

    # -- images ------------------------------------------------------------------------------

    def _images(self, entry: Entry, content: str) -> tuple[int | None, str]:
        """Upload the featured image (and with `all`, every inline image, rewriting `src`)."""
        from bs4 import BeautifulSoup  # only here: a daemon without WordPress targets never loads it

        soup = BeautifulSoup(content, "html.parser")
        inline = [img for img in soup.find_all("img") if img.get("src")]
        first = entry.item.image or (inline[0]["src"] if inline else None)
        featured = self._upload(first)[0] if first else None
        if self.config.featured_image != "all" or not inline:
            return featured, content
        for img in inline:
            _, local_url = self._upload(img["src"])
            if local_url:
                img["src"] = local_url
                for attribute in ("srcset", "sizes"):
                    if img.has_attr(attribute):
                        del img[attribute]
        return featured, str(soup)

    def _upload(self, url: str) -> tuple[int | None, str | None]:
        """(media id, its URL) of the image at `url`, uploaded once; (None, None) if unusable."""
        slug = "feedrelay-img-" + hashlib.sha1(url.encode()).hexdigest()[:20]
        if slug in self._media:
            return self._media[slug]
        found = _json(self._call("GET", "/wp/v2/media", params={"slug": slug, "_fields": "id,source_url"}))
        if found:
            self._media[slug] = (int(found[0]["id"]), found[0]["source_url"])
            return self._media[slug]
        if self.fetcher is None:
            return None, None
        try:
            data, content_type = self.fetcher.get_bytes(url, max_bytes=IMAGE_MAX_BYTES, accept=IMAGE_ACCEPT)
        except Exception as exc:  # the guarded fetcher's errors: blocked address, size, HTTP status
            log.warning("target %s: image %s not rehosted: %s", self.name, url, exc)
            return None, None
        media_type = (content_type or "").split(";")[0].strip().lower()
        if not media_type.startswith("image/"):
            log.warning("target %s: %s is not an image (%s)", self.name, url, media_type or "no type")
            return None, None
        extension = mimetypes.guess_extension(media_type) or ".img"
        response = self._call("POST", "/wp/v2/media", data=data, params={"slug": slug, "title": slug},
                              headers={"Content-Type": media_type,
                                       "Content-Disposition": f'attachment; filename="{slug}{extension}"'},
                              ok=(200, 201))
        media = _json(response)
        self._media[slug] = (int(media["id"]), media["source_url"])
        return self._media[slug]

    # -- HTTP --------------------------------------------------------------------------------

    def _password(self) -> str:
        password = os.environ.get(self.config.password_env)
        if not password:
            raise TargetError(f"environment variable {self.config.password_env} (the WordPress "
                              f"Application Password) is not set", pause=True)
        return password

    def _check_credentials(self) -> None:
        """Make sure the Application Password logs in: WordPress treats a wrong one as anonymous."""
        user = _json(self._call("GET", "/wp/v2/users/me", params={"context": "edit", "_fields": "id,capabilities"},
                                ok=(200,)))
        if not (user.get("capabilities") or {}).get("edit_posts"):
            raise TargetError(f"WordPress user {self.config.username!r} at {display_url(self.site)} may not edit posts; "
                              f"target paused", pause=True, retry=False)
        self._authenticated = True

    def _url(self, route: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self._pretty is None:
            self._pretty = self._has_pretty_routes()
        if self._pretty:
            return f"{self.site}/wp-json{route}", params
        return f"{self.site}/", {"rest_route": route, **params}

    def _has_pretty_routes(self) -> bool:
        """Whether `/wp-json/` works (pretty permalinks); otherwise `?rest_route=` is used."""
        try:
            response = self.session.get(f"{self.site}/wp-json/wp/v2", allow_redirects=False,
                                        timeout=self.config.timeout.total_seconds())
            return response.status_code == 200 and response.json().get("namespace") == "wp/v2"
        except (requests.RequestException, ValueError):
            return False

    def _call(self, method: str, route: str, *, params: dict[str, Any] | None = None,
              ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> requests.Response:
        """One REST request; maps auth failures to a pause and overload/outage to a retry."""
        url, query = self._url(route, params or {})
        try:
            response = self.session.request(method, url, params=query, auth=(self.config.username, self._password()),
                                            timeout=self.config.timeout.total_seconds(), **kwargs)
        except requests.RequestException as exc:
            raise TargetError(f"WordPress at {display_url(self.site)} unreachable: "
                              f"{redact_url(str(exc), self.site)}") from exc
        if response.status_code in ok:
            return response
        detail = _error_detail(response)
        if response.status_code in (401, 403):
            self._authenticated = False
            raise TargetError(
                f"WordPress at {display_url(self.site)} refused user {self.config.username!r} (HTTP "
                f"{response.status_code}: {detail}); check the username and the Application Password "
                f"in {self.config.password_env}; target paused", pause=True, retry=False)
        if response.status_code == 429 or response.status_code >= 500:
            # The site is overloaded or down: the whole target waits (Retry-After, else a minute)
            # instead of trying every pending story in turn.
            after = response.headers.get("Retry-After")
            raise TargetError(f"WordPress {method} {route}: HTTP {response.status_code} ({detail})"
                              + (f", Retry-After {after}" if after else "") + "; target paused",
                              pause=True, retry_after=retry_after_seconds(after, default=OUTAGE_PAUSE))
        raise TargetError(f"WordPress {method} {route}: HTTP {response.status_code} ({detail})", retry=False)


def _json(response: requests.Response) -> Any:
    """The JSON body of a REST answer; a TargetError (retried) when it is something else."""
    try:
        return response.json()
    except ValueError as exc:
        raise TargetError(f"WordPress answered {response.request.method} {display_url(response.url)} with HTTP "
                          f"{response.status_code} but no JSON ({response.headers.get('Content-Type')}): is the "
                          f"REST API disabled, or behind a login or challenge page?") from exc


def _raw_content(post: dict[str, Any]) -> str:
    return (post.get("content") or {}).get("raw", "")


def _error_detail(response: requests.Response) -> str:
    try:
        data = response.json()
        return f"{data.get('code')}: {data.get('message')}"
    except ValueError:
        return response.text[:200].strip() or response.reason


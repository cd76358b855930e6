"""A syndication farm on the local test server: origin feeds, aggregators copying them, a webhook.

Origins publish articles round by round; every aggregator republishes the new articles of two
origins WPeMatico-style (its own GUID and permalink, the original's permalink in `source`,
the same text). Some rounds update an origin article's text (a new story revision). The
`/hook` route is an idempotent webhook receiver: it records every POST and applies each
`X-Feedrelay-Delivery` id once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from tests.support.server import LocalServer, Request, Response

WINDOW = 12  # items a feed document shows
BASE = datetime(2026, 11, 1, tzinfo=UTC)
WORDS = ["harbour", "ferry", "timetable", "winter", "storm", "council", "budget", "library", "bridge", "market", "river", "school", "station", "museum", "festival", "tram", "orchard", "lighthouse", "bakery", "archive", "garden"]


@dataclass
class Post:
    """One entry of one feed document."""

    guid: str
    link: str
    title: str
    text: str
    published: datetime
    source: str | None = None

    def html(self) -> str:
        """The body; a copy ends with the Yoast footer crediting the original permalink."""
        footer = (f'<p>The post <a href="{self.source}">{self.title}</a> appeared first on '
                  f'<a href="{self.source.rsplit("/", 2)[0]}/">Origin</a>.</p>') if self.source else ""
        return f"<p>{self.text}</p>{footer}"


@dataclass
class FeedDoc:
    """A feed's entries, newest last."""

    name: str
    posts: list[Post] = field(default_factory=list)

    def body(self) -> bytes:
        items = "".join(
            f"<item><title>{escape(p.title)}</title><link>{escape(p.link)}</link>"
            f"<guid isPermaLink=\"false\">{escape(p.guid)}</guid>"
            f"<pubDate>{format_datetime(p.published, usegmt=True)}</pubDate>"
            + f"<description>{escape(p.html())}</description></item>"
            for p in reversed(self.posts[-WINDOW:])
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{self.name}</title>'
                f"<link>https://{self.name}.example/</link><description>d</description>{items}"
                f"</channel></rss>").encode()


class Farm:
    """`origins` origin feeds and `aggregators` copying feeds served at `/feeds/<name>.xml`."""

    def __init__(self, server: LocalServer, *, origins: int, aggregators: int, seed: int = 7) -> None:
        self.server = server
        self.rng = random.Random(seed)
        self.round = 0
        self.origins = [FeedDoc(f"origin{i}") for i in range(origins)]
        self.aggregators = [FeedDoc(f"aggr{i}") for i in range(aggregators)]
        self.sources = {a.name: self.rng.sample(range(origins), 2) for a in self.aggregators}
        self.articles: dict[str, list[tuple[str, str]]] = {}  # article id → (feed, guid) of its copies
        self.lock = threading.Lock()
        self.hook_posts: list[tuple[str, int, int]] = []  # (delivery id, story id, revision)
        self.hook_applied: Counter[tuple[int, int]] = Counter()
        self.active = self.max_active = 0  # feed documents being served at once (now, at most)
        for doc in self.feeds:
            server.route(self.path(doc.name), lambda request, doc=doc: self._serve(doc))
        server.route("/hook", self._hook)

    @property
    def feeds(self) -> list[FeedDoc]:
        return self.origins + self.aggregators

    @staticmethod
    def path(name: str) -> str:
        return f"/feeds/{name}.xml"

    def _serve(self, doc: FeedDoc) -> Response:
        with self.lock:
            body = doc.body()
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(0.005)  # a little server time, so overlapping fetches are seen
        with self.lock:
            self.active -= 1
        return Response(200, body, {"Content-Type": "application/rss+xml; charset=utf-8"})

    def _hook(self, request: Request) -> Response:
        document = json.loads(request.body)
        key = (int(document["story_id"]), int(document["revision"]))
        delivery = request.headers.get("X-Feedrelay-Delivery", "")
        with self.lock:
            if delivery not in {d for d, _, _ in self.hook_posts}:
                self.hook_applied[key] += 1
            self.hook_posts.append((delivery, *key))
        return Response(200, b"ok")

    def advance(self, *, new_per_origin: int = 1, updates: int = 0) -> None:
        """The next round: new articles at every origin, copied by aggregators; some updates."""
        with self.lock:
            self.round += 1
            fresh: dict[int, list[Post]] = {}
            for i, origin in enumerate(self.origins):
                fresh[i] = []
                for k in range(new_per_origin):
                    number = len(origin.posts)
                    article = f"{origin.name}-{number}"
                    words = " ".join(self.rng.choice(WORDS) for _ in range(40))
                    post = Post(guid=f"{article}", link=f"https://{origin.name}.example/{number}/",
                                title=f"{origin.name} article {number}", text=f"{article}: {words}",
                                published=BASE + timedelta(hours=self.round, minutes=k))
                    origin.posts.append(post)
                    fresh[i].append(post)
                    self.articles[article] = [(origin.name, post.guid)]
            for aggregator in self.aggregators:
                for i in self.sources[aggregator.name]:
                    for post in fresh[i]:
                        n = len(aggregator.posts)
                        copy = Post(guid=f"{aggregator.name}?p={n}", link=f"https://{aggregator.name}.example/?p={n}",
                                    title=post.title, text=post.text, published=post.published,
                                    source=post.link)
                        aggregator.posts.append(copy)
                        self.articles[post.guid].append((aggregator.name, copy.guid))
            for _ in range(updates):
                origin = self.rng.choice(self.origins)
                post = self.rng.choice(origin.posts[-WINDOW:])
                post.text += f" Updated in round {self.round}."

    def requests_per_feed(self, since: int = 0) -> Counter[str]:
        """How often each feed document was requested, from request number `since` on."""
        with self.server._lock:
            log = list(self.server.requests[since:])
        return Counter(r.path for r in log if r.path.startswith("/feeds/"))

    def config(self, database: str, *, workers: int = 8, per_host: int = 8, lease: str = "3s",
               deadline: str = "20s", max_body: str = "15MiB", extra_feeds: dict[str, str] | None = None,
               extra_targets: str = "") -> str:
        """A config.yaml for the farm's feeds (and `extra_feeds`: name → URL) and its webhook."""
        feeds = "".join(
            f"  - name: {doc.name}\n    url: {self.server.url(self.path(doc.name))}\n"
            f"    priority: {10 if doc.name.startswith('origin') else 0}\n"
            for doc in self.feeds
        ) + "".join(f"  - name: {name}\n    url: {url}\n" for name, url in (extra_feeds or {}).items())
        return f"""\
database: {database}
http:
  allow_private_networks: true
  workers: {workers}
  per_host: {per_host}
  connect_timeout: 5s
  read_timeout: 10s
  deadline: {deadline}
  max_body: {max_body}
defaults:
  interval: 1h
  min_interval: 1h
dedup:
  representative: priority
  near_duplicates: false
worker:
  lease: {lease}
  delivery_lease: {lease}
log:
  level: INFO
feeds:
{feeds}targets:
  - name: hook
    type: webhook
    url: {self.server.url('/hook')}
    secret_env: FEEDRELAY_TEST_HOOK_SECRET
{extra_targets}"""

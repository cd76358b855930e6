"""The relay: one feed polled end to end (fetch → parse → clean → store), and one full pass.

This is glue: each stage lives in its own package and talks through `feedrelay.items` values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from feedrelay import __version__
from feedrelay.config import CleanConfig, Config, FeedConfig
from feedrelay.items import Item, utcnow
from feedrelay.metrics import record_poll, record_publish
from feedrelay.processes import PollPool, per_process_cap, process_count
from feedrelay.publishing import PublishReport, publish_pending
from feedrelay.quietpolls import QuietWriter, StoredState, quiet_values, read_state, read_states, write_quiet
from feedrelay.schedule import FeedHints, Policy, backoff_delay, next_check, normal_interval
from ingest.clean import CleanRules, Rewrite, clean_item, filter_reason
from ingest.fetch import Fetcher, FetchResult, FetchState, HttpSettings
from ingest.parse import ParsedFeed, ParseError, parse_feed
from ingest.wpapi import api_site, enrich
from publish.registry import build_targets, target_filter, target_veto
from store import models
from store.claim import (
    acquire_lease,
    claim_feeds,
    claim_named_feeds,
    deliveries_waiting,
    release_feed,
    release_feeds,
    release_owner,
    renew_feed_leases,
)
from store.db import open_database
from store.identity import digest, raw_hash
from store.neardup import NearDuplicates, analyse
from store.retention import prune
from store.retry import process_turn, retrying, run_transaction
from store.stories import StorePolicy, StoreReport, known_items, store_items

log = logging.getLogger("feedrelay.pipeline")
HOUSEKEEPING_LEASE = timedelta(minutes=50)
RETRY_FAILED_POLL = timedelta(minutes=1)
# The feed row a poll records into, locked for the store transaction (built once).
_FEED_FOR_UPDATE = select(models.Feed).where(models.Feed.name == bindparam("name")).with_for_update()
_FEED_IDENTITY = select(models.Feed.id, models.Feed.guid_mode).where(models.Feed.name == bindparam("name"))


@dataclass
class FeedOutcome:
    """What polling one feed did."""

    feed: str
    outcome: str
    error: str | None = None
    new: int = 0
    duplicates: int = 0
    updated: int = 0
    filtered: int = 0
    retracted: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the fetch's duration

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class PassReport:
    """One full pass over every enabled feed, then publishing."""

    feeds: list[FeedOutcome]
    published: PublishReport

    @property
    def failed(self) -> list[FeedOutcome]:
        return [f for f in self.feeds if not f.ok]

    @property
    def skipped(self) -> list[FeedOutcome]:
        """Feeds not polled because another worker was polling them."""
        return [f for f in self.feeds if f.outcome == "skipped"]


def http_settings(config: Config) -> HttpSettings:
    """The fetcher's settings from the `http` config section."""
    http = config.http
    return HttpSettings(
        user_agent=http.user_agent or f"feedrelay/{__version__} (+https://github.com/feedrelay/feedrelay)",
        connect_timeout=http.connect_timeout.total_seconds(),
        read_timeout=http.read_timeout.total_seconds(),
        deadline=http.deadline.total_seconds(),
        max_body=http.max_body,
        max_redirects=http.max_redirects,
        allow_private_networks=http.allow_private_networks,
        per_host=per_process_cap(process_count(config), http.per_host),
    )


class FeedRules(NamedTuple):
    """A feed's cleaning rules: their config text (which salts raw hashes), compiled, and a hash
    of the text (stored on the feed's row, see `Relay.sync_feeds`)."""

    text: str
    compiled: CleanRules
    digest: str


def clean_rules(clean: CleanConfig) -> CleanRules:
    """The cleaning stage's rules from a `clean` config section."""
    return CleanRules(
        remove=list(clean.remove),
        rewrite=[Rewrite(r.pattern, r.replace, r.field) for r in clean.rewrite],
        strip_links=clean.strip_links,
        images=clean.images,
        include=list(clean.include),
        exclude=list(clean.exclude),
        summary_chars=clean.summary_chars,
    )


def default_owner() -> str:
    """This process's worker id: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Relay:
    """A configured feedrelay: database, fetcher and targets, ready to poll and publish."""

    def __init__(self, config: Config, *, owner: str | None = None, sync: bool = True) -> None:
        """`sync`: bring the feed rows in line with the config (a worker process's parent did)."""
        self.config = config
        self.owner = owner or config.worker.id or default_owner()
        self.engine, self.sessions = open_database(config.database_url)
        self.fetcher = Fetcher(http_settings(config))
        self.targets = build_targets(config, self.fetcher)
        self.feeds = {f.name: f for f in config.feeds}
        self._claimable_names = frozenset(f.name for f in config.feeds if f.enabled)
        self._store_policy: StorePolicy | None = None
        self.clean_rules: dict[str, CleanRules] = {}  # by their config text
        self._feed_rules: dict[str, FeedRules] = {}  # by feed name
        self.rendered: set[str] = set()  # targets this Relay has flushed (their files are current)
        self.quiet = QuietWriter(self.sessions)
        self._polls: PollPool | None = None
        if sync:
            self.sync_feeds()

    @property
    def polls(self) -> PollPool:
        """The threads and worker processes that poll feeds (started when first needed)."""
        if self._polls is None:
            self._polls = PollPool(self)
        return self._polls

    def close(self) -> None:
        """Stop the worker processes; release the HTTP pool and database connections."""
        if self._polls is not None:
            self._polls.close()
        self.quiet.close()
        self.fetcher.close()
        self.engine.dispose()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- feeds ---------------------------------------------------------------------------------

    def sync_feeds(self) -> None:
        """Bring feed rows in line with the config: create rows for new feeds, replace a remembered
        URL when the configured one changed, and mark which feeds the config has and enables
        (`configured`: only those are claimed; a feed removed from the config keeps its row).

        Workers starting together race to insert the same rows: the loser's transaction is retried.
        """
        run_transaction(self.sessions, self._sync_feeds)

    def _sync_feeds(self, session: Session) -> None:
        # Plain rows in, bulk statements out: an ORM object per feed costs megabytes with many feeds.
        columns = (models.Feed.id, models.Feed.name, models.Feed.config_url, models.Feed.configured,
                   models.Feed.rules_hash)
        rows = {row.name: row for row in session.execute(select(*columns))}
        new: list[dict[str, object]] = []
        changed: list[dict[str, object]] = []  # by primary key, only the values that change
        refetched = []
        for feed in self.config.feeds:
            url = self.config.feed_url(feed)
            rules = self.rules_hash(feed)
            row = rows.pop(feed.name, None)
            if row is None:
                new.append({"name": feed.name, "url": url, "config_url": url, "enabled": True, "rules_hash": rules,
                            "configured": feed.enabled, "error_count": 0, "last_new_items": 0, "guid_mode": "guid"})
                continue
            readdressed = row.config_url != url  # polled at the new address from scratch
            change: dict[str, object] = {"url": url, "config_url": url, "moved_from": None, "enabled": True,
                                         "disabled_reason": None} if readdressed else {}
            new_rules = row.rules_hash not in (rules, None)  # None: synced before rules were recorded
            if new_rules:
                refetched.append(feed.name)
            if readdressed or new_rules:
                # Without its validators the next poll fetches the document in full (and cleans
                # and filters its items under the new rules: a 304 would keep them as the old
                # rules left them, e.g. held back by an `exclude` that is gone).
                change |= {"etag": None, "last_modified": None, "body_hash": None}
            if change or row.configured != feed.enabled or row.rules_hash != rules:
                changed.append({"id": row.id, **change, "configured": feed.enabled, "rules_hash": rules})
        if refetched:
            log.info("cleaning or filtering rules changed for %d feed(s); their next poll fetches them in full: %s%s",
                     len(refetched), ", ".join(refetched[:10]), " …" if len(refetched) > 10 else "")
        removed = sorted(name for name, row in rows.items() if row.configured)
        changed += [{"id": rows[name].id, "configured": False} for name in removed]
        if removed:  # the marker is shared: workers with different configs must hear of it
            log.warning("%d feed(s) not in this config are no longer polled by any worker: %s%s", len(removed),
                        ", ".join(removed[:10]), " …" if len(removed) > 10 else "")
        if new:
            session.execute(insert(models.Feed), new)
        if changed:
            session.execute(update(models.Feed), changed)

    def claim_due(self, limit: int) -> dict[str, StoredState]:
        """Lease up to `limit` due feeds of this config to this worker (see `store.claim`), with
        each one's state read in the same transaction: what `poll` needs, and the URL a moved feed
        now lives at, by which the daemon routes it.

        Polling a claimed feed releases its lease; a worker that dies loses it on expiry.
        """
        def claim(session: Session) -> dict[str, StoredState]:
            names = claim_feeds(session, self.owner, utcnow(), lease=self.config.worker.lease, limit=limit,
                                names=self._claimable_names, per_host=self.config.http.per_host)
            states = read_states(session, names) if names else {}
            return {name: states[name] for name in names}

        return run_transaction(self.sessions, claim)

    def release_leases(self) -> int:
        """Give back every lease this worker holds (on start with a fixed worker id, and on stop)."""
        return run_transaction(self.sessions, lambda session: release_owner(session, self.owner))

    def housekeeping(self) -> int:
        """Prune item content older than `dedup.retention`, keeping identity keys as tombstones.

        One worker at a time (a lease); returns how many items were pruned.
        """
        def work(session: Session) -> int:
            if not acquire_lease(session, "housekeeping", self.owner, utcnow(), HOUSEKEEPING_LEASE):
                return 0
            return prune(session, self.config.dedup.retention)

        return run_transaction(self.sessions, work)

    def enabled_feeds(self) -> list[str]:
        """Names of feeds enabled in the config and not disabled in the database (e.g. gone)."""
        with self.sessions() as session:
            disabled = set(session.scalars(select(models.Feed.name).where(models.Feed.enabled.is_(False))))
        return [f.name for f in self.config.feeds if f.enabled and f.name not in disabled]

    def poll(self, name: str, *, batch: bool = False, stored: StoredState | None = None) -> FeedOutcome:
        """Fetch one feed and store what it brought; errors are recorded on the feed, not raised.

        With `batch`, a poll that brought nothing is recorded by the group-committing QuietWriter;
        `stored` is the feed's state when the caller already read it.
        """
        feed = self.feeds[name]
        if stored is None:
            stored = run_transaction(self.sessions, lambda session: read_state(session, name))
        state = FetchState(url=stored.url, etag=stored.etag, last_modified=stored.last_modified,
                           body_hash=stored.body_hash, verify_tls=feed.verify_tls)
        result = self.fetcher.fetch(state)
        if result.outcome in ("not_modified", "unchanged") and result.url == state.url:
            return self._record_quiet(feed, stored, result, batch)
        parsed: ParsedFeed | None = None
        outcome = FeedOutcome(name, result.outcome, result.error, warnings=list(result.warnings))
        if result.outcome == "ok" and result.body is not None:
            try:
                parsed = parse_feed(result.body, feed_name=name, base_url=result.url,
                                    content_type=result.content_type)
                outcome.warnings += parsed.warnings
            except ParseError as exc:
                outcome.outcome, outcome.error = "error", str(exc)
        raw = parsed.items[: self.config.defaults.max_items] if parsed else []
        hashes = self.raw_hashes(feed, raw)  # as the feed gave them: the API's answer is not hashed
        site = api_site(feed.wordpress_api, result.url, parsed.link, result.api_root, result.body) if parsed else None
        known = self._known(name, raw, hashes)
        if site is not None and raw:  # only new or changed items are worth asking about
            outcome.warnings += enrich(self.fetcher, [item for i, item in enumerate(raw) if i not in known],
                                       mode=feed.wordpress_api, site_url=site, body=result.body,
                                       api_root=result.api_root)
        fetch_warnings = list(outcome.warnings)

        def store(session: Session) -> None:  # all or nothing, retried whole on conflicts
            row = session.scalars(_FEED_FOR_UPDATE, {"name": name}).one()
            outcome.new = outcome.duplicates = outcome.updated = outcome.filtered = outcome.retracted = 0
            outcome.warnings = list(fetch_warnings)
            if parsed is not None and (raw or parsed.deleted or feed.complete):
                stored = store_items(session, row, items, self.store_policy(session), reasons,
                                     deleted=parsed.deleted, raw_hashes=hashes, analysed=analysed,
                                     beyond=parsed.items[len(raw):] if feed.complete else ())
                _count(outcome, stored)
            self._record(row, feed, result, parsed, outcome)
            release_feed(session, row, self.owner)

        # One feed's cleaning and storing at a time in this process, as if in one transaction
        # (threads contending for the GIL in CPU-bound cleaning cost more than taking turns); the
        # cleaning and fingerprints come before the store transaction, so that other worker
        # processes can use the database meanwhile.
        with process_turn(self.sessions):
            items, reasons = self.clean_items(feed, raw, known)
            analysed = analyse([item.text for i, item in enumerate(items) if i not in known and not reasons[i]]) \
                if self.config.dedup.near_duplicates else {}
            run_transaction(self.sessions, store)
        outcome.seconds = result.elapsed
        record_poll(outcome)
        return outcome

    def _known(self, name: str, raw: list[Item], hashes: list[str]) -> dict[int, Item]:
        """The items of `raw` stored before exactly as they come now, by position (`known_items`):
        their clean values are reused, and the WordPress API is not asked about them. Read in this
        process's turn but in no transaction's: a value read a moment early is still the right one
        for its hash, so other worker processes need not wait."""
        def read() -> dict[int, Item]:
            with process_turn(self.sessions), self.sessions() as session:
                feed_id, guid_mode = session.execute(_FEED_IDENTITY, {"name": name}).one()
                return known_items(session, feed_id, raw, hashes, guid_mode)

        return retrying(read) if raw else {}

    def clean_items(self, feed: FeedConfig, raw: list[Item], known: dict[int, Item] | None = None
                    ) -> tuple[list[Item], list[str | None]]:
        """The feed's first `max_items` items cleaned, with each one's filter reason (or None).

        `known` maps positions of `raw` to their clean values already stored (`known_items`):
        those are taken as they are instead of being cleaned again.
        """
        rules = self._rules(feed).compiled
        known = known or {}
        items = [known[i] if i in known else clean_item(item, rules)
                 for i, item in enumerate(raw[: self.config.defaults.max_items])]
        return items, [filter_reason(item, rules) for item in items]

    def rules_hash(self, feed: FeedConfig) -> str:
        """A hash of the feed's cleaning and filtering rules (`sync_feeds` compares it with the
        one stored: a change makes the next poll fetch the document in full)."""
        return self._rules(feed).digest

    def raw_hashes(self, feed: FeedConfig, raw: list[Item]) -> list[str]:
        """Each item's hash before cleaning, salted with the feed's cleaning rules and this
        version of feedrelay (a change to either cleans every item again)."""
        salt = f"{__version__}\x1f{self._rules(feed).text}"
        return [raw_hash(item, salt) for item in raw]

    def _rules(self, feed: FeedConfig) -> FeedRules:
        """The feed's cleaning rules, worked out once per feed (a Relay's config never changes);
        feeds with the same rules share one compiled set (compiling the litter rules is costly)."""
        known = self._feed_rules.get(feed.name)
        if known is None:
            clean = self.config.feed_clean(feed)
            text = clean.model_dump_json()
            rules = self.clean_rules.get(text)
            if rules is None:
                rules = self.clean_rules[text] = clean_rules(clean)
            known = self._feed_rules[feed.name] = FeedRules(text, rules, digest(text))
        return known

    def store_policy(self, session: Session) -> StorePolicy:
        """How this config forms stories and who receives them; built once per Relay (feed rows
        exist from `sync_feeds` on, and the config of a Relay never changes)."""
        if self._store_policy is None:
            rows = {name: id_ for name, id_ in session.execute(select(models.Feed.name, models.Feed.id))}
            dedup = self.config.dedup
            self._store_policy = StorePolicy(
                targets={t.name: target_filter(t, self.config) for t in self.config.targets if t.enabled},
                selective=frozenset(t.name for t in self.config.targets if t.enabled and t.filters.selective),
                vetoes={t.name: veto for t in self.config.targets if t.enabled and (veto := target_veto(t))},
                representative=dedup.representative,
                priorities={rows[f.name]: f.priority for f in self.config.feeds if f.name in rows},
                near_duplicate=NearDuplicates(dedup.similarity) if dedup.near_duplicates else None,
                complete_feeds={rows[f.name] for f in self.config.feeds if f.complete and f.name in rows},
            )
        return self._store_policy

    def _record(self, row: models.Feed, feed: FeedConfig, result: FetchResult, parsed: ParsedFeed | None,
                outcome: FeedOutcome) -> None:
        now = utcnow()
        row.last_checked_at = now
        row.last_outcome = outcome.outcome
        row.last_http_status = result.http_status
        row.warnings = outcome.warnings or None
        if result.url != row.url:
            row.moved_from, row.url = row.url, result.url
        if outcome.outcome == "gone":
            row.enabled, row.disabled_reason = False, "gone"
        if outcome.error and outcome.outcome != "retry_later":
            row.error_count += 1
            row.last_error = outcome.error
        elif outcome.outcome != "retry_later":
            row.error_count, row.last_error, row.last_success_at = 0, None, now
            if row.rules_hash in (None, self.rules_hash(feed)):
                row.etag = result.etag or row.etag
                row.last_modified = result.last_modified or row.last_modified
                row.body_hash = result.body_hash or row.body_hash
            else:  # polled under rules since replaced (see `quietpolls`): the next poll fetches in full
                row.etag = row.last_modified = row.body_hash = None
            row.last_new_items = outcome.new
        if parsed is not None:
            row.title = parsed.title or row.title
            row.site_url = parsed.link or row.site_url
        row.next_check_at = self.next_check(feed, row, result, parsed, now)

    def _record_quiet(self, feed: FeedConfig, stored: StoredState, result: FetchResult,
                      batch: bool) -> FeedOutcome:
        """Record a poll that brought nothing with one Core UPDATE (see `feedrelay.quietpolls`)."""
        now = utcnow()
        due = next_check(now, self.schedule_policy(feed), result, interval=stored.interval_s)
        values = quiet_values(feed.name, self.owner, now, due, outcome=result.outcome, status=result.http_status,
                              warnings=result.warnings, etag=result.etag, last_modified=result.last_modified,
                              body_hash=result.body_hash, rules=self.rules_hash(feed))
        if batch:
            self.quiet.add(values)
        else:
            write_quiet(self.sessions, [values])
        outcome = FeedOutcome(feed.name, result.outcome, warnings=list(result.warnings), seconds=result.elapsed)
        record_poll(outcome)
        return outcome

    def schedule_policy(self, feed: FeedConfig) -> Policy:
        """The feed's schedule bounds (see `feedrelay.schedule`)."""
        defaults = self.config.defaults
        return Policy.widened(self.config.feed_interval(feed), defaults.min_interval, defaults.max_interval,
                              defaults.max_backoff)

    def next_check(self, feed: FeedConfig, row: models.Feed, result: FetchResult,
                   parsed: ParsedFeed | None, now: datetime) -> datetime:
        """When to poll this feed again (see `feedrelay.schedule`); remembers the adapted interval."""
        policy = self.schedule_policy(feed)
        if parsed is not None:
            hints = FeedHints.from_values(parsed.ttl_minutes, parsed.update_period, parsed.update_frequency,
                                          [item.date for item in parsed.items])
            row.interval_s = round(normal_interval(policy, hints, None))
        if row.last_outcome != result.outcome:  # e.g. fetched fine but the document did not parse
            result = dataclasses.replace(result, outcome="error" if row.error_count else row.last_outcome)
        return next_check(now, policy, result, error_count=row.error_count, interval=row.interval_s)

    # -- passes --------------------------------------------------------------------------------

    def poll_many(self, names: list[str], progress=None) -> list[FeedOutcome]:  # type: ignore[no-untyped-def]
        """Poll feeds concurrently on the HTTP worker pool; one feed's failure never stops others."""
        if not names:
            return []
        states = run_transaction(self.sessions, lambda session: read_states(session, names))
        outcomes = self.polls.map(names, states, progress)
        self.polls.flush()
        return outcomes

    def _poll_safely(self, name: str, stored: StoredState | None = None) -> FeedOutcome:
        try:
            return self.poll(name, batch=True, stored=stored)
        except Exception as exc:  # a bug or database fault must not stop the other feeds
            log.exception("feed %s: unexpected failure", name)
            self._give_back(name)
            outcome = FeedOutcome(name, "error", f"internal error: {type(exc).__name__}: {exc}")
            record_poll(outcome)
            return outcome

    def _give_back(self, name: str, error: str | None = None) -> None:
        """After a failed poll, release the feed's lease and try it again a minute later; with
        `error` (the worker process running the poll died: the feed may be what kills it), record
        the error and back off as after a failed fetch."""

        def give_back(session: Session) -> None:
            row = session.scalars(select(models.Feed).where(models.Feed.name == name)).one_or_none()
            if row is None or not release_feed(session, row, self.owner):
                return
            if error is None:
                row.next_check_at = utcnow() + RETRY_FAILED_POLL
                return
            row.error_count += 1
            row.last_outcome, row.last_error = "error", error
            delay = backoff_delay(self.schedule_policy(self.feeds[name]), row.error_count, random.Random())
            row.next_check_at = utcnow() + timedelta(seconds=delay)

        try:
            run_transaction(self.sessions, give_back)
        except Exception:  # the database is down: the lease expires by itself
            log.exception("feed %s: could not release its lease", name)

    def deliveries_waiting(self) -> bool:
        """True if any delivery is due and unleased, whichever worker stored it."""
        return run_transaction(self.sessions, lambda session: deliveries_waiting(session, utcnow()))

    def publish(self) -> PublishReport:
        """Deliver pending story revisions to every target."""
        report = publish_pending(self.sessions, self.targets, self.owner,
                                 lease=self.config.worker.delivery_lease, rendered=self.rendered)
        record_publish(report)
        return report

    def run_once(self, progress=None) -> PassReport:  # type: ignore[no-untyped-def]
        """Poll every enabled feed now, due or not, then publish.

        The feeds are leased to this process first, like a worker's, and the leases are renewed
        while the pass runs; a feed another worker holds a live lease on (it is polling it) is
        skipped and reported with outcome "skipped".
        """
        names = self.enabled_feeds()
        held = self.claim_feeds_now(names)
        skipped = {name: FeedOutcome(name, "skipped", warnings=[f"being polled by worker {held[name]}"])
                   for name in held}
        for outcome in skipped.values():
            if progress:
                progress(outcome)
        claimed = [name for name in names if name not in held]
        try:
            with self._renewing_feed_leases():
                polled = {outcome.feed: outcome for outcome in self.poll_many(claimed, progress)}
        finally:  # normally each poll released its feed; not after an interruption or a database fault
            self._release_feeds(claimed)
        return PassReport([skipped.get(name) or polled[name] for name in names], self.publish())

    def claim_feeds_now(self, names: list[str]) -> dict[str, str]:
        """Lease the feeds `names` to this process whether due or not; those another worker holds,
        with its id (see `store.claim.claim_named_feeds`)."""
        return run_transaction(self.sessions, lambda session: claim_named_feeds(
            session, self.owner, utcnow(), names, lease=self.config.worker.lease))

    @contextlib.contextmanager
    def _renewing_feed_leases(self) -> Iterator[None]:
        """Renew this process's feed leases every third of a lease while the block runs, so feeds
        still waiting for their turn in a long pass are not taken over by other workers."""
        lease = self.config.worker.lease
        done = threading.Event()

        def renew() -> None:
            while not done.wait(lease.total_seconds() / 3):
                try:
                    run_transaction(self.sessions, lambda session: renew_feed_leases(
                        session, self.owner, utcnow() + lease))
                except Exception:  # the database is down: the next renewal may get through
                    log.exception("could not renew this pass's feed leases")

        thread = threading.Thread(target=renew, name="lease-renewal", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _release_feeds(self, names: list[str]) -> None:
        try:
            run_transaction(self.sessions, lambda session: release_feeds(session, self.owner, names))
        except Exception:  # the database is down: the leases expire by themselves
            log.exception("could not release this pass's feed leases")


def _count(outcome: FeedOutcome, stored: StoreReport) -> None:
    outcome.new += stored.new
    outcome.duplicates += stored.duplicates
    outcome.updated += stored.updated
    outcome.filtered += stored.filtered
    outcome.retracted += stored.retracted
    outcome.warnings += stored.warnings

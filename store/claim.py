"""Work claiming between workers that share one database: feeds, named singleton leases.

A worker claims a due feed by writing a lease (owner, expiry) on its row in a short transaction;
finishing the poll clears the lease, and a worker that dies loses its leases when they expire.
On PostgreSQL, candidate rows are read with `FOR UPDATE SKIP LOCKED` and claiming is serialized
by a transaction-scoped advisory lock, so the per-host politeness cap holds across every worker.
On SQLite every transaction of every process takes its turn on one lock (`store.retry`), so
there the same queries run without locks: `lock_rows` and `_serialize_claims` are the only places
the backends differ.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Row, Select, or_, select, text, update
from sqlalchemy.orm import Session

from store import models
from store.upsert import insert_ignore

S = TypeVar("S", bound=Select[Any])

# The key of the PostgreSQL advisory lock that serializes feed claims (any fixed 64-bit number).
CLAIM_LOCK_KEY = 0x66656564_72656C61  # "feedrela"
# A released singleton lease: expired, so anyone may take it.
EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


def is_postgres(session: Session) -> bool:
    """True when the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def lock_rows(query: S, session: Session) -> S:
    """`query` with `FOR UPDATE SKIP LOCKED` on PostgreSQL; unchanged on SQLite (transactions take turns)."""
    return query.with_for_update(skip_locked=True) if is_postgres(session) else query


def _serialize_claims(session: Session) -> None:
    """On PostgreSQL, wait for other workers' claim transactions (held until commit)."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})


def host_of(url: str) -> str:
    """The host name a feed URL points at (lower case); '' for local files."""
    return (urlsplit(url).hostname or "").lower()


def _claimable(now: datetime) -> Any:
    return or_(models.Feed.lease_until.is_(None), models.Feed.lease_until < now)


def claim_feeds(session: Session, owner: str, now: datetime, *, lease: timedelta, limit: int,
                names: AbstractSet[str] | None = None, per_host: int | None = None) -> list[str]:
    """Lease up to `limit` due, enabled, configured feeds to `owner`; return their names (caller commits).

    A feed is due when its next check time has come and nobody holds a live lease on it; it is
    configured when the last `Relay.sync_feeds` found it enabled in the config. `names`, if given,
    restricts claiming to the feeds this worker's config knows (checked on the rows read: the
    configured marker already keeps other feeds out unless workers' configs disagree). With
    `per_host`, no host gets more feeds under live lease (being fetched by any worker) than that.
    """
    if limit <= 0:
        return []
    _serialize_claims(session)
    # With a per-host cap, look further than `limit` rows (busy hosts' feeds are passed over),
    # but not at every due feed: the rows read are locked until the claim commits.
    window = limit if per_host is None else max(limit * 50, 500)
    busy = _busy_hosts(session, now) if per_host is not None else Counter[str]()
    claimed: list[str] = []
    for feed_id, name, url in _candidates(session, now, window):
        if names is not None and name not in names:
            continue
        host = host_of(url)
        if per_host is not None and host and busy[host] >= per_host:
            continue
        if not _take(session, feed_id, owner, now, lease):
            continue
        busy[host] += 1
        claimed.append(name)
        if len(claimed) >= limit:
            break
    return claimed


def claim_named_feeds(session: Session, owner: str, now: datetime, names: list[str], *,
                      lease: timedelta, chunk: int = 500) -> dict[str, str]:
    """Lease the feeds `names` to `owner` whether they are due or not (a pass that polls everything
    now); return the ones left out, each with the owner of the live lease that keeps it (another
    worker is polling it). The caller commits."""
    _serialize_claims(session)
    feed = models.Feed
    claimed: set[str] = set()
    for start in range(0, len(names), chunk):
        part = names[start:start + chunk]
        claimed.update(session.scalars(
            update(feed).where(feed.name.in_(part), _claimable(now))
            .values(lease_owner=owner, lease_until=now + lease).returning(feed.name)
            .execution_options(synchronize_session=False)))
    held = [name for name in names if name not in claimed]
    holders: dict[str, str] = {}
    for start in range(0, len(held), chunk):
        holders.update(session.execute(select(feed.name, feed.lease_owner)
                                       .where(feed.name.in_(held[start:start + chunk]))).all())
    return {name: holders.get(name) or "unknown" for name in held}


def renew_feed_leases(session: Session, owner: str, until: datetime) -> int:
    """Extend every feed lease `owner` holds to `until` (a long pass keeps the feeds it has not
    polled yet); how many. The caller commits."""
    return session.execute(
        update(models.Feed).where(models.Feed.lease_owner == owner).values(lease_until=until)
        .execution_options(synchronize_session=False)
    ).rowcount


def release_feeds(session: Session, owner: str, names: list[str], chunk: int = 500) -> int:
    """Clear `owner`'s leases on the feeds `names` (those a pass claimed and did not poll); how
    many. The caller commits."""
    released = 0
    for start in range(0, len(names), chunk):
        released += session.execute(
            update(models.Feed)
            .where(models.Feed.name.in_(names[start:start + chunk]), models.Feed.lease_owner == owner)
            .values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False)
        ).rowcount
    return released


def _candidates(session: Session, now: datetime, window: int) -> Iterator[Row[tuple[int, str, str]]]:
    """Up to `window` due, claimable feeds (id, name, URL), never-checked ones first (by id), then
    by due time: two index range reads (the second only if asked for) instead of sorting every
    due feed. Each read locks its rows on PostgreSQL."""
    feed = models.Feed
    claimable = select(feed.id, feed.name, feed.url).where(
        feed.enabled.is_(True), feed.configured.is_(True), _claimable(now))
    never_checked = claimable.where(feed.next_check_at.is_(None)).order_by(feed.id).limit(window)
    rows = session.execute(lock_rows(never_checked, session)).all()
    yield from rows
    if len(rows) < window:
        due = (claimable.where(feed.next_check_at <= now).order_by(feed.next_check_at, feed.id)
               .limit(window - len(rows)))
        yield from session.execute(lock_rows(due, session)).all()


def _take(session: Session, feed_id: int, owner: str, now: datetime, lease: timedelta) -> bool:
    """Compare-and-set the lease: only if still unleased (always, under PostgreSQL's row lock;
    on SQLite a concurrent writer makes this fail with 'database is locked', and we retry)."""
    taken = session.execute(
        update(models.Feed).where(models.Feed.id == feed_id, _claimable(now))
        .values(lease_owner=owner, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def _busy_hosts(session: Session, now: datetime) -> Counter[str]:
    """How many feeds of each host are under a live lease (being polled somewhere); the
    `lease_until` index reaches just those rows."""
    urls = session.scalars(select(models.Feed.url).where(models.Feed.lease_until >= now))
    return Counter(host_of(url) for url in urls)


def release_feed(session: Session, feed: models.Feed, owner: str) -> bool:
    """Clear `owner`'s lease on a feed row; False if the lease had passed to another worker."""
    if feed.lease_owner != owner:
        return False
    feed.lease_owner = feed.lease_until = None
    return True


def release_owner(session: Session, owner: str) -> int:
    """Give back every lease `owner` holds (a restarted worker with a fixed id); rows released."""
    released = 0
    for model in (models.Feed, models.Delivery):
        released += session.execute(
            update(model).where(model.lease_owner == owner).values(lease_owner=None, lease_until=None)
        ).rowcount
    released += session.execute(
        update(models.Lease).where(models.Lease.owner == owner).values(owner="", until=EXPIRED)
    ).rowcount
    return released


def acquire_lease(session: Session, name: str, owner: str, now: datetime, duration: timedelta) -> bool:
    """Take or renew the singleton lease `name` for `duration`; False if another owner holds it.

    Taking is one atomic statement on both backends: insert the row, or update it where it is
    ours or has expired. The caller commits.
    """
    until = now + duration
    if insert_ignore(session, models.Lease, {"name": name, "owner": owner, "until": until}, ("name",)):
        return True
    taken = session.execute(
        update(models.Lease)
        .where(models.Lease.name == name, or_(models.Lease.owner == owner, models.Lease.until < now))
        .values(owner=owner, until=until)
    )
    return taken.rowcount == 1


def release_lease(session: Session, name: str, owner: str) -> None:
    """Give up the singleton lease `name` if `owner` holds it (the caller commits)."""
    session.execute(
        update(models.Lease)
        .where(models.Lease.name == name, models.Lease.owner == owner)
        .values(owner="", until=EXPIRED)
    )


def deliveries_waiting(session: Session, now: datetime) -> bool:
    """True if some delivery is due and unleased (new work, or a dead worker's after expiry)."""
    return session.scalar(
        select(models.Delivery.id).where(
            models.Delivery.state == "pending",
            models.Delivery.next_attempt_at <= now,
            or_(models.Delivery.lease_until.is_(None), models.Delivery.lease_until < now),
        ).limit(1)
    ) is not None


def record_time(session: Session, name: str, owner: str, when: datetime) -> None:
    """Remember a moment under `name` in the leases table (e.g. when a render started)."""
    if not insert_ignore(session, models.Lease, {"name": name, "owner": owner, "until": when}, ("name",)):
        session.execute(update(models.Lease).where(models.Lease.name == name).values(owner=owner, until=when))


def recorded_time(session: Session, name: str) -> datetime | None:
    """The moment last remembered under `name`, if any."""
    return session.scalar(select(models.Lease.until).where(models.Lease.name == name))

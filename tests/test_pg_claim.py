"""Claiming feeds and singleton leases, and transaction retries, on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from feedrelay.items import utcnow
from store import models
from store.claim import acquire_lease, claim_feeds, release_feed, release_lease, release_owner
from store.db import open_database
from store.retry import run_transaction
from tests.support.postgres import pg_url, terminate_backends  # noqa: F401

LEASE = timedelta(minutes=5)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path) -> Iterator[sessionmaker[Session]]:  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path}/c.db"
    engine, factory = open_database(url)
    with factory.begin() as session:  # the module's PostgreSQL database is shared: start empty
        for model in (models.Lease, models.Feed):
            session.execute(model.__table__.delete())
    yield factory
    engine.dispose()


def add_feeds(sessions: sessionmaker[Session], hosts: dict[str, int]) -> None:
    with sessions.begin() as session:
        for host, count in hosts.items():
            for i in range(count):
                url = f"http://{host}/feed{i}.xml"
                session.add(models.Feed(name=f"{host}-{i}", url=url, config_url=url, enabled=True,
                                        error_count=0, last_new_items=0, guid_mode="guid"))


def claim(sessions: sessionmaker[Session], owner: str, limit: int = 100, **kw) -> list[str]:  # type: ignore[no-untyped-def]
    return run_transaction(sessions, lambda s: claim_feeds(s, owner, utcnow(), lease=LEASE, limit=limit, **kw))


def test_each_due_feed_goes_to_one_worker(sessions: sessionmaker[Session]) -> None:
    add_feeds(sessions, {"a.example": 30})
    first = claim(sessions, "w1", limit=10)
    second = claim(sessions, "w2", limit=100)
    assert len(first) == 10 and len(second) == 20
    assert not set(first) & set(second)
    assert claim(sessions, "w3") == []


def test_concurrent_claims_never_overlap(sessions: sessionmaker[Session]) -> None:
    add_feeds(sessions, {"a.example": 60, "b.example": 60})
    results: dict[str, list[str]] = {}

    def worker(owner: str) -> None:
        got: list[str] = []
        while batch := claim(sessions, owner, limit=7):
            got += batch
        results[owner] = got

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [name for names in results.values() for name in names]
    assert len(claimed) == 120 and len(set(claimed)) == 120


def test_per_host_cap_holds_across_workers(sessions: sessionmaker[Session]) -> None:
    add_feeds(sessions, {"a.example": 10, "b.example": 10})
    first = claim(sessions, "w1", per_host=2)
    assert sorted(n.split("-")[0] for n in first) == ["a.example"] * 2 + ["b.example"] * 2
    assert claim(sessions, "w2", per_host=2) == []
    with sessions.begin() as session:
        row = session.scalars(select(models.Feed).where(models.Feed.name == first[0])).one()
        assert release_feed(session, row, "w1")
        row.next_check_at = utcnow() + timedelta(hours=1)
    second = claim(sessions, "w2", per_host=2)
    assert len(second) == 1 and second[0].split("-")[0] == first[0].split("-")[0]


def test_only_configured_names_and_due_feeds_are_claimed(sessions: sessionmaker[Session]) -> None:
    add_feeds(sessions, {"a.example": 4})
    with sessions.begin() as session:
        session.execute(update(models.Feed).where(models.Feed.name == "a.example-0")
                        .values(next_check_at=utcnow() + timedelta(hours=1)))
        session.execute(update(models.Feed).where(models.Feed.name == "a.example-1").values(enabled=False))
    assert claim(sessions, "w1", names={"a.example-0", "a.example-1", "a.example-2"}) == ["a.example-2"]


def test_a_dead_workers_leases_expire_or_are_released_on_restart(sessions: sessionmaker[Session]) -> None:
    add_feeds(sessions, {"a.example": 3})
    assert len(claim(sessions, "dead")) == 3
    with sessions.begin() as session:
        session.execute(update(models.Feed).where(models.Feed.name == "a.example-0")
                        .values(lease_until=utcnow() - timedelta(seconds=1)))
    assert claim(sessions, "w2") == ["a.example-0"]
    with sessions.begin() as session:
        assert release_owner(session, "dead") == 2
    assert sorted(claim(sessions, "dead")) == ["a.example-1", "a.example-2"]


def test_singleton_lease_has_one_owner(sessions: sessionmaker[Session]) -> None:
    def take(owner: str, duration: timedelta = LEASE) -> bool:
        return run_transaction(sessions, lambda s: acquire_lease(s, "render:out", owner, utcnow(), duration))

    assert take("w1") and take("w1")  # renewing is taking again
    assert not take("w2")
    run_transaction(sessions, lambda s: release_lease(s, "render:out", "w1"))
    assert take("w2")
    assert not take("w1")
    with sessions.begin() as session:
        session.execute(update(models.Lease).values(until=utcnow() - timedelta(seconds=1)))
    assert take("w1")


def test_concurrent_singleton_takers_get_one_winner(sessions: sessionmaker[Session]) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(4)

    def taker(owner: str) -> None:
        barrier.wait()
        if run_transaction(sessions, lambda s: acquire_lease(s, "housekeeping", owner, utcnow(), LEASE)):
            winners.append(owner)

    threads = [threading.Thread(target=taker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_transaction_retried_after_its_connection_is_killed(pg_url: str) -> None:  # noqa: F811
    engine, factory = open_database(pg_url)
    attempts: list[int] = []

    def work(session: Session) -> int:
        attempts.append(1)
        session.add(models.Lease(name=f"retry-{len(attempts)}", owner="w", until=utcnow()))
        session.flush()
        if len(attempts) == 1:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return session.execute(text("SELECT 1")).scalar_one()

    try:
        assert run_transaction(factory, work) == 1
        assert len(attempts) == 2
        with factory() as session:  # the first, half-done attempt left nothing behind
            names = set(session.scalars(select(models.Lease.name).where(models.Lease.name.like("retry-%"))))
        assert names == {"retry-2"}
    finally:
        engine.dispose()


def test_deadlock_is_retried_not_half_applied(pg_url: str) -> None:  # noqa: F811
    engine, factory = open_database(pg_url)
    with factory.begin() as session:
        session.execute(models.Lease.__table__.delete())
        session.add_all([models.Lease(name=n, owner="", until=utcnow()) for n in ("x", "y")])
    barrier = threading.Barrier(2)
    attempts: list[str] = []

    def swap(first: str, second: str, owner: str):  # type: ignore[no-untyped-def]
        def work(session: Session) -> None:
            attempts.append(owner)
            session.execute(update(models.Lease).where(models.Lease.name == first).values(owner=owner))
            if attempts.count(owner) == 1:
                barrier.wait(timeout=10)
            session.execute(update(models.Lease).where(models.Lease.name == second).values(owner=owner))
        return lambda: run_transaction(factory, work)

    threads = [threading.Thread(target=swap("x", "y", "a")), threading.Thread(target=swap("y", "x", "b"))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(attempts) == 3  # one of the two was chosen as the deadlock victim and ran again
        with factory() as session:
            owners = set(session.scalars(select(models.Lease.owner).where(models.Lease.name.in_(["x", "y"]))))
        assert len(owners) == 1  # both rows from one whole transaction, never a mix
    finally:
        engine.dispose()
